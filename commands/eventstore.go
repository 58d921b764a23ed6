// Package commands is renderd's write side: one file per command, each loading
// aggregates, letting the domain decide, and appending the resulting events.
// It declares the small interfaces it needs; adapters implement them.
package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/renderd/renderd/domain"
)

// EventStore is the write side's view of the event store.
type EventStore interface {
	// Transact runs fn in one transaction. Before anything else it takes the
	// per-stream locks of streams (in a fixed global order, so two transactions
	// over overlapping streams cannot deadlock); fn may append only to those
	// streams. Events appended in fn become visible, and reach the outbox,
	// atomically when fn returns nil; any error rolls everything back.
	Transact(ctx context.Context, streams []string, fn func(ctx context.Context, tx Tx) error) error
	// Load returns a stream's events in version order (empty if none).
	Load(ctx context.Context, streamID string) ([]domain.Recorded, error)
}

// Tx is a command transaction: event appends plus the write-side tables that
// must change atomically with them.
//
// Held writes: a write whose only outcome is an error may be held by the
// store and sent with the transaction's next statement or its COMMIT, so
// that a command's writes, its append and its COMMIT share a round trip;
// the methods that may hold say so. A held write returns nil at once; a
// refusal surfaces later, with the typed error it would have had at once
// (ErrQueueFull, ErrUploadInProgress, a *domain.ConflictError, a
// *ConcurrencyError), from the next Tx call that sends a statement or from
// Transact itself, and the whole transaction is rolled back: nothing of it
// is written. A command decides before its held writes, never on their nil.
type Tx interface {
	EventTx
	Credits
	CutIndex
	RenderSignatures
	RenderQueue
	Storage
	MediaQueue
	Erasure
}

// EventTx is the part of the event store usable inside a transaction.
type EventTx interface {
	Load(ctx context.Context, streamID string) ([]domain.Recorded, error)
	// Append appends events to a locked stream if it is at the expected
	// version, and returns them as recorded (the events as a Load would
	// return them). An append that opens a stream (NoStream) may be a held
	// write (Tx): a conflict then surfaces later, as the same
	// *ConcurrencyError, and the records returned carry no Position yet (0).
	Append(ctx context.Context, streamID string, expected ExpectedVersion, meta domain.Metadata, events ...domain.Event) ([]domain.Recorded, error)
}

// ExpectedVersion is what an append expects a stream's current version to be.
// It is a closed set: AnyVersion, NoStream or Exactly(n).
type ExpectedVersion interface {
	// matches reports whether the stream's current version satisfies the
	// expectation (0 is an empty stream).
	matches(current int64) bool
	// version is the exact version expected, or any = true.
	version() (v int64, any bool)
	fmt.Stringer
}

type anyVersion struct{}
type exactVersion int64

func (anyVersion) matches(int64) bool     { return true }
func (anyVersion) version() (int64, bool) { return 0, true }
func (anyVersion) String() string         { return "any" }

func (v exactVersion) matches(current int64) bool { return int64(v) == current }
func (v exactVersion) version() (int64, bool)     { return int64(v), false }
func (v exactVersion) String() string {
	if v == 0 {
		return "no stream"
	}
	return fmt.Sprintf("version %d", int64(v))
}

// AnyVersion appends whatever the stream's version is. Only for streams with
// a single writer, such as tests; commands state what they read.
func AnyVersion() ExpectedVersion { return anyVersion{} }

// NoStream expects the stream not to exist yet.
func NoStream() ExpectedVersion { return exactVersion(0) }

// Exactly expects the stream to be at version v (0 is the same as NoStream).
func Exactly(v int64) ExpectedVersion { return exactVersion(v) }

// Expected returns the exact version e expects, or any = true when e is
// AnyVersion. Event-store implementations outside this package use it to
// check the expectation in their own way (in SQL, say).
func Expected(e ExpectedVersion) (version int64, any bool) { return e.version() }

// Matches reports whether current satisfies e. Event-store implementations
// outside this package use it to decide a conflict.
func Matches(e ExpectedVersion, current int64) bool { return e.matches(current) }

// ErrConcurrencyConflict is matched (errors.Is) by every ConcurrencyError.
var ErrConcurrencyConflict = errors.New("concurrency conflict")

// ConcurrencyError reports an append whose expected version did not hold.
type ConcurrencyError struct {
	StreamID string
	Expected ExpectedVersion
	Actual   int64
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("stream %s: expected %s, found version %d", e.StreamID, e.Expected, e.Actual)
}

func (e *ConcurrencyError) Is(target error) bool { return target == ErrConcurrencyConflict }

// ErrStreamNotLocked is returned when a transaction appends to a stream it did
// not lock up front: that would break per-stream ordering in the outbox.
var ErrStreamNotLocked = errors.New("stream not locked by this transaction")

// LedgerStream is the lock name of an account's credit ledger: a command that
// reads a balance and debits it includes it in Transact's streams.
func LedgerStream(accountID string) string { return "ledger:" + accountID }

// Credits is the account credit ledger (seconds of media), used inside a
// transaction holding the account's LedgerStream lock.
type Credits interface {
	CreditBalance(ctx context.Context, accountID string) (seconds int64, err error)
	// DebitCredits charges seconds of an asset: the first probed part, and
	// the difference when its second part is longer. The asset's stream
	// lock and its asset.charged event keep a charge from being taken twice.
	DebitCredits(ctx context.Context, accountID, assetID string, seconds int64) (entryID string, err error)
	// GrantCredits adds seconds to the balance.
	GrantCredits(ctx context.Context, accountID string, seconds int64) (entryID string, err error)
	// AwaitPayment notes an asset waiting for credits (idempotent); a debit
	// of the asset clears it.
	AwaitPayment(ctx context.Context, accountID, assetID string, seconds int64) error
	// AwaitingPayment lists an account's waiting assets, longest-waiting first.
	AwaitingPayment(ctx context.Context, accountID string) ([]string, error)
}

// Storage is what each account stores (sources and outputs, in bytes)
// against its quota, and the uploads in progress, each reserved before its
// body is read.
type Storage interface {
	// StorageUsed returns the bytes the account stores plus those its
	// unexpired upload reservations may still bring.
	StorageUsed(ctx context.Context, accountID string, now time.Time) (int64, error)
	// WillNeedStorageUsed states, before the transaction's first
	// statement, that StorageUsed will be asked for the account: a store
	// may read it along with that statement instead of in a round trip of
	// its own (see WillNeedNewestRender).
	WillNeedStorageUsed(accountID string, now time.Time)
	// ReserveUpload records an upload of a part in progress, inside a
	// transaction holding the part's asset and the account's StorageStream
	// locks. An unexpired reservation of the same part fails with
	// ErrUploadInProgress; the reservation is a held write (Tx), so the
	// refusal may surface later (callers check UploadInProgress first).
	// Expired reservations of the account (uploaders that vanished) are
	// removed, and the blob keys they named returned so that what arrived
	// of them is deleted.
	ReserveUpload(ctx context.Context, r UploadReservation, now time.Time) (staleBlobKeys []string, err error)
	// UploadInProgress reports whether an unexpired reservation holds the
	// part.
	UploadInProgress(ctx context.Context, assetID string, part domain.AssetPart, now time.Time) (bool, error)
	// EndUpload removes a part's reservation (recorded or given up). It is
	// a held write (Tx).
	EndUpload(ctx context.Context, assetID string, part domain.AssetPart) error
	// ExtendUpload moves the reservation of the upload storing blobKey to
	// until; held is false when it is no longer that upload's.
	ExtendUpload(ctx context.Context, assetID string, part domain.AssetPart, blobKey string, until time.Time) (held bool, err error)
	// AddStorage changes what the account stores by delta bytes. It is a
	// held write (Tx).
	AddStorage(ctx context.Context, accountID string, delta int64) error
}

// UploadReservation is a part of an asset reserved for an upload in
// progress: at most Bytes of it may be stored, under BlobKey, until Expires
// unless extended.
type UploadReservation struct {
	AssetID   string
	AccountID string
	Part      domain.AssetPart
	BlobKey   string
	Bytes     int64
	Expires   time.Time
}

// ErrUploadInProgress reports a part reserved by another upload.
var ErrUploadInProgress = errors.New("an upload of this part is in progress")

// StorageStream is the lock name of an account's storage: reservations
// that check the quota hold it, so two uploads cannot both take the last
// bytes.
func StorageStream(accountID string) string { return "storage:" + accountID }

// CutIndex records which cuts belong to which asset and which are still
// in flight (processing), so that whoever completes an asset's cuts sees
// every cut requested before (cut requests hold the asset's stream lock),
// and a cut request can count what its limits bound.
type CutIndex interface {
	// IndexCut writes the cut's row as the cut now is: its asset and
	// account, whether it is automatic, and whether it is in flight. The
	// cut's transactions call it when they create or decide the cut. It
	// is a held write (Tx).
	IndexCut(ctx context.Context, cut *domain.Cut) error
	// CutsInFlight lists an asset's processing cuts, exact inside a
	// transaction holding the asset's stream lock.
	CutsInFlight(ctx context.Context, assetID string) ([]string, error)
	// AutoCutsInFlight counts an account's processing automatic cuts,
	// exact inside a transaction holding the account's AutoCutsStream lock.
	AutoCutsInFlight(ctx context.Context, accountID string) (int, error)
}

// AutoCutsStream is the lock name of an account's automatic cuts: a request
// for one counts them against the account's limit while holding it, so two
// requests cannot both take the last place. Only automatic cut requests
// take it.
func AutoCutsStream(accountID string) string { return "autocuts:" + accountID }

// CheckAppend is the precondition every store applies to an append: the
// stream is among those the transaction locked, the metadata names an
// account and a time, and every event belongs on the same kind of stream.
// It returns the stream's aggregate type.
func CheckAppend(locked []string, streamID string, meta domain.Metadata, events []domain.Event) (domain.AggregateType, error) {
	if !slices.Contains(locked, streamID) {
		return "", fmt.Errorf("append to %s: %w", streamID, ErrStreamNotLocked)
	}
	if meta.AccountID == "" || meta.OccurredAt.IsZero() {
		return "", errors.New("append: metadata needs an account id and an occurred-at time")
	}
	if len(events) == 0 {
		return "", nil
	}
	t := events[0].AggregateType()
	for _, e := range events[1:] {
		if e.AggregateType() != t {
			return "", fmt.Errorf("append to %s: mixes %s and %s events", streamID, t, e.AggregateType())
		}
	}
	return t, nil
}

// SignatureStream is the lock name of one render signature: concurrent
// identical requests serialise on it, so exactly one creates the render.
func SignatureStream(accountID, signature string) string { return "sig:" + accountID + ":" + signature }

// RenderSignatures reserves content signatures for live renders, inside a
// transaction holding the signature's SignatureStream lock.
type RenderSignatures interface {
	// NewestRender returns the render with the signature that a request
	// meets, and whether it is live: the live one if there is one (a
	// request returns it), else the most recent one in any state (a new
	// render replaces it), else "". One lookup answers both questions.
	NewestRender(ctx context.Context, accountID, signature string) (renderID string, live bool, err error)
	// WillNeedNewestRender states, before the transaction's first
	// statement, that NewestRender will be asked for the signature: a
	// store may look it up along with that statement instead of in a
	// round trip of its own (a render request's lookup then travels with
	// the asset's load), or do nothing. NewestRender answers the same
	// either way.
	WillNeedNewestRender(accountID, signature string)
	// ReserveSignature records a new live render with the signature; a
	// live one already there is a *domain.ConflictError (signature_taken).
	// It is a held write (Tx), as is ReleaseSignature.
	ReserveSignature(ctx context.Context, accountID, signature, renderID string) error
	// ReleaseSignature marks a render as no longer live (failed, cancelled).
	ReleaseSignature(ctx context.Context, renderID string) error
}

// RenderQueue is the encoders' durable work list, changed in the same
// transaction as the render's events: a pending render is queued, a running
// one holds its worker's lease, a finished one is gone. Encoders claim from
// it (so a render whose Kafka message was lost with its consumer is still
// found), and a reaper finds the expired leases in it. Lease renewals
// change only the row, never the stream.
type RenderQueue interface {
	// SetRenderJob writes the render's row; a job in a final state removes
	// it. It is a held write (Tx).
	SetRenderJob(ctx context.Context, job RenderJob) error
	// RenderJob returns the render's row, locked until the transaction ends,
	// or ok = false when the render is not queued or running.
	RenderJob(ctx context.Context, renderID string) (job RenderJob, ok bool, err error)
	// TakeRenderSlot gives a new render one of the account's max places
	// in the queue (pending or running), or fails with ErrQueueFull when
	// every place is taken. Concurrent requests of one account take
	// different places without waiting for each other. The place is freed
	// when the render's job is removed (SetRenderJob of a final state). It
	// is a held write (Tx): a refusal may surface at the transaction's next
	// statement or its COMMIT.
	TakeRenderSlot(ctx context.Context, accountID, renderID string, max int) error
	// RunningRenders counts the account's running renders, inside a
	// transaction holding the account's RunningStream lock.
	RunningRenders(ctx context.Context, accountID string) (int, error)
}

// ErrQueueFull reports that an account has as many renders pending or
// running as it may (TakeRenderSlot).
var ErrQueueFull = errors.New("the account's render queue is full")

// RunningStream is the lock name of an account's running renders: a claim
// that counts them against the account's limit holds it, so two encoders
// cannot both take the last place.
func RunningStream(accountID string) string { return "running:" + accountID }

// RenderJob is a render's place in the RenderQueue.
type RenderJob struct {
	RenderID  string
	AccountID string
	State     domain.RenderState
	// Attempt is the running attempt, or for a pending render the last one
	// claimed (0: none yet).
	Attempt    int
	WorkerID   string    // running only
	LeaseUntil time.Time // running only
	Since      time.Time // when the render entered State
	// TraceParent and TraceState are the trace context of the command that
	// wrote the row (domain.Metadata's): the encoder that claims a pending
	// render continues its request's (or retry's) trace from them.
	TraceParent string
	TraceState  string
}

// PendingRender is a render waiting in the RenderQueue, its account, and
// the trace context its job row carries (RenderJob).
type PendingRender struct {
	RenderID    string
	AccountID   string
	TraceParent string
	TraceState  string
}

// renderJob is r's row in the RenderQueue, written under meta's trace
// context.
func renderJob(r *domain.Render, now time.Time, meta domain.Metadata) RenderJob {
	j := RenderJob{RenderID: r.ID(), AccountID: r.AccountID(), State: r.State(), Attempt: r.Attempt(), Since: now,
		TraceParent: meta.TraceParent, TraceState: meta.TraceState}
	if r.State() == domain.RenderStateRunning {
		j.WorkerID, j.LeaseUntil = r.WorkerID(), r.LeaseUntil()
	}
	return j
}

// Erasure is what deleting an asset (DeleteAsset) and expiring outputs
// (ExpireOutput) change beside the events, in the same transaction
// (docs/renders.md, "Retention and erasure").
type Erasure interface {
	// AssetStreams lists an asset's cuts and renders, exact inside a
	// transaction holding the asset's stream lock: every cut and render
	// request holds it.
	AssetStreams(ctx context.Context, assetID string) (cuts, renders []string, err error)
	// RedactAssetName erases the client's name for the asset from its
	// asset.created event in the event store: the one rewrite of a stored
	// event (docs/events.md, "Erasure"). It is a held write (Tx).
	RedactAssetName(ctx context.Context, assetID string) error
	// QueueBlobRemovals records blobs of the account to remove from the
	// blob store. The encoders drain the queue (encoders.Eraser) and retry
	// a removal until it succeeds, so a blob outlives its deletion only
	// while the store is away. It is a held write (Tx).
	QueueBlobRemovals(ctx context.Context, accountID string, keys ...string) error
}
