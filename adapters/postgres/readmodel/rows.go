package readmodel

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	json "github.com/segmentio/encoding/json"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// The storage shapes of the jsonb columns, mapped explicitly from and to the
// views so that renaming a Go field can never change stored rows. Durations
// are whole nanoseconds, which round-trip exactly.
type mediaRow struct {
	DurationNS      int64  `json:"duration_ns"`
	Container       string `json:"container"`
	SizeBytes       int64  `json:"size_bytes"`
	HasVideo        bool   `json:"has_video"`
	HasAudio        bool   `json:"has_audio"`
	VideoCodec      string `json:"video_codec,omitempty"`
	Width           int    `json:"width,omitempty"`
	Height          int    `json:"height,omitempty"`
	Rotation        int    `json:"rotation,omitempty"`
	FrameRate       string `json:"frame_rate,omitempty"`
	PixelFormat     string `json:"pixel_format,omitempty"`
	VideoBitrate    int64  `json:"video_bitrate_bps,omitempty"`
	AudioCodec      string `json:"audio_codec,omitempty"`
	AudioBitrate    int64  `json:"audio_bitrate_bps,omitempty"`
	AudioChannels   int    `json:"audio_channels,omitempty"`
	AudioSampleRate int    `json:"audio_sample_rate_hz,omitempty"`
}

type segmentRow struct {
	StartNS int64 `json:"start_ns"`
	EndNS   int64 `json:"end_ns"`
}

type silenceRow struct {
	MinSilenceNS int64   `json:"min_silence_ns"`
	ThresholdDB  float64 `json:"threshold_db"`
}

func mediaToRow(m *domain.MediaInfo) *mediaRow {
	if m == nil {
		return nil
	}
	return &mediaRow{
		DurationNS: int64(m.Duration), Container: m.Container, SizeBytes: m.SizeBytes,
		HasVideo: m.HasVideo, HasAudio: m.HasAudio, VideoCodec: m.VideoCodec,
		Width: m.Width, Height: m.Height, Rotation: m.Rotation, FrameRate: m.FrameRate,
		PixelFormat: m.PixelFormat, VideoBitrate: m.VideoBitrate, AudioCodec: m.AudioCodec,
		AudioBitrate: m.AudioBitrate, AudioChannels: m.AudioChannels, AudioSampleRate: m.AudioSampleRate,
	}
}

func (r *mediaRow) view() *domain.MediaInfo {
	if r == nil {
		return nil
	}
	return &domain.MediaInfo{
		Duration: time.Duration(r.DurationNS), Container: r.Container, SizeBytes: r.SizeBytes,
		HasVideo: r.HasVideo, HasAudio: r.HasAudio, VideoCodec: r.VideoCodec,
		Width: r.Width, Height: r.Height, Rotation: r.Rotation, FrameRate: r.FrameRate,
		PixelFormat: r.PixelFormat, VideoBitrate: r.VideoBitrate, AudioCodec: r.AudioCodec,
		AudioBitrate: r.AudioBitrate, AudioChannels: r.AudioChannels, AudioSampleRate: r.AudioSampleRate,
	}
}

func segmentsToRow(segs []domain.Segment) []segmentRow {
	if segs == nil {
		return nil
	}
	out := make([]segmentRow, len(segs))
	for i, s := range segs {
		out[i] = segmentRow{StartNS: int64(s.Start), EndNS: int64(s.End)}
	}
	return out
}

func segmentsFromRow(rows []segmentRow) []domain.Segment {
	if rows == nil {
		return nil
	}
	out := make([]domain.Segment, len(rows))
	for i, s := range rows {
		out[i] = domain.Segment{Start: time.Duration(s.StartNS), End: time.Duration(s.EndNS)}
	}
	return out
}

// jsonb encodes v for a nullable jsonb column: a nil pointer or slice becomes
// SQL NULL rather than the JSON literal null.
// refusalRow is rm_assets.refusal: asset.part_refused's fields.
type refusalRow struct {
	Part    string `json:"part"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func jsonb[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// unjsonb decodes a nullable jsonb column; NULL leaves *into nil.
func unjsonb[T any](data []byte, into **T) error {
	if data == nil {
		return nil
	}
	*into = new(T)
	return json.Unmarshal(data, *into)
}

func failureColumns(f *domain.Failure) (code, message *string) {
	if f == nil {
		return nil, nil
	}
	return &f.Code, &f.Message
}

func failureFromColumns(code, message *string) *domain.Failure {
	if code == nil {
		return nil
	}
	f := &domain.Failure{Code: *code}
	if message != nil {
		f.Message = *message
	}
	return f
}

// execer is what writing a row needs: the projector's transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// dbRow is one read-model row: its table (a constant of this package),
// the table's columns (the constant its queries select) and the values in
// that order. upsert writes it live; ReplayAll COPYs it.
type dbRow struct {
	table   string
	columns string
	values  []any
	what    string // for errors: "asset ast_1 v3"
}

// upsert writes r unless the row already reflects r's version or later,
// and reports whether it wrote. Every read model has id and version
// columns; the rest are overwritten whole.
func upsert(ctx context.Context, tx execer, r dbRow) (bool, error) {
	tag, err := tx.Exec(ctx, upsertSQL(r.table, r.columns), r.values...)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", r.what, err)
	}
	return tag.RowsAffected() == 1, nil
}

func upsertSQL(table, columns string) string {
	cols := columnNames(columns)
	params, sets := make([]string, len(cols)), make([]string, 0, len(cols))
	for i, c := range cols {
		params[i] = "$" + strconv.Itoa(i+1)
		if c != "id" {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	return "INSERT INTO " + table + " AS r (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(params, ", ") +
		") ON CONFLICT (id) DO UPDATE SET " + strings.Join(sets, ", ") + " WHERE r.version < excluded.version"
}

// createSQL inserts a stream's first row, built from the stream's opening
// event alone, and announces it on ProjectedChannel, in one statement. It
// inserts only when there is no row yet and the event store holds that
// event (parameters after the row's: the event's id, then the
// notification's payload), and returns one row when it did, none otherwise.
func createSQL(table, columns string) string {
	cols := columnNames(columns)
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	id := "$" + strconv.Itoa(slices.Index(cols, "id")+1)
	n := len(cols)
	return "WITH created AS (INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(params, ", ") +
		" WHERE EXISTS (SELECT FROM events WHERE stream_id = " + id + " AND stream_version = 1 AND event_id::text = $" + strconv.Itoa(n+1) + ")" +
		" ON CONFLICT (id) DO NOTHING RETURNING id)" +
		" SELECT pg_notify('" + projections.ProjectedChannel + "', $" + strconv.Itoa(n+2) + ") FROM created"
}

// columnNames splits a column-list constant.
func columnNames(columns string) []string {
	names := strings.Split(columns, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return names
}

// assetRow is v as a row of rm_assets.
func assetRow(v projections.AssetView) (dbRow, error) {
	what := fmt.Sprintf("asset %s v%d", v.ID, v.Version)
	source, err := jsonb(mediaToRow(v.Source))
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: %w", what, err)
	}
	audio, err := jsonb(mediaToRow(v.Audio))
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: %w", what, err)
	}
	var rr *refusalRow
	if r := v.Refusal; r != nil {
		rr = &refusalRow{Part: string(r.Part), Code: r.Code, Message: r.Message}
	}
	refusal, err := jsonb(rr)
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: %w", what, err)
	}
	code, message := failureColumns(v.Failure)
	return dbRow{table: "rm_assets", columns: assetColumns, what: what, values: []any{
		v.ID, v.AccountID, string(v.Kind), v.Name, string(v.State), v.Cuttable, source, audio,
		code, message, refusal, v.ChargedSeconds, v.Version, v.CreatedAt, v.UpdatedAt, v.Deleted}}, nil
}

// cutRow is v as a row of rm_cuts.
func cutRow(v projections.CutView) (dbRow, error) {
	what := fmt.Sprintf("cut %s v%d", v.ID, v.Version)
	requested, err := jsonbSlice(segmentsToRow(v.Requested))
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: %w", what, err)
	}
	kept, err := jsonbSlice(segmentsToRow(v.Segments))
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: %w", what, err)
	}
	var autoRow *silenceRow
	if v.Auto != nil {
		autoRow = &silenceRow{MinSilenceNS: int64(v.Auto.MinSilence), ThresholdDB: v.Auto.ThresholdDB}
	}
	auto, err := jsonb(autoRow)
	if err != nil {
		return dbRow{}, fmt.Errorf("write %s: %w", what, err)
	}
	code, message := failureColumns(v.Failure)
	return dbRow{table: "rm_cuts", columns: cutColumns, what: what, values: []any{
		v.ID, v.AccountID, v.AssetID, string(v.State), requested, auto, kept, int64(v.Duration),
		code, message, v.Version, v.CreatedAt, v.UpdatedAt, v.Deleted}}, nil
}

func jsonbSlice[T any](s []T) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	return json.Marshal(s)
}

const assetColumns = `id, account_id, kind, name, state, cuttable, source, audio,
	failure_code, failure_message, refusal, charged_seconds, version, created_at, updated_at, deleted`

func scanAsset(row pgx.CollectableRow) (projections.AssetView, error) {
	var (
		v             projections.AssetView
		kind, state   string
		source, audio []byte
		refusal       []byte
		code, message *string
		src, aud      *mediaRow
		rr            *refusalRow
	)
	err := row.Scan(&v.ID, &v.AccountID, &kind, &v.Name, &state, &v.Cuttable, &source, &audio,
		&code, &message, &refusal, &v.ChargedSeconds, &v.Version, &v.CreatedAt, &v.UpdatedAt, &v.Deleted)
	if err != nil {
		return v, err
	}
	if err := unjsonb(source, &src); err != nil {
		return v, fmt.Errorf("asset %s: source: %w", v.ID, err)
	}
	if err := unjsonb(audio, &aud); err != nil {
		return v, fmt.Errorf("asset %s: audio: %w", v.ID, err)
	}
	if err := unjsonb(refusal, &rr); err != nil {
		return v, fmt.Errorf("asset %s: refusal: %w", v.ID, err)
	}
	if rr != nil {
		v.Refusal = &domain.Refusal{Part: domain.AssetPart(rr.Part), Code: rr.Code, Message: rr.Message}
	}
	v.Kind, v.State = domain.AssetKind(kind), domain.AssetState(state)
	v.Source, v.Audio = src.view(), aud.view()
	v.Failure = failureFromColumns(code, message)
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, nil
}

const cutColumns = `id, account_id, asset_id, state, requested, auto, segments, duration_ns,
	failure_code, failure_message, version, created_at, updated_at, deleted`

func scanCut(row pgx.CollectableRow) (projections.CutView, error) {
	var (
		v                         projections.CutView
		state                     string
		requested, auto, segments []byte
		durationNS                int64
		code, message             *string
		req, kept                 *[]segmentRow
		silence                   *silenceRow
	)
	err := row.Scan(&v.ID, &v.AccountID, &v.AssetID, &state, &requested, &auto, &segments, &durationNS,
		&code, &message, &v.Version, &v.CreatedAt, &v.UpdatedAt, &v.Deleted)
	if err != nil {
		return v, err
	}
	if err := unjsonb(requested, &req); err != nil {
		return v, fmt.Errorf("cut %s: requested: %w", v.ID, err)
	}
	if err := unjsonb(segments, &kept); err != nil {
		return v, fmt.Errorf("cut %s: segments: %w", v.ID, err)
	}
	if err := unjsonb(auto, &silence); err != nil {
		return v, fmt.Errorf("cut %s: auto: %w", v.ID, err)
	}
	v.State = domain.CutState(state)
	if req != nil {
		v.Requested = segmentsFromRow(*req)
	}
	if kept != nil {
		v.Segments = segmentsFromRow(*kept)
	}
	if silence != nil {
		v.Auto = &domain.SilenceRemoval{MinSilence: time.Duration(silence.MinSilenceNS), ThresholdDB: silence.ThresholdDB}
	}
	v.Duration = time.Duration(durationNS)
	v.Failure = failureFromColumns(code, message)
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, nil
}
