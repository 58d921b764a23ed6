package readmodel

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	json "github.com/segmentio/encoding/json"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

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
	result_fast_path, created_at, started_at, completed_at, failed_at, cancelled_at, updated_at, version,
	output_expired, deleted`

// renderRow is v as a row of rm_renders.
func renderRow(v projections.RenderView) (dbRow, error) {
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
		v.UpdatedAt, v.Version, v.OutputExpired, v.Deleted}}, nil
}

func scanRender(row pgx.CollectableRow) (projections.RenderView, error) { return scanRenderRow(row) }

// scanRenderRow scans a row of head's columns followed by renderColumns.
func scanRenderRow(row pgx.CollectableRow, head ...any) (projections.RenderView, error) {
	var (
		v                                             projections.RenderView
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
		&v.CreatedAt, &startedAt, &completedAt, &failedAt, &cancelledAt, &v.UpdatedAt, &v.Version,
		&v.OutputExpired, &v.Deleted)...)
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
	v.Output = domain.OutputSpec{Format: domain.Format(out.Format), Resolution: domain.Resolution(out.Resolution),
		VideoBitrate: out.VideoBitrate, AudioBitrate: out.AudioBitrate}
	v.Plan = domain.RenderPlan{Width: p.Width, Height: p.Height, VideoBitrate: p.VideoBitrate, AudioBitrate: p.AudioBitrate,
		Segments: segmentsFromRow(p.Segments), Duration: time.Duration(p.DurationNS)}
	v.ETA = time.Duration(deref(etaNS))
	v.Failure = failureFromColumns(code, message)
	if blobKey != nil {
		v.Result = &projections.RenderResultView{BlobKey: *blobKey, SizeBytes: deref(size), Duration: time.Duration(deref(durationNS)),
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
