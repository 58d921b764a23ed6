package httpapi

import (
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

type requestCutRequest struct {
	Segments []segmentJSON `json:"segments"`
	Auto     *autoJSON     `json:"auto"`
}

func (s *server) requestCut(w http.ResponseWriter, r *http.Request) error {
	var req requestCutRequest
	if err := decodeJSON(r, s.MaxJSONBytes, &req); err != nil {
		return err
	}
	cmd := commands.RequestCut{AssetID: mux.Vars(r)["id"]}
	if req.Segments != nil {
		// Given, even empty: next to auto it is a plan with both (422).
		cmd.Segments = make([]domain.Segment, 0, len(req.Segments))
	}
	for _, seg := range req.Segments {
		cmd.Segments = append(cmd.Segments, domain.Segment{Start: duration(seg.Start), End: duration(seg.End)})
	}
	if req.Auto != nil {
		if req.Auto.RemoveSilence == nil {
			return domain.Invalid("auto.remove_silence", "is required in an auto plan")
		}
		rs := req.Auto.RemoveSilence
		cmd.Auto = &domain.SilenceRemoval{MinSilence: duration(rs.MinSilence), ThresholdDB: rs.ThresholdDB}
	}
	written, err := s.Commands.RequestCut.Handle(r.Context(), caller(r), cmd)
	if err != nil {
		return err
	}
	s.afterWrite(w, r, written)
	v, err := s.Reads.Cut(r.Context(), accountID(r.Context()), written.StreamID)
	if errors.Is(err, projections.ErrNotFound) {
		writeJSON(w, http.StatusCreated, map[string]string{"id": written.StreamID, "object": "cut"})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toCut(v))
	return nil
}

// duration converts JSON seconds; out-of-range values become values the
// domain rejects (negative), never an overflow.
func duration(sec float64) time.Duration {
	if math.IsNaN(sec) || sec < 0 || sec > 1e9 {
		return -1
	}
	return time.Duration(math.Round(sec * float64(time.Second)))
}

func (s *server) getCut(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Reads.Cut(r.Context(), accountID(r.Context()), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCut(v))
	return nil
}

func (s *server) listCuts(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	assetID, acc := mux.Vars(r)["id"], accountID(r.Context())
	if _, err := s.Reads.Asset(r.Context(), acc, assetID); err != nil {
		return err // 404 for an unknown or foreign asset, not an empty list
	}
	views, next, err := s.Reads.ListCuts(r.Context(), acc, assetID, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(views, next, toCut))
	return nil
}
