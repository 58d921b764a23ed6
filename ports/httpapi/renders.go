package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// RenderReads are the queries behind the render endpoints.
type RenderReads interface {
	Render(ctx context.Context, accountID, id string) (projections.RenderView, error)
	ListRenders(ctx context.Context, accountID string, f projections.RenderFilter, page projections.Page) ([]projections.RenderView, string, error)
	RenderHistory(ctx context.Context, accountID, renderID string) ([]projections.HistoryEntry, error)
}

// DownloadURLs mints a fresh signed download URL for a stored deliverable.
type DownloadURLs func(blobKey, filename string) (url string, expires time.Time, err error)

type renderRequest struct {
	AssetID *string        `json:"asset_id"`
	CutID   *string        `json:"cut_id"`
	Output  *outputRequest `json:"output"`
}

// outputRequest tells an omitted (or null) field from an explicit one.
type outputRequest struct {
	Format       *string `json:"format"`
	Resolution   *string `json:"resolution"`
	VideoBitrate *int    `json:"video_bitrate"`
	AudioBitrate *int    `json:"audio_bitrate"`
}

// The domain's OutputSpec has no "explicitly nothing": its zero values
// mean omitted. An explicit "" or 0 in a request is passed on as one of
// these values instead, which no format, tier or ladder holds, so Validate
// refuses it on its field like any other value off the ladder, and
// "omitted" and "explicitly nothing" never meet.
const (
	explicitEmptyString = " "
	explicitZero        = -1
)

// spec maps the request onto the domain's output: an omitted (or null)
// field stays zero, an explicit empty one becomes explicitEmptyString or
// explicitZero.
func (o *outputRequest) spec() domain.OutputSpec {
	if o == nil {
		return domain.OutputSpec{}
	}
	var s domain.OutputSpec
	if o.Format != nil {
		s.Format = domain.Format(explicit(*o.Format, explicitEmptyString))
	}
	if o.Resolution != nil {
		s.Resolution = domain.Resolution(explicit(*o.Resolution, explicitEmptyString))
	}
	if o.VideoBitrate != nil {
		s.VideoBitrate = explicit(*o.VideoBitrate, explicitZero)
	}
	if o.AudioBitrate != nil {
		s.AudioBitrate = explicit(*o.AudioBitrate, explicitZero)
	}
	return s
}

// explicit is v, or empty in its place when v is its type's zero.
func explicit[T comparable](v, empty T) T {
	var zero T
	if v == zero {
		return empty
	}
	return v
}

func (s *server) requestRender(w http.ResponseWriter, r *http.Request) error {
	var req renderRequest
	if err := decodeJSON(r, s.MaxJSONBytes, &req); err != nil {
		return err
	}
	if req.AssetID == nil || *req.AssetID == "" {
		return domain.Invalid("asset_id", "is required")
	}
	if !wellFormedID(idPrefixes["assets"], *req.AssetID) {
		return errNotFound // like an unknown asset, without a lookup
	}
	cmd := commands.RequestRender{AssetID: *req.AssetID, Output: req.Output.spec()}
	if req.CutID != nil {
		if *req.CutID == "" {
			return domain.Invalid("cut_id", "must name a cut, or be omitted")
		}
		cmd.CutID = *req.CutID
	}
	res, err := s.Commands.RequestRender.Handle(r.Context(), caller(r), cmd)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Existing {
		status = http.StatusOK
	}
	return s.respondRender(w, r, res.Written, status)
}

func (s *server) respondRender(w http.ResponseWriter, r *http.Request, written commands.Written, status int) error {
	s.afterWrite(w, r, written)
	if ev := written.Events; len(ev) > 0 && ev[0].StreamVersion == 1 {
		// A new render: its whole history is what the request appended, and
		// the view of it is the row the projector wrote (or, after a
		// timeout, is writing), built by the same function.
		v, err := projections.RenderViewOf(ev)
		if err != nil {
			return err
		}
		writeJSON(w, status, toRender(v))
		return nil
	}
	v, err := s.Renders.Render(r.Context(), accountID(r.Context()), written.StreamID)
	if errors.Is(err, projections.ErrNotFound) {
		writeJSON(w, status, map[string]string{"id": written.StreamID, "object": "render"}) // not projected yet
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, status, toRender(v))
	return nil
}

func (s *server) getRender(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Renders.Render(r.Context(), accountID(r.Context()), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	out := toRender(v)
	if v.State == domain.RenderStateCompleted && v.Result != nil && !v.OutputExpired {
		// Minted fresh on every GET: clients re-fetch rather than cache it.
		url, expires, err := s.DownloadURLs(v.Result.BlobKey, v.ID+"."+string(v.Output.Format))
		if err != nil {
			return err
		}
		expires = expires.UTC()
		out.DownloadURL, out.DownloadExpiresAt = &url, &expires
	}
	noStore(w) // whatever the state: one rule for one route
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) listRenders(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if a := q.Get("asset_id"); a != "" && !wellFormedID(idPrefixes["assets"], a) {
		return errNotFound // like an unknown asset, without a lookup
	}
	views, next, err := s.Renders.ListRenders(r.Context(), accountID(r.Context()),
		projections.RenderFilter{AssetID: q.Get("asset_id"), State: q.Get("state")}, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(views, next, toRender)) // never a download_url
	return nil
}

func (s *server) cancelRender(w http.ResponseWriter, r *http.Request) error {
	written, err := s.Commands.CancelRender.Handle(r.Context(), caller(r), commands.CancelRender{RenderID: mux.Vars(r)["id"]})
	if err != nil {
		return err
	}
	s.afterWrite(w, r, written)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type historyJSON struct {
	Data []projections.HistoryEntry `json:"data"`
}

func (s *server) renderEvents(w http.ResponseWriter, r *http.Request) error {
	entries, err := s.Renders.RenderHistory(r.Context(), accountID(r.Context()), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []projections.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, historyJSON{Data: entries})
	return nil
}
