package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// Resumable uploads (docs/architecture.md, "Resumable uploads") speak the tus
// protocol 1.0 with its creation, termination and expiration extensions,
// through tusd's handler: every tus client works. renderd adds what PUT
// /v1/assets/{id}/{part} decides before a byte is stored (the asset, the
// part's state, the account's storage: commands.UploadAssetPartHandler's
// Reserve), holds the part for the upload's lifetime, and records the part
// when the last byte arrives (Handle, which queues its probe), as a PUT
// does. Until then the bytes stay in tusd's store, never a blob.

// Resumable is where tus uploads keep their bytes until they are complete
// (blob.OpenResumable), and for how long an upload may be resumed.
type Resumable struct {
	// Compose puts a tusd store with termination and a locker in a
	// composer; Store is that store.
	Compose func(*tusd.StoreComposer)
	Store   tusd.DataStore
	// List lists the ids of the uploads in the store (SweepUploads).
	List func(ctx context.Context) ([]string, error)
	// Lifetime is how long after its creation an upload may be resumed
	// (Upload-Expires); SweepUploads removes it after.
	Lifetime time.Duration

	// kept holds the ids of the complete uploads this process could not
	// record for an outage (finishUpload), for SweepUploads to record.
	// Only those: an upload complete but not kept may be in the middle of
	// its last PATCH's recording, which a second recording would undo.
	kept sync.Map
}

// The Upload-Metadata keys a client sets, and those renderd sets on the
// upload (a client's own values for them are replaced).
const (
	metaAsset   = "asset_id"
	metaPart    = "part"
	metaAccount = "renderd_account"
	metaBlobKey = "renderd_blob_key"
	metaExpires = "renderd_expires"
)

// uploadsPath is the creation URL; an upload's URL is it, a slash and its id.
const uploadsPath = "/v1/uploads"

// tusExtensions are the extensions renderd offers: tusd's creation-defer-
// length and concatenation are off (an upload's length decides its
// reservation; a part is one upload).
const tusExtensions = "creation,creation-with-upload,termination,expiration"

type tusEndpoint struct {
	h         *tusd.UnroutedHandler
	store     tusd.DataStore
	list      func(context.Context) ([]string, error)
	lifetime  time.Duration
	resumable *Resumable
}

// newTusEndpoint builds the tusd handler with renderd's hooks.
func (s *server) newTusEndpoint(r *Resumable) (*tusEndpoint, error) {
	if r.Compose == nil || r.Store == nil || r.List == nil || r.Lifetime <= 0 {
		return nil, errors.New("httpapi: incomplete resumable upload configuration")
	}
	composer := tusd.NewStoreComposer()
	r.Compose(composer)
	if !composer.UsesTerminater || !composer.UsesLocker {
		return nil, errors.New("httpapi: the resumable upload store must terminate and lock uploads")
	}
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:        composer,
		BasePath:             uploadsPath + "/",
		MaxSize:              s.MaxUploadBytes,
		DisableDownload:      true,
		DisableConcatenation: true,
		Cors:                 &tusd.CorsConfig{Disable: true},
		// tusd logs every request at Info; renderd's access log has them.
		Logger:                     xslog.New(xslog.NewTextHandler(tusLog{s.Log}, &xslog.HandlerOptions{Level: xslog.LevelWarn})),
		PreUploadCreateCallback:    s.reserveResumable,
		PreFinishResponseCallback:  s.finishResumable,
		PreUploadTerminateCallback: s.terminateResumable,
	})
	if err != nil {
		return nil, fmt.Errorf("httpapi: resumable uploads: %w", err)
	}
	return &tusEndpoint{h: h, store: r.Store, list: r.List, lifetime: r.Lifetime, resumable: r}, nil
}

// tusLog passes tusd's warnings and errors (each a line of its own slog,
// golang.org/x/exp's) on to renderd's log.
type tusLog struct{ log *slog.Logger }

func (l tusLog) Write(p []byte) (int, error) {
	l.log.Warn("tusd", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}

// createUpload is POST /v1/uploads (tus creation). What renderd can refuse
// from the headers alone it refuses before tusd runs, in its own error
// format: a deferred length, a length over RENDERD_MAX_UPLOAD_BYTES (the
// same payload_too_large as a PUT's).
func (s *server) createUpload(w http.ResponseWriter, r *http.Request) error {
	if s.tus == nil {
		return errNotFound
	}
	if r.Header.Get("Upload-Defer-Length") != "" {
		return badRequest("Upload-Length", "a resumable upload announces its length (Upload-Defer-Length is not supported)")
	}
	if n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64); err == nil && n > s.MaxUploadBytes {
		return errTooLarge
	}
	created := &tusCreated{}
	r = r.WithContext(context.WithValue(r.Context(), tusCreatedKey{}, created))
	rec := &tusWriter{ResponseWriter: w, before: func(h http.Header) {
		if !created.expires.IsZero() {
			h.Set("Upload-Expires", created.expires.UTC().Format(http.TimeFormat))
		}
	}}
	r.Body = tusBody{ReadCloser: r.Body, s: s, ctx: r.Context(), method: r.Method}
	ctx, end := tusContext(r.Context())
	defer end()
	r = r.WithContext(context.WithValue(ctx, tusConnKey{}, http.NewResponseController(w)))
	s.tus.h.Middleware(http.HandlerFunc(s.tus.h.PostFile)).ServeHTTP(rec, r)
	if created.res != nil && rec.status != http.StatusCreated {
		// tusd failed after the hook reserved the part (its store
		// refused the upload): the reservation must not outlive it.
		s.releaseResumable(r.Context(), *created.res)
	}
	return nil
}

// uploadOptions is OPTIONS /v1/uploads: the protocol's discovery.
func (s *server) uploadOptions(w http.ResponseWriter, r *http.Request) error {
	if s.tus == nil {
		return errNotFound
	}
	rec := &tusWriter{ResponseWriter: w, before: func(h http.Header) { h.Set("Tus-Extension", tusExtensions) }}
	s.tus.h.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
	return nil
}

// headUpload, patchUpload and deleteUpload are HEAD, PATCH and DELETE
// /v1/uploads/{id}: tusd's, for the caller's own upload only.
func (s *server) headUpload(w http.ResponseWriter, r *http.Request) error {
	return s.onUpload(w, r, func(h *tusd.UnroutedHandler) http.HandlerFunc { return h.HeadFile })
}

func (s *server) patchUpload(w http.ResponseWriter, r *http.Request) error {
	return s.onUpload(w, r, func(h *tusd.UnroutedHandler) http.HandlerFunc { return h.PatchFile })
}

func (s *server) deleteUpload(w http.ResponseWriter, r *http.Request) error {
	return s.onUpload(w, r, func(h *tusd.UnroutedHandler) http.HandlerFunc { return h.DelFile })
}

// onUpload hands a request on an upload to tusd once the upload is the
// caller's and not expired: another account's upload is 404, as another
// account's asset is, never 403.
func (s *server) onUpload(w http.ResponseWriter, r *http.Request, op func(*tusd.UnroutedHandler) http.HandlerFunc) error {
	if s.tus == nil {
		return errNotFound
	}
	id := mux.Vars(r)["id"]
	info, err := s.uploadInfo(r.Context(), id)
	if err != nil {
		return err
	}
	expires, _ := time.Parse(time.RFC3339Nano, info.MetaData[metaExpires])
	if info.MetaData[metaAccount] != accountID(r.Context()) || !time.Now().Before(expires) {
		return errNotFound
	}
	rec := &tusWriter{ResponseWriter: w, before: func(h http.Header) {
		if r.Method != http.MethodDelete {
			h.Set("Upload-Expires", expires.UTC().Format(http.TimeFormat))
		}
	}}
	// tusd takes the id from the path under its base path.
	ctx, end := tusContext(r.Context())
	defer end()
	r2 := r.Clone(context.WithValue(ctx, tusConnKey{}, http.NewResponseController(w)))
	r2.URL.Path, r2.URL.RawPath = id, ""
	r2.Body = tusBody{ReadCloser: r.Body, s: s, ctx: r.Context(), method: r.Method}
	s.tus.h.Middleware(op(s.tus.h)).ServeHTTP(rec, r2)
	return nil
}

// tusContext is the context tusd's handler gets for a request: the
// request's values, ended by end once the handler has returned rather than
// when the client goes away. tusd v2.9.1 reads the body it sets for a PATCH
// from a goroutine that runs once the request's context ends, without
// synchronising the two (a data race whenever a client drops before tusd
// has set it up); ending the context only after the handler returns orders
// them. A client that goes away still ends its PATCH: the body's read fails.
// And a part whose last byte arrived is recorded even when its client has
// gone.
func tusContext(parent context.Context) (ctx context.Context, end context.CancelFunc) {
	return context.WithCancel(context.WithoutCancel(parent))
}

// uploadInfo reads an upload's state; an unknown id is 404.
func (s *server) uploadInfo(ctx context.Context, id string) (tusd.FileInfo, error) {
	if !wellFormedUploadID(id) {
		return tusd.FileInfo{}, errNotFound
	}
	up, err := s.tus.store.GetUpload(ctx, id)
	if err == nil {
		var info tusd.FileInfo
		if info, err = up.GetInfo(ctx); err == nil {
			return info, nil
		}
	}
	if errors.Is(err, tusd.ErrNotFound) {
		return tusd.FileInfo{}, errNotFound
	}
	return tusd.FileInfo{}, err
}

// wellFormedUploadID: tusd's stores name files and objects after the id
// (filestore: hex; s3store: hex, "+", the server's multipart upload id),
// so only such characters reach them, and never a dot first.
func wellFormedUploadID(id string) bool {
	if id == "" || len(id) > 512 || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+-_.=~", c) >= 0) {
			return false
		}
	}
	return true
}

// tusConnKey carries the connection's own controller to the completion
// hook (tusd's is tusWriter's, whose deadlines are no-ops).
type tusConnKey struct{}

// completionRate is the slowest copy into the blob store (bytes a second)
// the last PATCH allows for before its answer, on top of a minute: 1 GiB in
// about 5 minutes.
const completionRate = 4 << 20

// tusCreated carries what the creation hook reserved back to createUpload.
type tusCreated struct {
	res     *commands.UploadReservation
	expires time.Time
}

type tusCreatedKey struct{}

// reserveResumable is tusd's creation hook: the checks of a PUT before its
// first byte (Reserve), then the part held for the upload's lifetime.
func (s *server) reserveResumable(ev tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	ctx := ev.Context
	created, _ := ctx.Value(tusCreatedKey{}).(*tusCreated)
	if created == nil {
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, errors.New("resumable upload created outside createUpload")
	}
	res, expires, err := s.reserveForUpload(ctx, ev.Upload)
	if err != nil {
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, s.tusError(ctx, ev.HTTPRequest.Method, err)
	}
	created.res, created.expires = &res, expires
	meta := tusd.MetaData{metaAsset: res.AssetID, metaPart: string(res.Part), metaAccount: res.AccountID,
		metaBlobKey: res.BlobKey, metaExpires: expires.UTC().Format(time.RFC3339Nano)}
	if name, ok := ev.Upload.MetaData["filename"]; ok && cleanText(name) {
		meta["filename"] = name
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{MetaData: meta}, nil
}

func (s *server) reserveForUpload(ctx context.Context, up tusd.FileInfo) (commands.UploadReservation, time.Time, error) {
	assetID, part := up.MetaData[metaAsset], domain.AssetPart(up.MetaData[metaPart])
	switch {
	case assetID == "":
		return commands.UploadReservation{}, time.Time{}, badRequest("Upload-Metadata", "asset_id is required: the asset the upload is a part of")
	case part != domain.AssetPartSource && part != domain.AssetPartAudio:
		return commands.UploadReservation{}, time.Time{}, badRequest("Upload-Metadata", "part must be source or audio")
	case !wellFormedID(idPrefixes["assets"], assetID):
		return commands.UploadReservation{}, time.Time{}, errNotFound // as PUT /v1/assets/{id}/… answers
	case up.SizeIsDeferred:
		return commands.UploadReservation{}, time.Time{}, badRequest("Upload-Length", "a resumable upload announces its length")
	}
	c := commands.Caller{AccountID: accountID(ctx), CorrelationID: requestID(ctx)}
	key := s.NewBlobKey(assetID, string(part))
	res, err := s.Commands.UploadPart.Reserve(ctx, c, assetID, part, key, up.Size, s.MaxUploadBytes, s.Blobs.Delete)
	if err != nil {
		return commands.UploadReservation{}, time.Time{}, err
	}
	expires := time.Now().Add(s.tus.lifetime)
	held, err := s.Commands.UploadPart.HoldFor(ctx, res, s.tus.lifetime)
	if err == nil && !held {
		err = errReservationLost
	}
	if err != nil {
		s.releaseResumable(ctx, res)
		return commands.UploadReservation{}, time.Time{}, err
	}
	return res, expires, nil
}

// releaseResumable ends a resumable upload's reservation that recorded
// nothing, and deletes what it stored; it runs even when the client went
// away. Unlike giveUpUpload's Release it ends the reservation only while it
// is this upload's (HoldFor matches its blob key): a resumable upload may
// have lost it to another since.
func (s *server) releaseResumable(ctx context.Context, res commands.UploadReservation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.Blobs.Delete(ctx, res.BlobKey); err != nil {
		s.Log.WarnContext(ctx, "deleting an upload that was not recorded failed", "error", err, "key", res.BlobKey)
	}
	if _, err := s.Commands.UploadPart.HoldFor(ctx, res, 0); err != nil {
		// It expires by itself (Upload-Expires).
		s.Log.WarnContext(ctx, "releasing a resumable upload's reservation failed", "error", err, "asset_id", res.AssetID, "part", res.Part)
	}
}

// reservationOf is the reservation an upload's metadata records.
func reservationOf(info tusd.FileInfo) commands.UploadReservation {
	return commands.UploadReservation{AssetID: info.MetaData[metaAsset], AccountID: info.MetaData[metaAccount],
		Part: domain.AssetPart(info.MetaData[metaPart]), BlobKey: info.MetaData[metaBlobKey], Bytes: info.Size}
}

// finishResumable is tusd's hook once the last byte is stored, before the
// last PATCH is answered: the bytes become the part's blob and the part is
// recorded, as a PUT's (Handle queues its probe). Recorded, the tus upload
// is removed (it is a blob now); refused, too: it cannot become one, and
// the client starts again. But when a dependency is down (the database,
// the blob store), the complete upload and its part are kept and the PATCH
// is answered 503: SweepUploads records it once the dependency is back,
// and a client that asks meanwhile finds it complete (HEAD), its bytes
// never lost.
func (s *server) finishResumable(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
	ctx, info := ev.Context, ev.Upload
	if rc, ok := ctx.Value(tusConnKey{}).(*http.ResponseController); ok {
		// The body is in, and the connection's deadlines are a JSON
		// exchange's (timeouts.go): room for the copy too.
		end := time.Now().Add(s.Timeouts.JSON + s.ReadYourWrites + time.Minute + time.Duration(info.Size/completionRate)*time.Second)
		setDeadlines(rc, end, end)
	}
	if err := s.finishUpload(ctx, info); err != nil {
		return tusd.HTTPResponse{}, s.tusError(ctx, ev.HTTPRequest.Method, err)
	}
	return tusd.HTTPResponse{}, nil
}

// finishUpload records a complete upload and removes it, unless a
// dependency is down (unavailable): then both stay for SweepUploads.
func (s *server) finishUpload(ctx context.Context, info tusd.FileInfo) error {
	written, err := s.recordResumable(ctx, info)
	if err != nil && s.unavailable(err) {
		s.tus.resumable.kept.Store(info.ID, true)
		s.Log.WarnContext(ctx, "recording a complete resumable upload failed: kept to record later", "error", err, "upload_id", info.ID)
		return err
	}
	s.tus.resumable.kept.Delete(info.ID)
	s.removeResumable(ctx, info.ID)
	if err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "resumable upload recorded", "asset_id", written.StreamID, "upload_id", info.ID, "bytes", info.Size)
	return nil
}

// unavailable tells an error of a dependency that cannot answer now from
// a refusal (Config.Unavailable, or one marked domain.ErrUnavailable).
func (s *server) unavailable(err error) bool {
	return errors.Is(err, domain.ErrUnavailable) || s.Unavailable(err)
}

func (s *server) recordResumable(ctx context.Context, info tusd.FileInfo) (w commands.Written, err error) {
	res := reservationOf(info)
	c := commands.Caller{AccountID: res.AccountID, CorrelationID: requestID(ctx)}
	recorded := false
	defer func() {
		if !recorded && !s.unavailable(err) {
			s.releaseResumable(ctx, res)
		}
	}()
	// Still this upload's? (An upload resumed after its expiry may have
	// lost the part to another.)
	held, err := s.Commands.UploadPart.HoldFor(ctx, res, commands.UploadLease)
	if err != nil {
		return w, err
	}
	if !held {
		return w, errReservationLost
	}
	up, err := s.tus.store.GetUpload(ctx, info.ID)
	if err != nil {
		return w, err
	}
	body, err := up.GetReader(ctx)
	if err != nil {
		return w, err
	}
	defer func() { _ = body.Close() }()
	size, err := s.Blobs.Put(ctx, res.BlobKey, body, info.Size)
	if err != nil {
		return w, err
	}
	if size != info.Size {
		return w, fmt.Errorf("resumable upload %s: stored %d bytes of %d", info.ID, size, info.Size)
	}
	w, err = s.recordPart(ctx, c, res, size)
	if err != nil {
		return w, err
	}
	recorded = true
	return w, nil
}

// removeResumable deletes an upload's bytes from tusd's store; it runs even
// when the client went away.
func (s *server) removeResumable(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := func() error {
		up, err := s.tus.store.GetUpload(ctx, id)
		if err != nil {
			return err
		}
		t, ok := up.(tusd.TerminatableUpload)
		if !ok {
			return errors.New("the store cannot terminate uploads")
		}
		return t.Terminate(ctx)
	}()
	if err != nil && !errors.Is(err, tusd.ErrNotFound) {
		s.Log.WarnContext(ctx, "removing a resumable upload failed", "error", err, "upload_id", id)
	}
}

// terminateResumable is tusd's hook before an upload is terminated
// (DELETE): the part is free again. Only the upload's own reservation ends
// (HoldFor matches its blob key), never another upload's of the part.
func (s *server) terminateResumable(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
	if _, err := s.Commands.UploadPart.HoldFor(ev.Context, reservationOf(ev.Upload), 0); err != nil {
		return tusd.HTTPResponse{}, s.tusError(ev.Context, ev.HTTPRequest.Method, err)
	}
	return tusd.HTTPResponse{}, nil
}

// tusError answers a hook's refusal in renderd's error format (writeError),
// for tusd to send.
func (s *server) tusError(ctx context.Context, method string, err error) error {
	req := httptest.NewRequestWithContext(ctx, method, uploadsPath, nil)
	rec := httptest.NewRecorder()
	writeError(rec, req, s.Log, outage(req, s.Unavailable, err))
	out := tusd.Error{ErrorCode: "renderd", Message: err.Error(), HTTPResponse: tusd.HTTPResponse{
		StatusCode: rec.Code, Body: rec.Body.String(), Header: tusd.HTTPHeader{}}}
	for k := range rec.Header() {
		out.HTTPResponse.Header[k] = rec.Header().Get(k)
	}
	return out
}

// UploadSweep counts what one SweepUploads did.
type UploadSweep struct {
	Expired  int // removed past their lifetime, their parts freed
	Recorded int // complete uploads an outage had kept, recorded now
}

// SweepUploads goes over the resumable uploads: it records the complete
// ones an outage kept from being recorded (finishResumable), and removes
// those whose lifetime is over (Upload-Expires), ending their
// reservations. serve runs it now and then (cmd/renderd).
func SweepUploads(ctx context.Context, cfg Config, now time.Time) (UploadSweep, error) {
	var done UploadSweep
	s := &server{Config: cfg}
	if cfg.Resumable == nil {
		return done, nil
	}
	t, err := s.newTusEndpoint(cfg.Resumable)
	if err != nil {
		return done, err
	}
	s.tus = t
	ids, err := t.list(ctx)
	if err != nil {
		return done, err
	}
	var errs []error
	for _, id := range ids {
		info, err := s.uploadInfo(ctx, id)
		if errors.Is(err, errNotFound) {
			continue // finished or removed meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		expires, err := time.Parse(time.RFC3339Nano, info.MetaData[metaExpires])
		if err == nil && now.Before(expires) {
			if _, kept := cfg.Resumable.kept.Load(id); kept {
				// Complete but not recorded: an outage (finishUpload).
				if err := s.finishUpload(ctx, info); err != nil && s.unavailable(err) {
					errs = append(errs, err)
				} else if err == nil {
					done.Recorded++
				}
			}
			continue
		}
		// An upload without an expiry was not created through renderd's
		// hook: nothing holds a part for it.
		if err == nil {
			if _, err := cfg.Commands.UploadPart.HoldFor(ctx, reservationOf(info), 0); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		s.removeResumable(ctx, id)
		cfg.Resumable.kept.Delete(id)
		done.Expired++
	}
	return done, errors.Join(errs...)
}

// tusWriter sets headers of renderd's own on tusd's response just before
// it is sent, and keeps its status.
type tusWriter struct {
	http.ResponseWriter
	before func(http.Header)
	status int
}

func (w *tusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if code < 300 {
			w.before(w.Header())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets tusd's http.ResponseController reach the connection (to
// flush, for one).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SetReadDeadline and SetWriteDeadline keep tusd's hands off the
// connection's deadlines: tusd moves the read deadline a NetworkTimeout
// ahead at every read, however few bytes it brings, which would undo the
// minimum transfer rate renderd holds an upload to (timeouts.go). renderd's
// deadlines alone apply, as to a PUT.
func (w *tusWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *tusWriter) SetWriteDeadline(time.Time) error { return nil }

// errResumeTooSlow is errUploadTooSlow for a resumable upload, which keeps
// what arrived.
var errResumeTooSlow = &apiError{status: http.StatusRequestTimeout, code: errUploadTooSlow.code,
	message: "the upload was slower than the minimum transfer rate and was cut off; what arrived is kept: resume from the offset HEAD tells"}

// tusBody hands a request body to tusd with renderd's refusals of it
// (upload_too_slow) as errors tusd answers as they are, in renderd's
// format, where it would answer any other read error with its own 500.
type tusBody struct {
	io.ReadCloser
	s      *server
	ctx    context.Context
	method string
}

func (b tusBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, errUploadTooSlow) {
		err = b.s.tusError(b.ctx, b.method, errResumeTooSlow)
	}
	return n, err
}
