// Package encoders is renderd's media side: the render pipeline (later) and
// the media worker that probes uploads and completes cuts, reporting back
// only through commands.
package encoders

import (
	"context"
	"errors"
	"log/slog"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// MediaWorker reacts to asset and cut events: it probes uploaded parts and
// completes the cuts an asset's charge (or failure) unblocks. Every step is
// idempotent on aggregate state, so a redelivered event changes nothing.
type MediaWorker struct {
	probe *commands.ProbeAssetHandler
	cuts  *commands.CompleteCutHandler
	log   *slog.Logger
}

// NewMediaWorker checks its handlers once.
func NewMediaWorker(probe *commands.ProbeAssetHandler, cuts *commands.CompleteCutHandler, log *slog.Logger) (*MediaWorker, error) {
	if probe == nil || cuts == nil || log == nil {
		return nil, errors.New("media worker: handlers and a logger are required")
	}
	return &MediaWorker{probe: probe, cuts: cuts, log: log}, nil
}

// Handle reacts to one event. Events it has no business with are ignored.
func (m *MediaWorker) Handle(ctx context.Context, rec domain.Recorded) error {
	c := commands.Caller{CorrelationID: rec.CorrelationID, CausationID: rec.ID}
	switch rec.Event.(type) {
	case domain.AssetSourceUploaded:
		return m.probeAsset(ctx, c, rec.StreamID, domain.AssetPartSource)
	case domain.AssetAudioUploaded:
		return m.probeAsset(ctx, c, rec.StreamID, domain.AssetPartAudio)
	case domain.AssetCharged, domain.AssetFailed:
		cuts, err := m.cuts.CutsOf(ctx, rec.StreamID)
		if err != nil {
			return err
		}
		for _, id := range cuts {
			if err := m.completeCut(ctx, c, id); err != nil {
				return err
			}
		}
	case domain.CutRequested:
		return m.completeCut(ctx, c, rec.StreamID)
	}
	return nil
}

func (m *MediaWorker) probeAsset(ctx context.Context, c commands.Caller, assetID string, part domain.AssetPart) error {
	w, err := m.probe.Handle(ctx, c, commands.ProbeAsset{AssetID: assetID, Part: part})
	if err == nil {
		m.log.InfoContext(ctx, "asset probed", "asset_id", assetID, "part", part, "version", w.Version, "correlation_id", c.CorrelationID)
	}
	return err
}

func (m *MediaWorker) completeCut(ctx context.Context, c commands.Caller, cutID string) error {
	w, err := m.cuts.Handle(ctx, c, commands.CompleteCut{CutID: cutID})
	if err == nil {
		m.log.DebugContext(ctx, "cut checked", "cut_id", cutID, "version", w.Version, "correlation_id", c.CorrelationID)
	}
	return err
}
