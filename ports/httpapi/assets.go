package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

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
		return err
	}
	writeJSON(w, http.StatusOK, list(views, next, toAsset))
	return nil
}

// uploadPart streams a part of an asset to the blob store, then records it;
// probing follows asynchronously (202). Before any byte of the body is
// read, the part is reserved for this upload and the account's storage
// checked (commands.UploadAssetPartHandler.Reserve): nothing is stored for
// an upload the asset or the quota would refuse, and a second upload of
// the part is refused at once. A body without a length is stopped when it
// passes what the quota leaves.
func (s *server) uploadPart(part string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, assetID := caller(r), mux.Vars(r)["id"]
		p := domain.AssetPart(part)
		if r.ContentLength > s.MaxUploadBytes {
			return errTooLarge
		}
		key := s.NewBlobKey(assetID, part)
		res, err := s.Commands.UploadPart.Reserve(r.Context(), c, assetID, p, key, r.ContentLength, s.MaxUploadBytes, s.Blobs.Delete)
		if err != nil {
			return err
		}
		recorded := false
		defer func() {
			if !recorded {
				s.giveUpUpload(r.Context(), res)
			}
		}()
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		stop := s.keepReserved(ctx, res, cancel)
		// The readers' own limits trip before Put's: MaxBytesReader's as a
		// *http.MaxBytesError (413 payload_too_large), the reservation's as
		// the account's quota.
		body := &limitedBody{r: http.MaxBytesReader(w, r.Body, s.MaxUploadBytes), left: res.Bytes}
		size, err := s.Blobs.Put(ctx, key, body, res.Bytes+1)
		stop()
		switch {
		case body.over:
			return commands.QuotaExceeded(s.quotaUsed(res), s.StorageQuota)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("", "the upload ended before the length it announced")
		case err != nil && context.Cause(ctx) != nil && r.Context().Err() == nil:
			return context.Cause(ctx)
		case err != nil:
			return err
		}
		written, err := s.recordPart(r.Context(), c, res, size)
		if err != nil {
			return err
		}
		recorded = true
		return s.respondAsset(w, r, written, http.StatusAccepted)
	}
}

// recordPart records a part stored under its reservation's blob key, and
// queues its probe (UploadAssetPartHandler.Handle): the last step of a PUT
// and of a resumable upload alike.
func (s *server) recordPart(ctx context.Context, c commands.Caller, res commands.UploadReservation, size int64) (commands.Written, error) {
	return s.Commands.UploadPart.Handle(ctx, c, commands.UploadAssetPart{AssetID: res.AssetID, Part: res.Part, BlobKey: res.BlobKey, Size: size})
}

// giveUpUpload ends a reservation whose upload was not recorded, and
// deletes what it stored; it runs even when the client went away.
func (s *server) giveUpUpload(ctx context.Context, res commands.UploadReservation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.Blobs.Delete(ctx, res.BlobKey); err != nil {
		s.Log.WarnContext(ctx, "deleting an upload that was not recorded failed", "error", err, "key", res.BlobKey)
	}
	if err := s.Commands.UploadPart.Release(ctx, res); err != nil {
		// It expires by itself (commands.UploadLease).
		s.Log.WarnContext(ctx, "releasing an upload's reservation failed", "error", err, "asset_id", res.AssetID, "part", res.Part)
	}
}

// errReservationLost stops an upload whose reservation is no longer its
// own (it expired while Postgres was away, and another upload took it).
var errReservationLost = &apiError{status: http.StatusConflict, code: "upload_in_progress",
	message: "this upload's reservation of the part was lost to another upload"}

// keepReserved extends the reservation while the upload streams, and stops
// the upload (cancel) if it was lost. The returned func stops it.
func (s *server) keepReserved(ctx context.Context, res commands.UploadReservation, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(commands.UploadLease / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			held, err := s.Commands.UploadPart.Extend(ctx, res)
			switch {
			case err != nil:
				s.Log.WarnContext(ctx, "extending an upload's reservation failed", "error", err, "asset_id", res.AssetID)
			case !held:
				cancel(errReservationLost)
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// quotaUsed is what the account stored when the upload was reserved: the
// quota less what the reservation could take.
func (s *server) quotaUsed(res commands.UploadReservation) int64 { return s.StorageQuota - res.Bytes }

// limitedBody passes at most left bytes on; over says the body had more.
type limitedBody struct {
	r    io.Reader
	left int64
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		b.over = true
		return 0, errQuotaReached
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.over = true
		return n + int(b.left), errQuotaReached
	}
	return n, err
}

var errQuotaReached = errors.New("the upload passed what the account's storage quota leaves")

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
