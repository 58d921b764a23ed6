package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

type createAssetRequest struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func (s *server) createAsset(w http.ResponseWriter, r *http.Request) error {
	var req createAssetRequest
	if err := decodeJSON(r, s.MaxJSONBytes, &req); err != nil {
		return err
	}
	written, err := s.Commands.CreateAsset.Handle(r.Context(), caller(r), commands.CreateAsset{Kind: domain.AssetKind(req.Kind), Name: req.Name})
	if err != nil {
		return err
	}
	return s.respondAsset(w, r, written, http.StatusCreated)
}

// respondAsset answers a write with the asset as the read model shows it
// once it reflects the write.
func (s *server) respondAsset(w http.ResponseWriter, r *http.Request, written commands.Written, status int) error {
	s.afterWrite(w, r, written)
	v, err := s.Reads.Asset(r.Context(), accountID(r.Context()), written.StreamID)
	if errors.Is(err, projections.ErrNotFound) {
		writeJSON(w, status, map[string]string{"id": written.StreamID, "object": "asset"}) // not projected yet
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, status, toAsset(v))
	return nil
}

func (s *server) getAsset(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Reads.Asset(r.Context(), accountID(r.Context()), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAsset(v))
	return nil
}

func (s *server) listAssets(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	views, next, err := s.Reads.ListAssets(r.Context(), accountID(r.Context()), page)
	if err != nil {
		return pageError(err)
	}
	writeJSON(w, http.StatusOK, list(views, next, toAsset))
	return nil
}

// uploadPart streams a part of an asset to the blob store, then records it;
// probing follows asynchronously (202). Nothing is stored for an upload the
// asset would refuse.
func (s *server) uploadPart(part string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, assetID := caller(r), mux.Vars(r)["id"]
		p := domain.AssetPart(part)
		if err := s.Commands.UploadPart.Precheck(r.Context(), c, assetID, p); err != nil {
			return err
		}
		key := s.NewBlobKey(assetID, part)
		body := http.MaxBytesReader(w, r.Body, s.MaxUploadBytes)
		// The reader's own limit trips first, as a *http.MaxBytesError (413).
		size, err := s.Blobs.Put(r.Context(), key, body, s.MaxUploadBytes+1)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("", "the upload ended before the length it announced")
		case err != nil:
			return err
		}
		written, err := s.Commands.UploadPart.Handle(r.Context(), c, commands.UploadAssetPart{AssetID: assetID, Part: p, BlobKey: key, Size: size})
		if err != nil {
			if derr := s.Blobs.Delete(key); derr != nil {
				s.Log.WarnContext(r.Context(), "delete refused upload", "error", derr, "key", key)
			}
			return err
		}
		return s.respondAsset(w, r, written, http.StatusAccepted)
	}
}

// pageOf reads ?limit= and ?cursor=: limit 1..100, default 20.
func pageOf(r *http.Request) (projections.Page, error) {
	q := r.URL.Query()
	page := projections.Page{Limit: 20, Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return page, domain.Invalid("limit", "must be a whole number from 1 to 100")
		}
		page.Limit = n
	}
	return page, nil
}

func pageError(err error) error {
	if errors.Is(err, projections.ErrBadCursor) {
		return badRequest("cursor", "this cursor was not handed out by this list; start again without it")
	}
	return err
}

type creditsJSON struct {
	Object  string            `json:"object"`
	Balance creditsAmountJSON `json:"balance"`
	Recent  []ledgerEntryJSON `json:"recent_entries"`
}

type creditsAmountJSON struct {
	Seconds int64   `json:"seconds"`
	Minutes float64 `json:"minutes"`
}

type ledgerEntryJSON struct {
	ID        string `json:"id"`
	Seconds   int64  `json:"seconds"`
	Reason    string `json:"reason"`
	AssetID   string `json:"asset_id,omitempty"`
	CreatedAt string `json:"created_at"`
}

func (s *server) getCredits(w http.ResponseWriter, r *http.Request) error {
	balance, entries, err := s.Credits(r.Context(), accountID(r.Context()), 20)
	if err != nil {
		return err
	}
	out := creditsJSON{Object: "credits", Balance: creditsAmountJSON{Seconds: balance, Minutes: float64(balance) / 60}, Recent: []ledgerEntryJSON{}}
	for _, e := range entries {
		out.Recent = append(out.Recent, ledgerEntryJSON{ID: e.ID, Seconds: e.Seconds, Reason: e.Reason, AssetID: e.AssetID,
			CreatedAt: e.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
