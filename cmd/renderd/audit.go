package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// The auditors' commands read the event store itself, worker details
// included: they are for operators, unlike the API's public history.

// auditEvent is one stored event as `renderd history` prints it.
type auditEvent struct {
	Position      int64           `json:"position"`
	ID            string          `json:"id"`
	StreamID      string          `json:"stream_id"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`      // the public type, render.completed
	WireName      string          `json:"wire_name"` // the stored, versioned name
	OccurredAt    time.Time       `json:"occurred_at"`
	AccountID     string          `json:"account_id"`
	CorrelationID string          `json:"correlation_id"`
	Data          json.RawMessage `json:"data"`
}

// historyFlags are `renderd history`'s own flags.
func historyFlags(asJSON *bool, asset *string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.BoolVar(asJSON, "json", false, "print JSON lines (one event per line) instead of a table")
		fs.StringVar(asset, "asset", "", "print the history of every render of this asset")
	}
}

// history prints the event history of one render, or of every render of
// an asset, oldest event first.
func history(ctx context.Context, cfg Config, args []string, asset string, asJSON bool, stdout io.Writer) error {
	// Flags may follow the id too: renderd history rnd_… --json.
	var renderIDs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-json":
			asJSON = true
		case (a == "--asset" || a == "-asset") && i+1 < len(args):
			asset, i = args[i+1], i+1
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("%w: history: unknown flag %s", errUsage, a)
		default:
			renderIDs = append(renderIDs, a)
		}
	}
	switch {
	case asset == "" && len(renderIDs) != 1:
		return fmt.Errorf("%w: history takes one RENDER_ID, or --asset ASSET_ID", errUsage)
	case asset != "" && len(renderIDs) > 0:
		return fmt.Errorf("%w: history takes a RENDER_ID or --asset, not both", errUsage)
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return printHistory(ctx, postgres.NewEventStore(pool, eventschema.NewCodec(), nil), renderIDs, asset, asJSON, stdout)
}

// historyLog is what `renderd history` reads of the event store.
type historyLog interface {
	StreamsWithEvent(ctx context.Context, wireName, field, value string) ([]string, error)
	StreamEntries(ctx context.Context, streamID string) ([]postgres.LogEntry, error)
}

// printHistory prints the histories of renderIDs, or of the renders of
// asset if it is set.
func printHistory(ctx context.Context, store historyLog, renderIDs []string, asset string, asJSON bool, stdout io.Writer) error {
	if asset != "" {
		var err error
		if renderIDs, err = store.StreamsWithEvent(ctx, eventschema.RenderRequestedV1, "asset_id", asset); err != nil {
			return fmt.Errorf("renders of asset %s: %w", asset, err)
		}
		if len(renderIDs) == 0 {
			return fmt.Errorf("asset %s has no renders (or is unknown)", asset)
		}
	}
	for i, id := range renderIDs {
		events, err := streamEvents(ctx, store, id)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return fmt.Errorf("render %s: no such stream in the event store", id)
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			for _, e := range events {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "render %s (account %s)\n", id, events[0].AccountID)
		for _, e := range events {
			fmt.Fprintf(stdout, "  %s  v%-3d %-18s %s\n", e.OccurredAt.UTC().Format("2006-01-02T15:04:05.000Z"), e.Version, e.Type, keyData(e.Data))
		}
	}
	return nil
}

func streamEvents(ctx context.Context, store historyLog, streamID string) ([]auditEvent, error) {
	entries, err := store.StreamEntries(ctx, streamID)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", streamID, err)
	}
	events := make([]auditEvent, len(entries))
	for i, e := range entries {
		events[i] = auditEvent{Position: e.Position, ID: e.ID, StreamID: e.StreamID, Version: e.StreamVersion,
			Type: eventschema.PublicType(e.WireName), WireName: e.WireName, OccurredAt: e.OccurredAt,
			AccountID: e.AccountID, CorrelationID: e.CorrelationID, Data: json.RawMessage(e.Data)}
	}
	return events, nil
}

// keyData is an event's data on one line: its fields as key=value, nested
// values compact, long ones cut.
func keyData(raw json.RawMessage) string {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return string(raw)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v := string(fields[k])
		if v == "null" || v == `""` || v == "0" || v == "false" {
			continue
		}
		if len(v) > 80 {
			v = v[:77] + "…"
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strings.Trim(v, `"`))
	}
	return b.String()
}

// violation is one broken invariant found by `renderd verify`.
type violation struct {
	StreamID string `json:"stream_id"`
	Rule     string `json:"rule"`
	Detail   string `json:"detail"`
}

// verifyLimit bounds the report; the count is always exact.
const verifyLimit = 50

// verify checks the invariants over the whole log and reports violations;
// any violation makes it fail.
func verify(ctx context.Context, cfg Config, stdout io.Writer) error {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return verifyLog(ctx, postgres.NewEventStore(pool, eventschema.NewCodec(), nil), stdout)
}

// verifiedLog is what `renderd verify` reads of the event store.
type verifiedLog interface {
	VersionGaps(ctx context.Context) ([]postgres.VersionGap, error)
	EachEventOf(ctx context.Context, t domain.AggregateType, fn func(streamID string, version int64, wireName string) error) error
	Checkpoint(ctx context.Context, name string) (postgres.Checkpoint, error)
	RecordedAfter(ctx context.Context, cp postgres.Checkpoint) (int64, time.Time, error)
}

// verifyLog checks the invariants over store's whole log and reports
// violations to stdout.
func verifyLog(ctx context.Context, store verifiedLog, stdout io.Writer) error {
	started := time.Now()
	var found []violation
	add := func(v violation) { found = append(found, v) }

	// Versions contiguous per stream, from 1.
	gaps, err := store.VersionGaps(ctx)
	if err != nil {
		return fmt.Errorf("verify versions: %w", err)
	}
	for _, g := range gaps {
		add(violation{g.StreamID, "contiguous_versions", fmt.Sprintf("%d events with versions %d..%d", g.Events, g.First, g.Last)})
	}

	// Render lifecycles, stream by stream in version order.
	events, streams, err := checkRenders(ctx, store, add)
	if err != nil {
		return err
	}

	// Every event published: nothing the relay has not shipped, beyond
	// what a running relay is shipping right now.
	cp, err := store.Checkpoint(ctx, relayName)
	if err != nil {
		return err
	}
	unpublished, oldest, err := store.RecordedAfter(ctx, cp)
	if err != nil {
		return fmt.Errorf("verify publication: %w", err)
	}
	if unpublished > 0 && !oldest.IsZero() && time.Since(oldest) > time.Minute {
		add(violation{"", "every_event_published", fmt.Sprintf("%d events not published by the relay, the oldest recorded %s ago",
			unpublished, time.Since(oldest).Round(time.Second))})
	}

	fmt.Fprintf(stdout, "checked %d render events in %d render streams, %d streams' versions, publication up to the relay's checkpoint, in %s\n",
		events, streams, len(gaps), time.Since(started).Round(time.Millisecond))
	if len(found) == 0 {
		fmt.Fprintln(stdout, "no violations")
		return nil
	}
	fmt.Fprintf(stdout, "%d violations:\n", len(found))
	for i, v := range found {
		if i == verifyLimit {
			fmt.Fprintf(stdout, "  … and %d more\n", len(found)-verifyLimit)
			break
		}
		fmt.Fprintf(stdout, "  %-28s %-44s %s\n", v.Rule, v.StreamID, v.Detail)
	}
	return fmt.Errorf("%w: %d invariant violations", errVerify, len(found))
}

// errVerify marks a log that broke an invariant (exit status 1, with the
// report on stdout).
var errVerify = errors.New("the event log breaks its invariants")

// renderTerminal are the stored types that end a render.
var renderTerminal = map[string]bool{eventschema.RenderCompletedV1: true, eventschema.RenderFailedV1: true, eventschema.RenderCancelledV1: true}

// checkRenders walks every render stream: it opens with render.requested,
// reaches at most one terminal event, and nothing follows a terminal event
// but, once each, the expiry of a completed render's output and the
// deletion that ends the stream of a deleted asset's render
// (docs/events.md).
func checkRenders(ctx context.Context, store verifiedLog, add func(violation)) (events, streams int, err error) {
	var (
		current          string
		terminal         string // the stream's terminal event, once seen
		reported         bool
		expired, deleted bool
	)
	err = store.EachEventOf(ctx, domain.AggregateRender, func(id string, v int64, typ string) error {
		events++
		if id != current {
			current, terminal, reported, expired, deleted = id, "", false, false, false
			streams++
			if typ != eventschema.RenderRequestedV1 {
				add(violation{id, "opens_with_render.requested", fmt.Sprintf("v%d is %s", v, typ)})
			}
		}
		switch {
		case typ == eventschema.RenderOutputExpiredV1 && terminal == eventschema.PublicType(eventschema.RenderCompletedV1) && !expired && !deleted:
			expired = true
		case typ == eventschema.RenderDeletedV1 && terminal != "" && !deleted:
			deleted = true
		case typ == eventschema.RenderDeletedV1 && terminal == "":
			// A deletion cancels an unfinished render first.
			add(violation{id, "deleted_only_once_finished", fmt.Sprintf("v%d %s before a terminal event", v, eventschema.PublicType(typ))})
			deleted = true
		case terminal != "" && renderTerminal[typ] && !reported:
			add(violation{id, "at_most_one_terminal_event", fmt.Sprintf("v%d %s after %s", v, eventschema.PublicType(typ), terminal)})
			reported = true
		case terminal != "" && !reported:
			add(violation{id, "nothing_after_a_terminal_event", fmt.Sprintf("v%d %s after %s", v, eventschema.PublicType(typ), terminal)})
			reported = true
		case terminal == "" && renderTerminal[typ]:
			terminal = eventschema.PublicType(typ)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("verify renders: %w", err)
	}
	return events, streams, nil
}
