package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	json "github.com/segmentio/encoding/json"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// RenderView is a render as the API shows it.
type RenderView struct {
	ID        string
	AccountID string
	AssetID   string
	CutID     string // "" for a full-source render
	State     domain.RenderState
	Output    OutputView // as requested
	Plan      PlanView   // as resolved against the source
	// Attempt is the current (or last) attempt; 0 until an encoder first
	// claims the render. A retry starts the next attempt at progress 0.
	Attempt  int
	Progress int           // 0-100; 100 only once completed
	ETA      time.Duration // the encoder's estimate of the time left; 0 when it gave none
	// Failure is set once failed. Its message is the public one for its code
	// (see publicFailureMessage), never the encoder's own words.
	Failure  *FailureView
	Replaces string // the failed or cancelled render this one replaced, if any
	Result   *RenderResultView
	// Times of the lifecycle; zero until they happen. StartedAt is the start
	// of the current (or last) attempt.
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	FailedAt    time.Time
	CancelledAt time.Time
	UpdatedAt   time.Time
	Version     int64 // the last event of the render's stream this view reflects
}

// OutputView is the output exactly as the client asked for it: zero values
// are omitted fields (Auto for bitrates, the source size for resolution).
type OutputView struct {
	Format       domain.Format
	Resolution   domain.Resolution
	VideoBitrate int // Mbps
	AudioBitrate int // kbps
}

// PlanView is the output resolved against the source. Width, Height and
// VideoBitrate are zero for audio formats; Segments is nil for a
// full-source render.
type PlanView struct {
	Width        int
	Height       int
	VideoBitrate int64 // bits per second
	AudioBitrate int64 // bits per second
	Segments     []Segment
	Duration     time.Duration
}

// RenderResultView is the verified deliverable of a completed render.
type RenderResultView struct {
	// BlobKey is where the deliverable is stored. The API mints download
	// URLs from it and must never show it.
	BlobKey      string
	SizeBytes    int64
	Duration     time.Duration
	Width        int   // 0 for audio
	Height       int   // 0 for audio
	VideoBitrate int64 // bits per second; 0 for audio
	AudioBitrate int64 // bits per second
	EncodeTime   time.Duration
	FastPath     bool // remuxed without re-encoding
}

// RenderProjector keeps the render read model (rm_renders) up to date.
//
// A render's stream is long: one render.progressed per progress step, so
// replaying the whole stream for every event, as the asset and cut
// projectors do, would cost O(n) per event and O(n²) per render. When the
// row is exactly one version behind, the event is applied to the row itself
// (nextRenderView), and a stream's opening event builds the row on its own;
// in every other case (a gap, a row lost to a Rebuild, an event that does
// not fit the row's state) the row is rebuilt from the event store with
// domain.RebuildRender, through the same projector code as assets and cuts.
type RenderProjector struct{ p *projector }

// NewRenderProjector returns the projector of render events.
func NewRenderProjector(pool *pgxpool.Pool, events EventLoader, log *slog.Logger) *RenderProjector {
	return &RenderProjector{p: &projector{pool: pool, events: events, log: log.With("projection", "renders"), model: readModel{
		streamType: domain.AggregateRender,
		table:      "rm_renders",
		write: func(ctx context.Context, tx execer, history []domain.Recorded) (bool, error) {
			v, err := renderView(history)
			if err != nil {
				return false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
			}
			return upsertRender(ctx, tx, v)
		},
	}}}
}

// Handle projects one render event: the next one onto the row, anything
// else from the event store (see projector.project for those rules).
func (r *RenderProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	if rec.StreamType == domain.AggregateRender {
		done, err := r.applyNext(ctx, rec)
		if err != nil || done {
			return err
		}
	}
	return r.p.handle(ctx, rec)
}

// replay makes Rebuild use the rebuilding path: it starts from empty
// tables and hands over only each stream's last event of a batch.
func (r *RenderProjector) replay() *projector { return r.p }

// applyNext projects rec onto its row when the row is at rec's version - 1
// and rec is a transition nextRenderView knows, or creates the row from a
// stream's first event when there is none, and reports whether it
// handled rec (a redelivery counts: there is nothing to do). When it did
// not, it has changed nothing and the caller rebuilds the row instead.
//
// It is on the path of every write's read-your-writes wait, and its
// transaction holds back the relay's commit-safe read while it runs, so it
// takes two round trips: BEGIN, the row's lock and the event store's check
// in one batch; the write, the notification and COMMIT in the other. A
// stream's opening event, every POST's, takes one (create).
func (r *RenderProjector) applyNext(ctx context.Context, rec domain.Recorded) (handled bool, err error) {
	fail := func(err error) error {
		return fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	conn, err := r.p.pool.Acquire(ctx)
	if err != nil {
		return false, fail(err)
	}
	committed := false
	defer func() {
		if !committed { // nothing to write, or a failure: the connection stays usable
			_, _ = conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
		}
		conn.Release()
	}()
	if rec.StreamVersion == 1 && rec.ID != "" {
		created, err := r.create(ctx, conn, rec)
		if err != nil {
			return false, fail(err)
		}
		if created {
			committed = true
			return true, nil
		}
		// Not created: the row is there (a redelivery), or the store does
		// not hold rec; the checks below tell which.
	}
	open := &pgx.Batch{}
	open.Queue(`BEGIN`)
	// FOR UPDATE, as in projector.project: it serialises this with a Rebuild
	// or a second consumer working on the same stream.
	var cur RenderView
	found := false
	open.Queue(`SELECT `+renderColumns+` FROM rm_renders WHERE id = $1 FOR UPDATE`, rec.StreamID).Query(func(rows pgx.Rows) error {
		v, err := pgx.CollectExactlyOneRow(rows, scanRender)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		cur, found = v, err == nil
		return err
	})
	// The event store must hold rec, as projector.history makes sure for the
	// rebuilding path: a message from another store (a misconfigured topic
	// prefix) must not be applied. One index lookup, not a load of the stream.
	var stored string
	open.Queue(`SELECT event_id::text FROM events WHERE stream_id = $1 AND stream_version = $2`,
		rec.StreamID, rec.StreamVersion).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := conn.SendBatch(ctx, open).Close(); err != nil {
		return false, fail(err)
	}
	var next RenderView
	switch {
	case !found && rec.StreamVersion == 1:
		// The stream's opening event is its whole history: the domain
		// builds the row from it, with no load from the store.
		if next, err = renderView([]domain.Recorded{rec}); err != nil {
			return false, fail(fmt.Errorf("%w: %w", ErrUnprojectable, err))
		}
	case !found:
		return false, nil // a row lost to a Rebuild's truncation, or a gap before it
	case rec.StreamVersion <= cur.Version:
		r.p.log.Debug("event already projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "row_version", cur.Version)
		return true, nil
	case rec.StreamVersion != cur.Version+1:
		return false, nil // a gap: the store has the events in between
	default:
		var ok bool
		if next, ok = nextRenderView(cur, rec); !ok {
			return false, nil
		}
	}
	switch {
	case stored == "":
		return false, fail(fmt.Errorf("the event store does not hold that version: %w", ErrUnprojectable))
	case rec.ID != "" && stored != rec.ID:
		return false, fail(fmt.Errorf("event %s is not the store's event %s at that version: %w", rec.ID, stored, ErrUnprojectable))
	}
	row, err := renderRow(next)
	if err != nil {
		return false, err
	}
	write := &pgx.Batch{}
	write.Queue(upsertSQL(row.table, row.columns), row.values...)
	write.Queue(`SELECT pg_notify($1, $2)`, ProjectedChannel, fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion))
	write.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, write).Close(); err != nil {
		return false, fail(err)
	}
	committed = true
	r.p.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	return true, nil
}

// create projects a stream's opening event in one round trip, when there
// is no row yet and the event store holds rec, and reports whether it did.
// It is the first case of applyNext without the row lock: a row inserted
// concurrently makes it insert nothing.
func (r *RenderProjector) create(ctx context.Context, conn *pgxpool.Conn, rec domain.Recorded) (bool, error) {
	v, err := renderView([]domain.Recorded{rec})
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
	}
	row, err := renderRow(v)
	if err != nil {
		return false, err
	}
	// One statement, so its own transaction: the insert, its notification
	// and the commit go in one round trip without BEGIN and COMMIT.
	tag, err := conn.Exec(ctx, createSQL(row.table, row.columns), append(row.values, rec.ID, fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion))...)
	if err != nil {
		return false, err
	}
	created := tag.RowsAffected() == 1 // SELECT 1: a row was inserted and announced
	if created {
		r.p.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	}
	return created, nil
}

// RenderViewOf is the view of a render whose history (versions 1..n) is
// history: the row a projector writes for it.
func RenderViewOf(history []domain.Recorded) (RenderView, error) { return renderView(history) }

// renderView builds the view of a render from its history (versions 1..n)
// through the domain. It is the reference the incremental path
// (nextRenderView) must agree with.
func renderView(history []domain.Recorded) (RenderView, error) {
	if _, ok := history[0].Event.(domain.RenderRequested); !ok {
		return RenderView{}, fmt.Errorf("render %s: the stream opens with %T, not a request", history[0].StreamID, history[0].Event)
	}
	r, err := domain.RebuildRender(history)
	if err != nil {
		return RenderView{}, err
	}
	req := r.Requested()
	v := RenderView{
		ID:        r.ID(),
		AccountID: r.AccountID(),
		AssetID:   req.AssetID,
		CutID:     req.CutID,
		State:     r.State(),
		Output:    outputView(req.Output),
		Plan:      planView(req.Plan),
		Attempt:   r.Attempt(),
		Progress:  r.Progress(),
		ETA:       r.ETA(),
		Replaces:  req.Replaces,
		Result:    resultView(r.Result()),
		CreatedAt: r.CreatedAt(),
		StartedAt: r.StartedAt(),
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   r.Version(),
	}
	if f := r.Failure(); f != nil {
		v.Failure = renderFailure(f.Code)
	}
	switch r.State() {
	case domain.RenderStateCompleted:
		v.CompletedAt = r.FinishedAt()
	case domain.RenderStateFailed:
		v.FailedAt = r.FinishedAt()
	case domain.RenderStateCancelled:
		v.CancelledAt = r.FinishedAt()
	}
	return v, nil
}

// nextRenderView applies the event after v (v.Version+1) to v, and reports
// false when it will not: then the row is rebuilt through the domain.
//
// Why a fold over the view and not the domain: domain.Render can only be
// loaded from its history (RebuildRender), and rebuilding one from the row
// would mean inventing a history that never happened. So this mirrors
// domain.Render's apply, but only for the transitions the domain's own
// commands record (Start from pending, progress of the running attempt,
// Complete/Fail/Retry of it, Cancel of a live render). Anything else, say a
// progress event of another attempt, goes through the domain, so the
// domain stays the judge of every unusual history. The tests fold long
// histories both ways and compare the rows.
func nextRenderView(v RenderView, rec domain.Recorded) (RenderView, bool) {
	at := rec.OccurredAt
	running := v.State == domain.RenderStateRunning
	switch e := rec.Event.(type) {
	case domain.RenderStarted:
		if v.State != domain.RenderStatePending {
			return v, false
		}
		v.State, v.Attempt, v.StartedAt = domain.RenderStateRunning, e.Attempt, at
		v.Progress, v.ETA = 0, 0
	case domain.RenderProgressed:
		if !running || e.Attempt != v.Attempt {
			return v, false
		}
		v.Progress, v.ETA = e.Percent, e.ETA
	case domain.RenderCompleted:
		if !running || e.Attempt != v.Attempt {
			return v, false
		}
		v.State, v.Progress, v.ETA, v.CompletedAt = domain.RenderStateCompleted, 100, 0, at
		v.Result = resultView(&e)
	case domain.RenderFailed:
		if !running || e.Attempt != v.Attempt {
			return v, false
		}
		v.State, v.FailedAt, v.Failure = domain.RenderStateFailed, at, renderFailure(e.Code)
	case domain.RenderCancelled:
		if v.State != domain.RenderStatePending && !running {
			return v, false
		}
		v.State, v.CancelledAt = domain.RenderStateCancelled, at
	case domain.RenderRetried:
		if !running || e.Attempt != v.Attempt+1 {
			return v, false
		}
		// The render waits for attempt e.Attempt; v.Attempt stays the last
		// one claimed until Start claims the next, as in the domain.
		v.State, v.Progress, v.ETA = domain.RenderStatePending, 0, 0
	default:
		return v, false // render.requested opens a stream: there is no row before it
	}
	v.Version, v.UpdatedAt = rec.StreamVersion, at
	return v, true
}

// renderFailure is a failure as clients see it: the code, and the public
// message for it.
func renderFailure(code string) *FailureView {
	return &FailureView{Code: code, Message: publicFailureMessage(code)}
}

// publicFailureMessage is the message clients see for a render's failure
// code, in the read model and in the render's history alike.
//
// The encoder's own message is not shown: it is free text that may quote
// ffmpeg's stderr, and with it file paths and worker details
// (docs/renders.md, "What clients see of a failure"). Telling a harmless
// message from a leaking one after the fact is guesswork, so the message is
// derived from the code alone, which is the stable, public part. The encoder's words
// stay in the event store for operators.
func publicFailureMessage(code string) string {
	if m, ok := publicFailureMessages[code]; ok {
		return m
	}
	if code == "" {
		return "the render failed"
	}
	return "the render failed: " + strings.ReplaceAll(code, "_", " ")
}

// publicFailureMessages explain the encoder's failure codes.
var publicFailureMessages = map[string]string{
	"source_unreadable": "the render failed: the source media could not be read",
	"encode_failed":     "the render failed: ffmpeg could not encode the source; a retry may succeed",
	"output_invalid":    "the render failed: the encoded file did not match the plan when verified",
	"timeout":           "the render failed: encoding took longer than allowed for the media's duration",
	"encoder_crashed":   "the render failed: the encoder stopped responding during three attempts",
}

func outputView(o domain.OutputSpec) OutputView {
	return OutputView{Format: o.Format, Resolution: o.Resolution, VideoBitrate: o.VideoBitrate, AudioBitrate: o.AudioBitrate}
}

func planView(p domain.RenderPlan) PlanView {
	return PlanView{Width: p.Width, Height: p.Height, VideoBitrate: p.VideoBitrate, AudioBitrate: p.AudioBitrate,
		Segments: segments(p.Segments), Duration: p.Duration}
}

func resultView(c *domain.RenderCompleted) *RenderResultView {
	if c == nil {
		return nil
	}
	return &RenderResultView{BlobKey: c.BlobKey, SizeBytes: c.SizeBytes, Duration: c.Duration, Width: c.Width,
		Height: c.Height, VideoBitrate: c.VideoBitrate, AudioBitrate: c.AudioBitrate, EncodeTime: c.EncodeTime,
		FastPath: c.FastPath}
}

// outputRow is the stored shape of the output column: the API's shape, with
// omitted fields left out.
type outputRow struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

// planRow is the stored shape of the plan column.
type planRow struct {
	Width        int          `json:"width"`
	Height       int          `json:"height"`
	VideoBitrate int64        `json:"video_bitrate_bps"`
	AudioBitrate int64        `json:"audio_bitrate_bps"`
	Segments     []segmentRow `json:"segments,omitempty"`
	DurationNS   int64        `json:"duration_ns"`
}

const renderColumns = `id, account_id, asset_id, cut_id, state, output, plan, attempt, progress, eta_ns,
	failure_code, failure_message, replaces, result_blob_key, result_size_bytes, result_duration_ns,
	result_width, result_height, result_video_bitrate_bps, result_audio_bitrate_bps, result_encode_ns,
	result_fast_path, created_at, started_at, completed_at, failed_at, cancelled_at, updated_at, version`

// renderRow is v as a row of rm_renders.
func renderRow(v RenderView) (dbRow, error) {
	what := fmt.Sprintf("render %s v%d", v.ID, v.Version)
	output, err := json.Marshal(outputRow{Format: string(v.Output.Format), Resolution: string(v.Output.Resolution),
		VideoBitrate: v.Output.VideoBitrate, AudioBitrate: v.Output.AudioBitrate})
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: output: %w", what, err)
	}
	plan, err := json.Marshal(planRow{Width: v.Plan.Width, Height: v.Plan.Height, VideoBitrate: v.Plan.VideoBitrate,
		AudioBitrate: v.Plan.AudioBitrate, Segments: segmentsToRow(v.Plan.Segments), DurationNS: int64(v.Plan.Duration)})
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: plan: %w", what, err)
	}
	code, message := failureColumns(v.Failure)
	var res struct {
		blobKey                            *string
		size, duration, vbr, abr, encodeNS *int64
		width, height                      *int
		fastPath                           *bool
	}
	if r := v.Result; r != nil {
		d, e := int64(r.Duration), int64(r.EncodeTime)
		res.blobKey, res.size, res.duration, res.width, res.height = &r.BlobKey, &r.SizeBytes, &d, &r.Width, &r.Height
		res.vbr, res.abr, res.encodeNS, res.fastPath = &r.VideoBitrate, &r.AudioBitrate, &e, &r.FastPath
	}
	return dbRow{table: "rm_renders", columns: renderColumns, what: what, values: []any{
		v.ID, v.AccountID, v.AssetID, nullString(v.CutID), string(v.State), output, plan, v.Attempt, v.Progress,
		nullDuration(v.ETA), code, message, nullString(v.Replaces), res.blobKey, res.size, res.duration,
		res.width, res.height, res.vbr, res.abr, res.encodeNS, res.fastPath,
		v.CreatedAt, nullTime(v.StartedAt), nullTime(v.CompletedAt), nullTime(v.FailedAt), nullTime(v.CancelledAt),
		v.UpdatedAt, v.Version}}, nil
}

// upsertRender writes v unless the row already reflects v.Version or later,
// and reports whether it wrote.
func upsertRender(ctx context.Context, tx execer, v RenderView) (bool, error) {
	r, err := renderRow(v)
	if err != nil {
		return false, err
	}
	return upsert(ctx, tx, r)
}

func scanRender(row pgx.CollectableRow) (RenderView, error) { return scanRenderRow(row) }

// scanRenderRow scans a row of head's columns followed by renderColumns.
func scanRenderRow(row pgx.CollectableRow, head ...any) (RenderView, error) {
	var (
		v                                             RenderView
		cutID, replaces, code, message, blobKey       *string
		state                                         string
		output, plan                                  []byte
		etaNS, size, durationNS, vbr, abr, encodeNS   *int64
		width, height                                 *int
		fastPath                                      *bool
		startedAt, completedAt, failedAt, cancelledAt *time.Time
	)
	err := row.Scan(append(head, &v.ID, &v.AccountID, &v.AssetID, &cutID, &state, &output, &plan, &v.Attempt, &v.Progress, &etaNS,
		&code, &message, &replaces, &blobKey, &size, &durationNS, &width, &height, &vbr, &abr, &encodeNS, &fastPath,
		&v.CreatedAt, &startedAt, &completedAt, &failedAt, &cancelledAt, &v.UpdatedAt, &v.Version)...)
	if err != nil {
		return v, err
	}
	var out outputRow
	if err := json.Unmarshal(output, &out); err != nil {
		return v, fmt.Errorf("render %s: output: %w", v.ID, err)
	}
	var p planRow
	if err := json.Unmarshal(plan, &p); err != nil {
		return v, fmt.Errorf("render %s: plan: %w", v.ID, err)
	}
	v.State = domain.RenderState(state)
	v.CutID, v.Replaces = deref(cutID), deref(replaces)
	v.Output = OutputView{Format: domain.Format(out.Format), Resolution: domain.Resolution(out.Resolution),
		VideoBitrate: out.VideoBitrate, AudioBitrate: out.AudioBitrate}
	v.Plan = PlanView{Width: p.Width, Height: p.Height, VideoBitrate: p.VideoBitrate, AudioBitrate: p.AudioBitrate,
		Segments: segmentsFromRow(p.Segments), Duration: time.Duration(p.DurationNS)}
	v.ETA = time.Duration(deref(etaNS))
	v.Failure = failureFromColumns(code, message)
	if blobKey != nil {
		v.Result = &RenderResultView{BlobKey: *blobKey, SizeBytes: deref(size), Duration: time.Duration(deref(durationNS)),
			Width: deref(width), Height: deref(height), VideoBitrate: deref(vbr), AudioBitrate: deref(abr),
			EncodeTime: time.Duration(deref(encodeNS)), FastPath: deref(fastPath)}
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	v.StartedAt, v.CompletedAt = derefTime(startedAt), derefTime(completedAt)
	v.FailedAt, v.CancelledAt = derefTime(failedAt), derefTime(cancelledAt)
	return v, nil
}

// nullString, nullDuration and nullTime store a zero value as SQL NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullDuration(d time.Duration) *int64 {
	if d == 0 {
		return nil
	}
	ns := int64(d)
	return &ns
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// deref reads a nullable column; NULL is the zero value.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// RenderFilter narrows a list of renders; empty fields do not filter.
type RenderFilter struct {
	AssetID string
	State   string // pending, running, completed, failed or cancelled
}

// Render returns one of the account's renders.
//
// Clients poll a render until it finishes, so Render keeps the views it read
// (renderCache) and, for one it has, asks Postgres only for the row's
// current tuple version (tupleChecker, one query for the GETs asking at
// once): the view is served when the row is unchanged
// (every write of a row, a projector's, a rebuild's or a swap's, makes a
// new tuple), and read again when not. A GET never sees an older state than
// the table holds. The view returned is shared: callers must not modify it.
func (q *Queries) Render(ctx context.Context, accountID, id string) (RenderView, error) {
	if c, ok := q.renders.get(id); ok && c.view.AccountID == accountID {
		tuple, found, err := q.tuples.check(ctx, accountID, id)
		switch {
		case err != nil:
			return RenderView{}, fmt.Errorf("render %s: %w", id, err)
		case !found:
			q.renders.drop(id)
			return RenderView{}, fmt.Errorf("render %s: %w", id, ErrNotFound)
		case tuple == c.tuple:
			return c.view, nil
		}
	}
	var tuple uint32
	rows, err := q.pool.Query(ctx, `SELECT xmin, `+renderColumns+` FROM rm_renders WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return RenderView{}, fmt.Errorf("render %s: %w", id, lookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (RenderView, error) {
		return scanRenderRow(row, &tuple)
	})
	if noRow(err) {
		return RenderView{}, fmt.Errorf("render %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return RenderView{}, fmt.Errorf("render %s: %w", id, err)
	}
	q.renders.put(id, cachedRender{tuple: tuple, view: v})
	return v, nil
}

// ListRenders returns a page of the account's renders, newest first, and the
// cursor of the next page ("" after the last), like ListAssets. A state
// filter that is not a render state is a *domain.ValidationError for the
// field "state"; an asset filter naming an asset that is unknown or another
// account's is ErrNotFound (as for ListCuts). A cursor is bound to the
// filters it was returned for: reused with others, it is ErrBadCursor
// rather than a page of a different list.
func (q *Queries) ListRenders(ctx context.Context, accountID string, f RenderFilter, page Page) ([]RenderView, string, error) {
	switch domain.RenderState(f.State) {
	case "", domain.RenderStatePending, domain.RenderStateRunning, domain.RenderStateCompleted,
		domain.RenderStateFailed, domain.RenderStateCancelled:
	default:
		return nil, "", fmt.Errorf("list renders: %w", &domain.ValidationError{Field: "state",
			Message: fmt.Sprintf("%q is not a render state: use pending, running, completed, failed or cancelled", f.State)})
	}
	inner, err := f.unwrapCursor(page.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list renders: %w", err)
	}
	page.Cursor = inner
	base, args := `SELECT `+renderColumns+` FROM rm_renders WHERE account_id = $1`, []any{accountID}
	if f.AssetID != "" {
		var exists bool
		err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_assets WHERE id = $1 AND account_id = $2)`, f.AssetID, accountID).Scan(&exists)
		if err != nil {
			return nil, "", fmt.Errorf("list renders of %s: %w", f.AssetID, lookupError(err))
		}
		if !exists {
			return nil, "", fmt.Errorf("list renders of %s: asset: %w", f.AssetID, ErrNotFound)
		}
		args = append(args, f.AssetID)
		base += fmt.Sprintf(` AND asset_id = $%d`, len(args))
	}
	if f.State != "" {
		args = append(args, f.State)
		base += fmt.Sprintf(` AND state = $%d`, len(args))
	}
	list, next, err := listPage(ctx, q.pool, page, scanRender, base, args,
		func(v RenderView) cursor { return cursor{v.CreatedAt, v.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("list renders: %w", err)
	}
	return list, f.wrapCursor(next), nil
}

// wrapCursor binds a keyset cursor to the filters (bindCursor).
func (f RenderFilter) wrapCursor(keyset string) string {
	return bindCursor("asset_id="+f.AssetID+"\x00state="+f.State, keyset)
}

func (f RenderFilter) unwrapCursor(c string) (string, error) {
	return unbindCursor("asset_id="+f.AssetID+"\x00state="+f.State, c, "keep asset_id and state")
}

// HistoryEntry is one event of a render's history as auditors see it: the
// public, unversioned type ("render.completed") and the public part of the
// event's data. The JSON tags are the API's shape.
type HistoryEntry struct {
	ID         string    `json:"id"` // the event id, as in the CloudEvent's id
	Type       string    `json:"type"`
	Version    int64     `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
	// Data is one of the Render*Data types; nil for an event this build does
	// not know (written by a newer one): its data may hold anything.
	Data HistoryData `json:"data"`
}

// HistoryData is the public data of one render event. Only this package
// implements it.
type HistoryData interface{ historyData() }

// RenderRequestedData is render.requested without the signature (an
// internal idempotency key).
type RenderRequestedData struct {
	AssetID  string           `json:"asset_id"`
	CutID    string           `json:"cut_id,omitempty"`
	Output   RenderOutputData `json:"output"`
	Plan     RenderPlanData   `json:"plan"`
	Replaces string           `json:"replaces,omitempty"`
}

// RenderOutputData is the output as requested, in the API's shape.
type RenderOutputData struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

// RenderPlanData is the resolved output, bitrates in bits per second.
type RenderPlanData struct {
	Width           int           `json:"width,omitempty"`
	Height          int           `json:"height,omitempty"`
	VideoBitrateBPS int64         `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBPS int64         `json:"audio_bitrate_bps,omitempty"`
	Segments        []SegmentData `json:"segments,omitempty"`
	DurationSeconds float64       `json:"duration_seconds"`
}

// SegmentData is a kept segment in seconds, as the cuts API takes them.
type SegmentData struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// RenderStartedData is render.started without the worker id and its lease.
type RenderStartedData struct {
	Attempt int `json:"attempt"`
}

// RenderProgressedData is render.progressed.
type RenderProgressedData struct {
	Attempt         int     `json:"attempt"`
	Percent         int     `json:"percent"`
	ETASeconds      float64 `json:"eta_seconds"`
	PositionSeconds float64 `json:"position_seconds"`
}

// RenderCompletedData is render.completed without the blob key (a storage
// path; clients download through GET /v1/renders/{id}).
type RenderCompletedData struct {
	Attempt         int     `json:"attempt"`
	SizeBytes       int64   `json:"size_bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	VideoBitrateBPS int64   `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBPS int64   `json:"audio_bitrate_bps,omitempty"`
	EncodeSeconds   float64 `json:"encode_seconds"`
	FastPath        bool    `json:"fast_path"`
}

// RenderFailedData is render.failed with the public message for its code
// in place of the encoder's (see publicFailureMessage).
type RenderFailedData struct {
	Attempt   int    `json:"attempt"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// RenderCancelledData is render.cancelled; attempt 0: none had started.
type RenderCancelledData struct {
	Attempt int `json:"attempt"`
}

// RenderRetriedData is render.retried without its reason, which is an
// operator's note (a lost lease names the worker that lost it).
type RenderRetriedData struct {
	Attempt int `json:"attempt"` // the attempt the render now waits for
}

func (RenderRequestedData) historyData()  {}
func (RenderStartedData) historyData()    {}
func (RenderProgressedData) historyData() {}
func (RenderCompletedData) historyData()  {}
func (RenderFailedData) historyData()     {}
func (RenderCancelledData) historyData()  {}
func (RenderRetriedData) historyData()    {}

// RenderHistory returns one of the account's renders' full event history,
// in version order, read from the event store (not a read model: auditors
// get every event, including every progress step), with public data only.
func (q *Queries) RenderHistory(ctx context.Context, accountID, renderID string) ([]HistoryEntry, error) {
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
		return nil, fmt.Errorf("history of render %s: %w", renderID, lookupError(err))
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HistoryEntry, error) {
		var (
			e        HistoryEntry
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
		if e.Data, err = publicData(ev); err != nil {
			return e, fmt.Errorf("v%d: %w", e.Version, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of render %s: %w", renderID, lookupError(err))
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("history of render %s: %w", renderID, ErrNotFound)
	}
	return entries, nil
}

// publicData maps a render event to its public data, field by field: a
// field added to an event stays private until it is added here.
func publicData(ev domain.Event) (HistoryData, error) {
	switch e := ev.(type) {
	case domain.RenderRequested:
		d := RenderRequestedData{AssetID: e.AssetID, CutID: e.CutID, Replaces: e.Replaces,
			Output: RenderOutputData{Format: string(e.Output.Format), Resolution: string(e.Output.Resolution),
				VideoBitrate: e.Output.VideoBitrate, AudioBitrate: e.Output.AudioBitrate},
			Plan: RenderPlanData{Width: e.Plan.Width, Height: e.Plan.Height, VideoBitrateBPS: e.Plan.VideoBitrate,
				AudioBitrateBPS: e.Plan.AudioBitrate, DurationSeconds: e.Plan.Duration.Seconds()}}
		for _, s := range e.Plan.Segments {
			d.Plan.Segments = append(d.Plan.Segments, SegmentData{Start: s.Start.Seconds(), End: s.End.Seconds()})
		}
		return d, nil
	case domain.RenderStarted:
		return RenderStartedData{Attempt: e.Attempt}, nil
	case domain.RenderProgressed:
		return RenderProgressedData{Attempt: e.Attempt, Percent: e.Percent, ETASeconds: e.ETA.Seconds(),
			PositionSeconds: e.Position.Seconds()}, nil
	case domain.RenderCompleted:
		return RenderCompletedData{Attempt: e.Attempt, SizeBytes: e.SizeBytes, DurationSeconds: e.Duration.Seconds(),
			Width: e.Width, Height: e.Height, VideoBitrateBPS: e.VideoBitrate, AudioBitrateBPS: e.AudioBitrate,
			EncodeSeconds: e.EncodeTime.Seconds(), FastPath: e.FastPath}, nil
	case domain.RenderFailed:
		return RenderFailedData{Attempt: e.Attempt, Code: e.Code, Message: publicFailureMessage(e.Code), Retryable: e.Retryable}, nil
	case domain.RenderCancelled:
		return RenderCancelledData{Attempt: e.Attempt}, nil
	case domain.RenderRetried:
		return RenderRetriedData{Attempt: e.Attempt}, nil
	}
	return nil, fmt.Errorf("not a render event: %T", ev)
}
