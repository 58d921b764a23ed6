package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func video(d time.Duration) domain.MediaInfo {
	return domain.MediaInfo{Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: d, HasVideo: true, HasAudio: true, Width: 1920, Height: 1080}
}

func audioOnly(d time.Duration) domain.MediaInfo {
	return domain.MediaInfo{Container: "mp3", Duration: d, HasAudio: true}
}

// history turns events into a recorded stream of one asset.
func history(events ...domain.Event) []domain.Recorded {
	recs := make([]domain.Recorded, len(events))
	for i, e := range events {
		recs[i] = domain.Recorded{StreamID: "ast_1", StreamType: domain.AggregateAsset, StreamVersion: int64(i + 1),
			Metadata: domain.Metadata{AccountID: "acc_1", OccurredAt: now}, Event: e}
	}
	return recs
}

var (
	createdVideo = domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "clip"}
	createdAudio = domain.AssetCreated{Kind: domain.AssetKindAudio, Name: "pod"}
	sourceUp     = domain.AssetSourceUploaded{BlobKey: "blob/src", SizeBytes: 10}
	audioUp      = domain.AssetAudioUploaded{BlobKey: "blob/aud", SizeBytes: 5}
)

func TestAsset_commands(t *testing.T) {
	cases := []struct {
		name    string
		given   []domain.Event
		when    func(a *domain.Asset) error
		then    []domain.Event
		wantErr string // a ConflictError code, or "validation"
		state   domain.AssetState
		cut     bool
	}{
		{name: "source_upload_starts_processing", given: []domain.Event{createdVideo},
			when: func(a *domain.Asset) error { return a.UploadSource("blob/src", 10, now) },
			then: []domain.Event{sourceUp}, state: domain.AssetStateProcessing},
		{name: "second_source_upload_is_rejected", given: []domain.Event{createdVideo, sourceUp},
			when:    func(a *domain.Asset) error { return a.UploadSource("blob/x", 1, now) },
			wantErr: "source_already_uploaded", state: domain.AssetStateProcessing},
		{name: "probed_video_source_waits_for_its_charge", given: []domain.Event{createdVideo, sourceUp},
			when: func(a *domain.Asset) error {
				return a.RecordProbe(domain.AssetPartSource, video(2500*time.Millisecond), now)
			},
			then:  []domain.Event{domain.AssetProbed{Part: domain.AssetPartSource, Media: video(2500 * time.Millisecond)}},
			state: domain.AssetStateProcessing},
		{name: "charge_makes_a_probed_video_ready_and_cuttable",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(2 * time.Second)}},
			when:  func(a *domain.Asset) error { return a.Charge(2, "led_1", now) },
			then:  []domain.Event{domain.AssetCharged{Seconds: 2, LedgerEntryID: "led_1"}, domain.AssetReady{}},
			state: domain.AssetStateReady, cut: true},
		{name: "video_asset_source_without_video_fails", given: []domain.Event{createdVideo, sourceUp},
			when: func(a *domain.Asset) error { return a.RecordProbe(domain.AssetPartSource, audioOnly(time.Second), now) },
			then: []domain.Event{domain.AssetProbed{Part: domain.AssetPartSource, Media: audioOnly(time.Second)},
				domain.AssetFailed{Part: domain.AssetPartSource, Code: domain.FailureNoVideoStream, Message: "the uploaded source has no video stream"}},
			state: domain.AssetStateFailed},
		{name: "audio_asset_without_audio_fails", given: []domain.Event{createdAudio, sourceUp},
			when: func(a *domain.Asset) error {
				return a.RecordProbe(domain.AssetPartSource, domain.MediaInfo{Duration: time.Second, HasVideo: true}, now)
			},
			then: []domain.Event{domain.AssetProbed{Part: domain.AssetPartSource, Media: domain.MediaInfo{Duration: time.Second, HasVideo: true}},
				domain.AssetFailed{Part: domain.AssetPartSource, Code: domain.FailureNoAudioStream, Message: "the uploaded source has no audio stream"}},
			state: domain.AssetStateFailed},
		{name: "audio_part_is_only_for_video_assets", given: []domain.Event{createdAudio},
			when:    func(a *domain.Asset) error { return a.UploadAudio("blob/aud", 5, now) },
			wantErr: "audio_not_applicable", state: domain.AssetStateUploading},
		{name: "paid_client_audio_makes_an_uploading_video_cuttable",
			given: []domain.Event{createdVideo, audioUp, domain.AssetProbed{Part: domain.AssetPartAudio, Media: audioOnly(3 * time.Second)}},
			when:  func(a *domain.Asset) error { return a.Charge(3, "led_1", now) },
			then:  []domain.Event{domain.AssetCharged{Seconds: 3, LedgerEntryID: "led_1"}},
			state: domain.AssetStateUploading, cut: true},
		{name: "source_after_paid_audio_is_ready_without_a_second_charge",
			given: []domain.Event{createdVideo, audioUp, domain.AssetProbed{Part: domain.AssetPartAudio, Media: audioOnly(3 * time.Second)},
				domain.AssetCharged{Seconds: 3, LedgerEntryID: "led_1"}, sourceUp},
			when:  func(a *domain.Asset) error { return a.RecordProbe(domain.AssetPartSource, video(3*time.Second), now) },
			then:  []domain.Event{domain.AssetProbed{Part: domain.AssetPartSource, Media: video(3 * time.Second)}, domain.AssetReady{}},
			state: domain.AssetStateReady, cut: true},
		{name: "payment_required_is_recorded_once",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(time.Minute)},
				domain.AssetPaymentRequired{RequiredSeconds: 60, AvailableSeconds: 10}},
			when:  func(a *domain.Asset) error { a.RequirePayment(60, 10, now); return nil },
			state: domain.AssetStatePaymentRequired},
		{name: "charge_after_payment_required_makes_it_ready",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(time.Minute)},
				domain.AssetPaymentRequired{RequiredSeconds: 60, AvailableSeconds: 10}},
			when:  func(a *domain.Asset) error { return a.Charge(60, "led_2", now) },
			then:  []domain.Event{domain.AssetCharged{Seconds: 60, LedgerEntryID: "led_2"}, domain.AssetReady{}},
			state: domain.AssetStateReady, cut: true},
		{name: "a_redelivered_probe_changes_nothing",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(time.Second)}},
			when:  func(a *domain.Asset) error { return a.RecordProbe(domain.AssetPartSource, video(time.Second), now) },
			state: domain.AssetStateProcessing},
		{name: "charging_twice_is_rejected",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(time.Second)},
				domain.AssetCharged{Seconds: 1}, domain.AssetReady{}},
			when:    func(a *domain.Asset) error { return a.Charge(1, "led_3", now) },
			wantErr: "nothing_to_charge", state: domain.AssetStateReady, cut: true},
		{name: "uploading_to_a_failed_asset_is_rejected",
			given:   []domain.Event{createdVideo, domain.AssetAudioUploaded{}, domain.AssetFailed{Code: "source_unreadable", Message: "corrupt"}},
			when:    func(a *domain.Asset) error { return a.UploadSource("blob/src", 1, now) },
			wantErr: "asset_failed", state: domain.AssetStateFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := domain.RebuildAsset(history(c.given...))
			if err != nil {
				t.Fatal(err)
			}
			err = c.when(a)
			var ce *domain.ConflictError
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.wantErr != "" && (!errors.As(err, &ce) || ce.Code != c.wantErr):
				t.Fatalf("err = %v, want conflict %s", err, c.wantErr)
			}
			if got := a.Changes(); !reflect.DeepEqual(got, c.then) && (len(got) != 0 || len(c.then) != 0) {
				t.Errorf("events = %#v\nwant %#v", got, c.then)
			}
			if a.State() != c.state || a.Cuttable() != c.cut {
				t.Errorf("state %s cuttable %v, want %s %v", a.State(), a.Cuttable(), c.state, c.cut)
			}
			if a.Version() != int64(len(c.given)+len(a.Changes())) {
				t.Errorf("version %d after %d + %d events", a.Version(), len(c.given), len(a.Changes()))
			}
		})
	}
}

func TestAsset_charge_rounds_the_duration_up_to_the_second(t *testing.T) {
	a, _ := domain.RebuildAsset(history(createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(2001 * time.Millisecond)}))
	if s, ok := a.NeedsCharge(); !ok || s != 3 {
		t.Errorf("NeedsCharge = %d, %v; want 3 seconds", s, ok)
	}
}

func TestCreateAsset_validates_kind_and_name(t *testing.T) {
	if _, err := domain.CreateAsset("ast_1", "acc_1", "image", "x", now); !errors.Is(err, domain.ErrValidation) {
		t.Errorf("kind image: err = %v", err)
	}
	long := make([]byte, 256)
	if _, err := domain.CreateAsset("ast_1", "acc_1", domain.AssetKindAudio, string(long), now); !errors.Is(err, domain.ErrValidation) {
		t.Errorf("long name: err = %v", err)
	}
	a, err := domain.CreateAsset("ast_1", "acc_1", domain.AssetKindAudio, "pod", now)
	if err != nil || a.State() != domain.AssetStateUploading || len(a.Changes()) != 1 {
		t.Errorf("create: %v %v %v", a, err, a.Changes())
	}
}

func TestRebuildAsset_of_nothing_is_not_found(t *testing.T) {
	if _, err := domain.RebuildAsset(nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}
