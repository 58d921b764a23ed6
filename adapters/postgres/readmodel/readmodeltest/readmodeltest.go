// Package readmodeltest holds test helpers shared by the read-model tests
// and the Kafka consumer tests: appending realistic histories made by the
// domain, and snapshots of the read-model tables.
package readmodeltest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// Append appends events to stream at its next versions, in one transaction,
// as account at the given time, and returns them as recorded.
func Append(ctx context.Context, s commands.EventStore, stream, account string, at time.Time, events ...domain.Event) ([]domain.Recorded, error) {
	var recs []domain.Recorded
	err := s.Transact(ctx, []string{stream}, func(ctx context.Context, tx commands.Tx) error {
		cur, err := tx.Load(ctx, stream)
		if err != nil {
			return err
		}
		recs, err = tx.Append(ctx, stream, commands.Exactly(int64(len(cur))),
			domain.Metadata{AccountID: account, CorrelationID: "req_" + stream, OccurredAt: at}, events...)
		return err
	})
	return recs, err
}

// Video is what probing a 12.5 s 1080p clip finds.
func Video() domain.MediaInfo {
	return domain.MediaInfo{Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 12500 * time.Millisecond, SizeBytes: 4_200_000,
		HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1",
		PixelFormat: "yuv420p", VideoBitrate: 2_500_000, AudioCodec: "aac", AudioBitrate: 128_000,
		AudioChannels: 2, AudioSampleRate: 48_000}
}

// Audio is what probing client-extracted audio of the same clip finds.
func Audio() domain.MediaInfo {
	return domain.MediaInfo{Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 12500 * time.Millisecond, SizeBytes: 200_000,
		HasAudio: true, AudioCodec: "aac", AudioBitrate: 128_000, AudioChannels: 2, AudioSampleRate: 48_000}
}

// Asset stages, each a prefix of the next.
const (
	Created  = iota // uploading
	Uploaded        // processing
	Probed          // processing, not yet charged
	Ready           // charged and ready
)

// VideoAsset returns the events of a video asset brought to stage by the
// domain itself.
func VideoAsset(t testing.TB, id, account string, at time.Time, stage int) []domain.Event {
	t.Helper()
	a, err := domain.CreateAsset(id, account, domain.AssetKindVideo, "clip "+id+".mp4", at)
	check(t, err)
	if stage >= Uploaded {
		check(t, a.UploadSource("assets/"+id+"/source", Video().SizeBytes, at))
	}
	if stage >= Probed {
		check(t, a.RecordProbe(domain.AssetPartSource, Video(), domain.SourceLimits{}, at))
	}
	if stage >= Ready {
		secs, _ := a.NeedsCharge()
		check(t, a.Charge(secs, "led_"+id, at))
	}
	return a.Changes()
}

// FailedAsset returns the events of a video asset whose source could not be
// probed.
func FailedAsset(t testing.TB, id, account string, at time.Time) []domain.Event {
	t.Helper()
	a, err := domain.CreateAsset(id, account, domain.AssetKindVideo, "broken.mp4", at)
	check(t, err)
	check(t, a.UploadSource("assets/"+id+"/source", 10, at))
	a.FailProbe(domain.AssetPartSource, domain.FailureSourceUnreadable, "ffprobe found no streams", at)
	return a.Changes()
}

// CutRequested returns a cut request with an explicit plan.
func CutRequested(assetID string) domain.CutRequested {
	return domain.CutRequested{AssetID: assetID, Segments: []domain.Segment{
		{Start: 1500 * time.Millisecond, End: 4 * time.Second}, {Start: 6 * time.Second, End: 9 * time.Second}}}
}

// Rows returns a table's rows as JSON, ordered by id: two snapshots are
// equal exactly when the tables are.
func Rows(t testing.TB, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT to_jsonb(t)::text FROM `+pgx.Identifier{table}.Sanitize()+` t ORDER BY id`)
	check(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	check(t, err)
	return out
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
