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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
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
	if asset != "" {
		rows, err := pool.Query(ctx, `SELECT stream_id FROM events WHERE event_type = $1 AND data->>'asset_id' = $2
			ORDER BY position`, eventschema.RenderRequestedV1, asset)
		if err != nil {
			return fmt.Errorf("renders of asset %s: %w", asset, err)
		}
		if renderIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("renders of asset %s: %w", asset, err)
		}
		if len(renderIDs) == 0 {
			return fmt.Errorf("asset %s has no renders (or is unknown)", asset)
		}
	}
	for i, id := range renderIDs {
		events, err := streamEvents(ctx, pool, id)
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

func streamEvents(ctx context.Context, pool *pgxpool.Pool, streamID string) ([]auditEvent, error) {
	rows, err := pool.Query(ctx, `SELECT position, event_id::text, stream_id, stream_version, event_type, occurred_at,
			account_id, correlation_id, data::text
		FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", streamID, err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auditEvent, error) {
		var e auditEvent
		var data string
		err := row.Scan(&e.Position, &e.ID, &e.StreamID, &e.Version, &e.WireName, &e.OccurredAt, &e.AccountID, &e.CorrelationID, &data)
		e.Type, e.Data, e.OccurredAt = eventschema.PublicType(e.WireName), json.RawMessage(data), e.OccurredAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", streamID, err)
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
	started := time.Now()
	var found []violation
	add := func(v violation) { found = append(found, v) }

	// Versions contiguous per stream, from 1.
	rows, err := pool.Query(ctx, `SELECT stream_id, count(*), min(stream_version), max(stream_version)
		FROM events GROUP BY stream_id HAVING min(stream_version) <> 1 OR max(stream_version) <> count(*)`)
	if err != nil {
		return fmt.Errorf("verify versions: %w", err)
	}
	type gap struct {
		id            string
		n, first, max int64
	}
	gaps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gap, error) {
		var g gap
		return g, row.Scan(&g.id, &g.n, &g.first, &g.max)
	})
	if err != nil {
		return fmt.Errorf("verify versions: %w", err)
	}
	for _, g := range gaps {
		add(violation{g.id, "contiguous_versions", fmt.Sprintf("%d events with versions %d..%d", g.n, g.first, g.max)})
	}

	// Render lifecycles, stream by stream in version order.
	events, streams, err := checkRenders(ctx, pool, add)
	if err != nil {
		return err
	}

	// Every event published: nothing the relay has not shipped, beyond
	// what a running relay is shipping right now.
	cp, err := postgres.LoadCheckpoint(ctx, pool, relayName)
	if err != nil {
		return err
	}
	var unpublished int64
	var oldest *time.Time
	err = pool.QueryRow(ctx, `SELECT count(*), min(recorded_at) FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2)`, fmt.Sprint(cp.TransactionID), cp.Position).Scan(&unpublished, &oldest)
	if err != nil {
		return fmt.Errorf("verify publication: %w", err)
	}
	if unpublished > 0 && oldest != nil && time.Since(*oldest) > time.Minute {
		add(violation{"", "every_event_published", fmt.Sprintf("%d events not published by the relay, the oldest recorded %s ago",
			unpublished, time.Since(*oldest).Round(time.Second))})
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
// reaches at most one terminal event, and nothing follows a terminal event.
func checkRenders(ctx context.Context, pool *pgxpool.Pool, add func(violation)) (events, streams int, err error) {
	rows, err := pool.Query(ctx, `SELECT stream_id, stream_version, event_type FROM events
		WHERE stream_type = 'render' ORDER BY stream_id, stream_version`)
	if err != nil {
		return 0, 0, fmt.Errorf("verify renders: %w", err)
	}
	defer rows.Close()
	var (
		current  string
		terminal string // the stream's terminal event, once seen
		reported bool
	)
	for rows.Next() {
		var id, typ string
		var v int64
		if err := rows.Scan(&id, &v, &typ); err != nil {
			return 0, 0, fmt.Errorf("verify renders: %w", err)
		}
		events++
		if id != current {
			current, terminal, reported = id, "", false
			streams++
			if typ != eventschema.RenderRequestedV1 {
				add(violation{id, "opens_with_render.requested", fmt.Sprintf("v%d is %s", v, typ)})
			}
		}
		switch {
		case terminal != "" && renderTerminal[typ] && !reported:
			add(violation{id, "at_most_one_terminal_event", fmt.Sprintf("v%d %s after %s", v, eventschema.PublicType(typ), terminal)})
			reported = true
		case terminal != "" && !reported:
			add(violation{id, "nothing_after_a_terminal_event", fmt.Sprintf("v%d %s after %s", v, eventschema.PublicType(typ), terminal)})
			reported = true
		case terminal == "" && renderTerminal[typ]:
			terminal = eventschema.PublicType(typ)
		}
	}
	return events, streams, rows.Err()
}
