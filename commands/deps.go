package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

// Deps are what every command handler needs. Construct once (NewDeps checks
// them) and pass to each handler's constructor.
type Deps struct {
	Store EventStore
	Now   func() time.Time
	// NewID mints an aggregate id with the given prefix ("ast", "cut", …).
	NewID func(prefix string) string
}

// Check reports a missing dependency.
func (d Deps) Check() error {
	if d.Store == nil || d.Now == nil || d.NewID == nil {
		return errors.New("commands: Store, Now and NewID are required")
	}
	return nil
}

// Caller identifies who asked: the account (empty for the system's own
// workers) and the request or event that caused the command.
type Caller struct {
	AccountID     string
	CorrelationID string
	CausationID   string
}

// Written is what a command appended to its main stream: enough for the API
// to wait until the read model shows it.
type Written struct {
	StreamID string
	Version  int64
	// Events are what the command appended, ending at Version; none when
	// it appended nothing (a repeat), and Version is the stream's as it
	// found it.
	Events []domain.Recorded
}

// meta is the metadata of the events a command records: the caller's, and
// the trace context of the command's span (transact), so that whoever
// handles the events continues the command's trace (docs/events.md,
// ce_traceparent).
func (d Deps) meta(ctx context.Context, c Caller, accountID string) domain.Metadata {
	tp, ts := telemetry.Carry(ctx)
	return domain.Metadata{AccountID: accountID, CorrelationID: c.CorrelationID, CausationID: c.CausationID, OccurredAt: d.Now(),
		TraceParent: tp, TraceState: ts}
}

// transact runs fn in one transaction of the store (EventStore.Transact)
// inside a span named after the command, whose trace the recorded events
// and render jobs carry on (meta, renderJob).
func (d Deps) transact(ctx context.Context, span string, streams []string, fn func(ctx context.Context, tx Tx) error) error {
	ctx, sp := telemetry.Start(ctx, span)
	err := d.Store.Transact(ctx, streams, fn)
	telemetry.End(sp, err)
	return err
}

// streamLoader loads a stream: the store, or a transaction of it.
type streamLoader interface {
	Load(ctx context.Context, streamID string) ([]domain.Recorded, error)
}

// load loads an aggregate of type typ that the caller may see: another
// account's aggregate is reported exactly like a missing one, and so is a
// stream of another type (a render id where an asset id belongs).
//
// A deleted aggregate is not found either: only DeleteAsset sees it
// (loadDeleted), to answer a repeated deletion as the first.
func load[A deletable](ctx context.Context, tx streamLoader, c Caller, typ domain.AggregateType, id string,
	rebuild func([]domain.Recorded) (A, error)) (A, error) {
	a, err := loadDeleted(ctx, tx, c, typ, id, rebuild)
	if err == nil && a.Deleted() {
		var none A
		return none, fmt.Errorf("%s %s was deleted: %w", typ, id, domain.ErrNotFound)
	}
	return a, err
}

// deletable is an aggregate of an account that its asset's deletion ends.
type deletable interface {
	AccountID() string
	Deleted() bool
}

// loadDeleted is load that also returns a deleted aggregate.
func loadDeleted[A deletable](ctx context.Context, tx streamLoader, c Caller, typ domain.AggregateType, id string,
	rebuild func([]domain.Recorded) (A, error)) (A, error) {
	var none A
	recs, err := tx.Load(ctx, id)
	if err != nil {
		return none, err
	}
	if err := ofType(recs, typ, id); err != nil {
		return none, err
	}
	a, err := rebuild(recs)
	if err != nil {
		return none, fmt.Errorf("%s %s: %w", typ, id, err)
	}
	if c.AccountID != "" && a.AccountID() != c.AccountID {
		return none, fmt.Errorf("%s %s: %w", typ, id, domain.ErrNotFound)
	}
	return a, nil
}

// loadAsset, loadCut and loadRender load an aggregate the caller may see
// (load).

func loadAsset(ctx context.Context, tx streamLoader, c Caller, id string) (*domain.Asset, error) {
	return load(ctx, tx, c, domain.AggregateAsset, id, domain.RebuildAsset)
}

func loadCut(ctx context.Context, tx streamLoader, c Caller, id string) (*domain.Cut, error) {
	return load(ctx, tx, c, domain.AggregateCut, id, domain.RebuildCut)
}

func loadRender(ctx context.Context, tx streamLoader, c Caller, id string) (*domain.Render, error) {
	return load(ctx, tx, c, domain.AggregateRender, id, domain.RebuildRender)
}

// appendChanges appends an aggregate's new events, expecting the version it
// was loaded at.
func appendChanges(ctx context.Context, tx Tx, id string, loadedAt int64, meta domain.Metadata, changes []domain.Event) (Written, error) {
	if len(changes) == 0 {
		return Written{StreamID: id, Version: loadedAt}, nil
	}
	recs, err := tx.Append(ctx, id, Exactly(loadedAt), meta, changes...)
	if err != nil {
		return Written{}, err
	}
	return Written{StreamID: id, Version: recs[len(recs)-1].StreamVersion, Events: recs}, nil
}

// settle charges an asset that waits to be paid for, or records that its
// account lacks the credits. The transaction holds the asset's stream and
// its account's ledger lock.
func settle(ctx context.Context, tx Tx, a *domain.Asset, now time.Time) error {
	seconds, due := a.NeedsCharge()
	if !due {
		return nil
	}
	balance, err := tx.CreditBalance(ctx, a.AccountID())
	if err != nil {
		return err
	}
	if balance < seconds {
		if err := tx.AwaitPayment(ctx, a.AccountID(), a.ID(), seconds); err != nil {
			return err
		}
		a.RequirePayment(seconds, max(balance, 0), now)
		return nil
	}
	entry, err := tx.DebitCredits(ctx, a.AccountID(), a.ID(), seconds)
	if err != nil {
		return err
	}
	return a.Charge(seconds, entry, now)
}

// ofType reports a stream of another aggregate type as not found: its
// events would not rebuild the aggregate the caller asked for.
func ofType(recs []domain.Recorded, want domain.AggregateType, id string) error {
	if len(recs) > 0 && recs[0].StreamType != want {
		return fmt.Errorf("%s %s: %w", want, id, domain.ErrNotFound)
	}
	return nil
}
