package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/telemetry"
)

// deleteAsset deletes an asset with its cuts and renders (DELETE
// /v1/assets/{id}): 202, the deletion is recorded and the asset, its cuts
// and its renders answer 404 from now on, while their blobs are removed
// asynchronously by the encoders (docs/renders.md, "Retention and
// erasure"). A repeated deletion answers the same; another account's
// asset is 404.
func (s *server) deleteAsset(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Commands.DeleteAsset.Handle(r.Context(), caller(r), commands.DeleteAsset{AssetID: mux.Vars(r)["id"]})
	if err != nil {
		return err
	}
	s.afterWrites(w, r, append(res.Derived, res.Asset))
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// afterWrites is afterWrite for the streams one command wrote, under one
// bound: the answer waits until every one of them is projected, so no GET
// after it shows a deleted cut or render.
func (s *server) afterWrites(w http.ResponseWriter, r *http.Request, written []commands.Written) {
	ctx, cancel := context.WithTimeout(r.Context(), s.ReadYourWrites)
	defer cancel()
	for _, wr := range written {
		wait := s.Waiter.WaitFor
		if len(wr.Events) > 0 {
			wait = s.Waiter.WaitForAppended
		}
		reached, err := wait(ctx, wr.StreamID, wr.Version)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.Log.WarnContext(r.Context(), "read-your-writes wait failed", "error", err, "stream_id", wr.StreamID)
		}
		if !reached {
			w.Header().Set("Renderd-Read-Your-Writes", "timeout")
			telemetry.ReadYourWritesTimeouts.Inc() // once per answer, like the header
			s.Log.WarnContext(r.Context(), "read model lagging behind a write", "stream_id", wr.StreamID,
				"version", wr.Version, "correlation_id", requestID(r.Context()))
			return
		}
	}
}
