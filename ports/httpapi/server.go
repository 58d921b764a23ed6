package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/telemetry"
)

// Reads are the queries behind the GET endpoints.
type Reads interface {
	Asset(ctx context.Context, accountID, id string) (projections.AssetView, error)
	ListAssets(ctx context.Context, accountID string, page projections.Page) ([]projections.AssetView, string, error)
	Cut(ctx context.Context, accountID, id string) (projections.CutView, error)
	ListCuts(ctx context.Context, accountID, assetID string, page projections.Page) ([]projections.CutView, string, error)
}

// Waiter tells when the read model reflects a write (read your writes).
type Waiter interface {
	WaitFor(ctx context.Context, streamID string, version int64) (bool, error)
	// WaitForAppended is WaitFor for a version the caller appended just now.
	WaitForAppended(ctx context.Context, streamID string, version int64) (bool, error)
}

// Blobs stores uploaded media; every blob.Store implements it.
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (int64, error)
	Delete(ctx context.Context, key string) error
}

// LedgerEntry is one line of an account's credit ledger.
type LedgerEntry struct {
	ID        string
	Seconds   int64
	Reason    string
	AssetID   string
	CreatedAt time.Time
}

// CreditsReader reads an account's balance and recent ledger entries.
type CreditsReader func(ctx context.Context, accountID string, recent int) (int64, []LedgerEntry, error)

// Commands are the write-side handlers the API calls.
type Commands struct {
	CreateAsset   *commands.CreateAssetHandler
	UploadPart    *commands.UploadAssetPartHandler
	RequestCut    *commands.RequestCutHandler
	RequestRender *commands.RequestRenderHandler
	CancelRender  *commands.CancelRenderHandler
	DeleteAsset   *commands.DeleteAssetHandler
}

// Config is the API's wiring; New checks it once.
type Config struct {
	Log       *slog.Logger
	Auth      Authenticator
	APIKeys   APIKeys
	Commands  Commands
	Reads     Reads
	Renders   RenderReads
	Waiter    Waiter
	Blobs     Blobs
	Credits   CreditsReader
	Readiness map[string]Check
	// DownloadURLs mints download URLs; Downloads serves them (unauthenticated:
	// the token is the credential).
	DownloadURLs DownloadURLs
	Downloads    http.Handler
	NewBlobKey   func(assetID, part string) string
	// MaxJSONBytes bounds JSON bodies, MaxUploadBytes uploaded media.
	MaxJSONBytes, MaxUploadBytes int64
	// StorageQuota is the bytes an account may store (0: no limit), for
	// the messages of refused uploads; the commands enforce it.
	StorageQuota int64
	// ReadYourWrites bounds the wait for the read model after a write.
	ReadYourWrites time.Duration
	Timeouts       Timeouts
	Webhooks       WebhookConfig
	// Limits are the rate limits; the zero value limits nothing.
	Limits Limits
	// Resumable is the store of the tus endpoint, /v1/uploads (nil: it
	// answers 404).
	Resumable *Resumable
	// Unavailable tells a dependency that cannot answer now (the database
	// restarting) from a bug, for the errors the handlers return: the
	// first is answered 503 service_unavailable, the second 500 (the
	// database adapter's classifier, postgres.IsUnavailable).
	Unavailable func(error) bool
}

type server struct {
	Config
	tus *tusEndpoint // nil without Config.Resumable
}

// New returns the API's handler.
func New(cfg Config) (http.Handler, error) {
	c := cfg.Commands
	if cfg.Log == nil || cfg.Auth == nil || cfg.APIKeys == nil || cfg.Reads == nil || cfg.Waiter == nil || cfg.Blobs == nil || cfg.Credits == nil ||
		cfg.NewBlobKey == nil || c.CreateAsset == nil || c.UploadPart == nil || c.RequestCut == nil ||
		c.RequestRender == nil || c.CancelRender == nil || c.DeleteAsset == nil || cfg.Renders == nil || cfg.DownloadURLs == nil || cfg.Downloads == nil || cfg.Unavailable == nil {
		return nil, errors.New("httpapi: incomplete configuration")
	}
	if wh := cfg.Webhooks; wh.Store == nil || wh.CheckURL == nil || wh.NewSecret == nil || wh.NewID == nil || wh.Now == nil || wh.RotationGrace <= 0 ||
		wh.MaxEndpoints < 1 || wh.MaxRedeliveries < 0 {
		return nil, errors.New("httpapi: incomplete webhook configuration")
	}
	if cfg.MaxJSONBytes <= 0 || cfg.MaxUploadBytes <= 0 || cfg.ReadYourWrites <= 0 || !cfg.Timeouts.valid() {
		return nil, errors.New("httpapi: limits, timeouts and the read-your-writes bound must be positive")
	}
	s := &server{Config: cfg}
	if cfg.Resumable != nil {
		t, err := s.newTusEndpoint(cfg.Resumable)
		if err != nil {
			return nil, err
		}
		s.tus = t
	}
	r := NewRouter(cfg.Readiness, cfg.Log)
	r.NotFoundHandler = s.handle(func(http.ResponseWriter, *http.Request) error { return errNotFound })
	r.MethodNotAllowedHandler = s.handle(func(w http.ResponseWriter, req *http.Request) error {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		return errMethod
	})

	// The /v1 routes sit on the root router with their full paths, each
	// behind auth: inside a PathPrefix subrouter gorilla/mux v1.8.1 loses a
	// method mismatch and answers 404 instead of 405 (gorilla/mux#751).
	// gorilla/mux tries them in order, so the renders, which clients poll,
	// come first. A route's class names the rate limit it spends from
	// (ratelimit.go); its kind picks its connection deadlines (timeouts.go).
	routes := []struct {
		method, path string
		class        routeClass
		h            func(http.ResponseWriter, *http.Request) error
		kind         routeKind
	}{
		{http.MethodPost, "/renders", classWrites, s.requestRender, jsonRoute},
		{http.MethodGet, "/renders", classReads, s.listRenders, jsonRoute},
		{http.MethodGet, "/renders/{id}", classReads, s.getRender, jsonRoute},
		{http.MethodDelete, "/renders/{id}", classWrites, s.cancelRender, jsonRoute},
		{http.MethodGet, "/renders/{id}/events", classReads, s.renderEvents, jsonRoute},
		{http.MethodPost, "/assets", classWrites, s.createAsset, jsonRoute},
		{http.MethodGet, "/assets", classReads, s.listAssets, jsonRoute},
		{http.MethodGet, "/assets/{id}", classReads, s.getAsset, jsonRoute},
		{http.MethodDelete, "/assets/{id}", classWrites, s.deleteAsset, jsonRoute},
		{http.MethodPut, "/assets/{id}/source", classUploads, s.uploadPart("source"), uploadRoute},
		{http.MethodPut, "/assets/{id}/audio", classUploads, s.uploadPart("audio"), uploadRoute},
		{http.MethodPost, "/uploads", classUploads, s.createUpload, uploadRoute},
		{http.MethodOptions, "/uploads", classUploads, s.uploadOptions, jsonRoute},
		{http.MethodHead, "/uploads/{id}", classUploads, s.headUpload, jsonRoute},
		{http.MethodPatch, "/uploads/{id}", classUploads, s.patchUpload, uploadRoute},
		{http.MethodDelete, "/uploads/{id}", classUploads, s.deleteUpload, jsonRoute},
		{http.MethodPost, "/assets/{id}/cuts", classWrites, s.requestCut, jsonRoute},
		{http.MethodGet, "/assets/{id}/cuts", classReads, s.listCuts, jsonRoute},
		{http.MethodGet, "/cuts/{id}", classReads, s.getCut, jsonRoute},
		{http.MethodGet, "/credits", classReads, s.getCredits, jsonRoute},
		{http.MethodPost, "/api-keys", classWrites, s.createAPIKey, jsonRoute},
		{http.MethodGet, "/api-keys", classReads, s.listAPIKeys, jsonRoute},
		{http.MethodDelete, "/api-keys/{id}", classWrites, s.revokeAPIKey, jsonRoute},
		{http.MethodPost, "/webhook-endpoints", classWrites, s.createWebhookEndpoint, jsonRoute},
		{http.MethodGet, "/webhook-endpoints", classReads, s.listWebhookEndpoints, jsonRoute},
		{http.MethodGet, "/webhook-endpoints/{id}", classReads, s.getWebhookEndpoint, jsonRoute},
		{http.MethodDelete, "/webhook-endpoints/{id}", classWrites, s.deleteWebhookEndpoint, jsonRoute},
		{http.MethodPost, "/webhook-endpoints/{id}/rotate-secret", classWrites, s.rotateWebhookSecret, jsonRoute},
		{http.MethodGet, "/webhook-endpoints/{id}/deliveries", classReads, s.listWebhookDeliveries, jsonRoute},
		{http.MethodPost, "/webhook-deliveries/{id}/redeliver", classRedeliver, s.redeliverWebhook, jsonRoute},
	}
	g := &gate{auth: cfg.Auth, limits: newLimits(cfg.Limits), log: cfg.Log}
	for _, rt := range routes {
		r.Handle("/v1"+rt.path, s.withDeadlines(rt.kind, g.route(rt.class, s.handle(checkIDs(rt.path, rt.h))))).Methods(rt.method)
	}
	r.Handle("/v1/downloads/{token}", s.withDeadlines(downloadRoute, g.anonymous(cfg.Downloads))).Methods(http.MethodGet, http.MethodHead)
	r.Use(recordRoute)
	return withRequestID(withMetrics(withLogging(cfg.Log, withTracing(r)))), nil
}

// handle adapts an error-returning handler: every error goes through
// writeError, the API's one mapping to HTTP, an outage marked as such
// (outage).
func (s *server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.Log, outage(r, s.Unavailable, err))
		}
	})
}

func caller(r *http.Request) commands.Caller {
	return commands.Caller{AccountID: accountID(r.Context()), CorrelationID: requestID(r.Context())}
}

// afterWrite waits, bounded, until the read model reflects written, so the
// response (and any GET after it) shows the write. On timeout the write
// stands and the response says so in a header.
func (s *server) afterWrite(w http.ResponseWriter, r *http.Request, written commands.Written) {
	ctx, cancel := context.WithTimeout(r.Context(), s.ReadYourWrites)
	defer cancel()
	wait := s.Waiter.WaitFor
	if len(written.Events) > 0 {
		wait = s.Waiter.WaitForAppended
	}
	reached, err := wait(ctx, written.StreamID, written.Version)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.Log.WarnContext(r.Context(), "read-your-writes wait failed", "error", err, "stream_id", written.StreamID)
	}
	if !reached {
		w.Header().Set("Renderd-Read-Your-Writes", "timeout")
		telemetry.ReadYourWritesTimeouts.Inc()
		s.Log.WarnContext(r.Context(), "read model lagging behind a write", "stream_id", written.StreamID,
			"version", written.Version, "correlation_id", requestID(r.Context()))
	}
}

// allowedMethods lists the methods the router serves on the request's path,
// for the Allow header of a 405 (RFC 9110 §15.5.6).
func allowedMethods(r *mux.Router, req *http.Request) []string {
	var out []string
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		var m mux.RouteMatch
		if route.Match(req, &m) || errors.Is(m.MatchErr, mux.ErrMethodMismatch) {
			methods, _ := route.GetMethods()
			out = append(out, methods...)
		}
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out)
}
