package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/postgres/pgread"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
)

// RenderHistory returns one of the account's renders' full event history,
// in version order, read from the event store (not a read model: auditors
// get every event, including every progress step), with public data only.
func (q *Queries) RenderHistory(ctx context.Context, accountID, renderID string) ([]projections.HistoryEntry, error) {
	// The codec is an immutable table of this build's wire names; Queries
	// has no field for one (NewQueries takes only the pool), so each call
	// builds its own, which costs far less than the query.
	codec := eventschema.NewCodec()
	rows, err := q.pool.Query(ctx, `
		SELECT event_id::text, event_type, stream_version, occurred_at, data
		FROM events
		WHERE stream_id = $1 AND account_id = $2 AND stream_type = $3
		ORDER BY stream_version`, renderID, accountID, string(domain.AggregateRender))
	if err != nil {
		return nil, fmt.Errorf("history of render %s: %w", renderID, pgread.LookupError(err))
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.HistoryEntry, error) {
		var (
			e        projections.HistoryEntry
			wireName string
			data     []byte
		)
		if err := row.Scan(&e.ID, &wireName, &e.Version, &e.OccurredAt, &data); err != nil {
			return e, err
		}
		e.Type, e.OccurredAt = eventschema.PublicType(wireName), e.OccurredAt.UTC()
		ev, err := codec.Unmarshal(wireName, data)
		if errors.Is(err, eventschema.ErrUnknownEventType) {
			return e, nil // the type is public; its data unknown, hence withheld
		}
		if err != nil {
			return e, fmt.Errorf("v%d: %w", e.Version, err)
		}
		if e.Data, err = projections.PublicData(ev); err != nil {
			return e, fmt.Errorf("v%d: %w", e.Version, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of render %s: %w", renderID, pgread.LookupError(err))
	}
	if len(entries) == 0 || entries[len(entries)-1].Type == eventschema.PublicType(eventschema.RenderDeletedV1) {
		// A render deleted with its asset is gone for the API, its history too.
		return nil, fmt.Errorf("history of render %s: %w", renderID, domain.ErrNotFound)
	}
	return entries, nil
}
