package domain_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
				return a.RecordProbe(domain.AssetPartSource, video(2500*time.Millisecond), domain.SourceLimits{}, now)
			},
			then:  []domain.Event{domain.AssetProbed{Part: domain.AssetPartSource, Media: video(2500 * time.Millisecond)}},
			state: domain.AssetStateProcessing},
		{name: "charge_makes_a_probed_video_ready_and_cuttable",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(2 * time.Second)}},
			when:  func(a *domain.Asset) error { return a.Charge(2, "led_1", now) },
			then:  []domain.Event{domain.AssetCharged{Seconds: 2, LedgerEntryID: "led_1"}, domain.AssetReady{}},
			state: domain.AssetStateReady, cut: true},
		{name: "video_asset_source_without_video_fails", given: []domain.Event{createdVideo, sourceUp},
			when: func(a *domain.Asset) error {
				return a.RecordProbe(domain.AssetPartSource, audioOnly(time.Second), domain.SourceLimits{}, now)
			},
			then: []domain.Event{domain.AssetProbed{Part: domain.AssetPartSource, Media: audioOnly(time.Second)},
				domain.AssetFailed{Part: domain.AssetPartSource, Code: domain.FailureNoVideoStream, Message: "the uploaded source has no video stream"}},
			state: domain.AssetStateFailed},
		{name: "audio_asset_without_audio_fails", given: []domain.Event{createdAudio, sourceUp},
			when: func(a *domain.Asset) error {
				return a.RecordProbe(domain.AssetPartSource, domain.MediaInfo{Duration: time.Second, HasVideo: true}, domain.SourceLimits{}, now)
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
			when: func(a *domain.Asset) error {
				return a.RecordProbe(domain.AssetPartSource, video(3*time.Second), domain.SourceLimits{}, now)
			},
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
			when: func(a *domain.Asset) error {
				return a.RecordProbe(domain.AssetPartSource, video(time.Second), domain.SourceLimits{}, now)
			},
			state: domain.AssetStateProcessing},
		{name: "charging_twice_is_rejected",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(time.Second)},
				domain.AssetCharged{Seconds: 1}, domain.AssetReady{}},
			when:    func(a *domain.Asset) error { return a.Charge(1, "led_3", now) },
			wantErr: "nothing_to_charge", state: domain.AssetStateReady, cut: true},
		{name: "a_part_that_cannot_be_probed_fails_the_asset", given: []domain.Event{createdVideo, sourceUp},
			when: func(a *domain.Asset) error {
				a.FailProbe(domain.AssetPartSource, domain.FailureMediaCrashed, "crashed", now)
				return nil
			},
			then:  []domain.Event{domain.AssetFailed{Part: domain.AssetPartSource, Code: domain.FailureMediaCrashed, Message: "crashed"}},
			state: domain.AssetStateFailed},
		{name: "a_failed_probe_of_a_part_probed_already_changes_nothing",
			given: []domain.Event{createdVideo, sourceUp, domain.AssetProbed{Part: domain.AssetPartSource, Media: video(time.Second)}},
			when: func(a *domain.Asset) error {
				a.FailProbe(domain.AssetPartSource, domain.FailureMediaCrashed, "crashed", now)
				a.FailProbe(domain.AssetPartAudio, domain.FailureMediaCrashed, "not uploaded", now)
				return nil
			},
			state: domain.AssetStateProcessing},
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

func probed(part domain.AssetPart, m domain.MediaInfo) domain.AssetProbed {
	return domain.AssetProbed{Part: part, Media: m}
}

func probe(part domain.AssetPart, m domain.MediaInfo) func(*domain.Asset) error {
	return func(a *domain.Asset) error { return a.RecordProbe(part, m, domain.SourceLimits{}, now) }
}

func TestAsset_billing_of_two_parts(t *testing.T) {
	src, aud := domain.AssetPartSource, domain.AssetPartAudio
	mismatch := func(part domain.AssetPart, d, other float64) domain.AssetPartRefused {
		otherName := "audio"
		if part == aud {
			otherName = "source"
		}
		return domain.AssetPartRefused{Part: part, Code: domain.RefusalDurationMismatch,
			Message: fmt.Sprintf("the uploaded %s lasts %.3f s but the %s lasts %.3f s; upload a %s of the same media", part, d, otherName, other, part)}
	}
	audioPaid := []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(time.Second)), domain.AssetCharged{Seconds: 1, LedgerEntryID: "led_1"}}
	cases := []struct {
		name   string
		given  []domain.Event
		when   func(a *domain.Asset) error
		then   []domain.Event
		state  domain.AssetState
		cut    bool
		due    int64 // what NeedsCharge asks for afterwards
		refuse bool  // a refusal is on the asset afterwards
	}{
		{name: "a_longer_source_after_short_audio_is_refused_and_the_audio_stays_cuttable",
			given: append(audioPaid, sourceUp), when: probe(src, video(20*time.Second)),
			then: []domain.Event{mismatch(src, 20, 1)}, state: domain.AssetStateUploading, cut: true, refuse: true},
		{name: "a_shorter_source_after_long_audio_is_refused",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(8*time.Second)), domain.AssetCharged{Seconds: 8}, sourceUp},
			when:  probe(src, video(4*time.Second)),
			then:  []domain.Event{mismatch(src, 4, 8)}, state: domain.AssetStateUploading, cut: true, refuse: true},
		{name: "audio_probed_after_the_source_that_disagrees_is_refused_and_the_source_stays",
			given: []domain.Event{createdVideo, sourceUp, audioUp, probed(src, video(10*time.Second)), domain.AssetCharged{Seconds: 10}, domain.AssetReady{}},
			when:  probe(aud, audioOnly(3*time.Second)),
			then:  []domain.Event{mismatch(aud, 3, 10)}, state: domain.AssetStateReady, cut: true, refuse: true},
		{name: "a_source_within_tolerance_and_longer_is_charged_the_difference",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(10*time.Second)), domain.AssetCharged{Seconds: 10}, sourceUp},
			when:  probe(src, video(10400*time.Millisecond)),
			then:  []domain.Event{probed(src, video(10400*time.Millisecond))}, state: domain.AssetStateProcessing, cut: true, due: 1},
		{name: "the_difference_once_charged_makes_the_asset_ready",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(10*time.Second)), domain.AssetCharged{Seconds: 10}, sourceUp,
				probed(src, video(10400*time.Millisecond))},
			when:  func(a *domain.Asset) error { return a.Charge(1, "led_2", now) },
			then:  []domain.Event{domain.AssetCharged{Seconds: 1, LedgerEntryID: "led_2"}, domain.AssetReady{}},
			state: domain.AssetStateReady, cut: true},
		{name: "a_source_within_tolerance_and_shorter_is_ready_without_a_charge",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(10*time.Second)), domain.AssetCharged{Seconds: 10}, sourceUp},
			when:  probe(src, video(9600*time.Millisecond)),
			then:  []domain.Event{probed(src, video(9600*time.Millisecond)), domain.AssetReady{}}, state: domain.AssetStateReady, cut: true},
		{name: "audio_within_tolerance_and_longer_than_a_ready_source_is_charged_the_difference_and_the_source_serves_meanwhile",
			given: []domain.Event{createdVideo, sourceUp, audioUp, probed(src, video(10*time.Second)), domain.AssetCharged{Seconds: 10}, domain.AssetReady{}},
			when:  probe(aud, audioOnly(10300*time.Millisecond)),
			then:  []domain.Event{probed(aud, audioOnly(10300*time.Millisecond))}, state: domain.AssetStateReady, cut: true, due: 1}, // from its source meanwhile
		{name: "one_percent_of_a_long_part_is_tolerated",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(time.Hour)), domain.AssetCharged{Seconds: 3600}, sourceUp},
			when:  probe(src, video(time.Hour+30*time.Second)),
			then:  []domain.Event{probed(src, video(time.Hour+30*time.Second))}, state: domain.AssetStateProcessing, cut: true, due: 30},
		{name: "beyond_one_percent_of_a_long_part_is_refused",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(time.Hour)), domain.AssetCharged{Seconds: 3600}, sourceUp},
			when:  probe(src, video(time.Hour+37*time.Second)),
			then:  []domain.Event{mismatch(src, 3637, 3600)}, state: domain.AssetStateUploading, cut: true, refuse: true},
		{name: "a_source_uploaded_again_after_a_refusal_clears_it",
			given: append(audioPaid, sourceUp, mismatch(src, 20, 1)),
			when:  func(a *domain.Asset) error { return a.UploadSource("blob/src2", 10, now) },
			then:  []domain.Event{domain.AssetSourceUploaded{BlobKey: "blob/src2", SizeBytes: 10}}, state: domain.AssetStateProcessing, cut: true},
		{name: "the_source_uploaded_again_and_matching_is_ready",
			given: append(audioPaid, sourceUp, mismatch(src, 20, 1), sourceUp),
			when:  probe(src, video(time.Second)),
			then:  []domain.Event{probed(src, video(time.Second)), domain.AssetReady{}}, state: domain.AssetStateReady, cut: true},
		{name: "an_asset_made_ready_before_both_parts_were_billed_is_not_charged_in_hindsight",
			given: []domain.Event{createdVideo, audioUp, probed(aud, audioOnly(time.Second)), domain.AssetCharged{Seconds: 1}, sourceUp,
				probed(src, video(20*time.Second)), domain.AssetReady{}},
			when:  func(*domain.Asset) error { return nil },
			state: domain.AssetStateReady, cut: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := domain.RebuildAsset(history(c.given...))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.when(a); err != nil {
				t.Fatal(err)
			}
			if got := a.Changes(); !reflect.DeepEqual(got, c.then) && (len(got) != 0 || len(c.then) != 0) {
				t.Errorf("events = %#v\nwant %#v", got, c.then)
			}
			if a.State() != c.state || a.Cuttable() != c.cut {
				t.Errorf("state %s cuttable %v, want %s %v", a.State(), a.Cuttable(), c.state, c.cut)
			}
			if due, _ := a.NeedsCharge(); due != c.due {
				t.Errorf("NeedsCharge = %d, want %d", due, c.due)
			}
			if (a.Refusal() != nil) != c.refuse {
				t.Errorf("refusal = %+v, want one: %v", a.Refusal(), c.refuse)
			}
		})
	}
}

func TestAsset_a_refused_source_leaves_the_asset_as_it_was(t *testing.T) {
	a, _ := domain.RebuildAsset(history(createdVideo, audioUp, probed(domain.AssetPartAudio, audioOnly(8*time.Second)),
		domain.AssetCharged{Seconds: 8}, sourceUp))
	if err := a.RecordProbe(domain.AssetPartSource, video(4*time.Second), domain.SourceLimits{}, now); err != nil {
		t.Fatal(err)
	}
	if a.SourceUploaded() || a.SourceBlobKey() != "" || a.Duration() != 8*time.Second {
		t.Errorf("source uploaded %v key %q duration %s", a.SourceUploaded(), a.SourceBlobKey(), a.Duration())
	}
	if _, ok := a.Media(); ok {
		t.Error("the refused source's probe is on the asset")
	}
	key, m, ok := a.AudioSource()
	if !ok || key != "blob/aud" || m.Duration != 8*time.Second {
		t.Errorf("audio source %q %v %v", key, m, ok)
	}
	// The refused part may come again; a second refusal is recorded too.
	if err := a.UploadSource("blob/src2", 1, now); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordProbe(domain.AssetPartSource, video(time.Second), domain.SourceLimits{}, now); err != nil || a.Refusal() == nil {
		t.Errorf("second refusal: %v %+v", err, a.Refusal())
	}
}

func TestAsset_source_limits_fail_the_asset_at_probe(t *testing.T) {
	limits := domain.SourceLimits{MaxLongEdge: 4096, MaxShortEdge: 2304, MaxFrameRate: 120, MaxDuration: 4 * time.Hour}
	with := func(f func(*domain.MediaInfo)) domain.MediaInfo {
		m := video(time.Minute)
		m.FrameRate = "30/1"
		f(&m)
		return m
	}
	cases := []struct {
		name  string
		media domain.MediaInfo
		fail  string // the message's reason, "" when it passes
	}{
		{"uhd_passes", with(func(m *domain.MediaInfo) { m.Width, m.Height = 3840, 2160 }), ""},
		{"dci_4k_passes", with(func(m *domain.MediaInfo) { m.Width, m.Height = 4096, 2160 }), ""},
		{"vertical_4k_passes", with(func(m *domain.MediaInfo) { m.Width, m.Height = 2304, 4096 }), ""},
		{"8k_is_too_large", with(func(m *domain.MediaInfo) { m.Width, m.Height = 7680, 4320 }), "its picture is 7680×4320; the limit is 4096×2304"},
		{"a_too_tall_square_is_too_large", with(func(m *domain.MediaInfo) { m.Width, m.Height = 2400, 2400 }), "its picture is 2400×2400; the limit is 4096×2304"},
		{"120_fps_passes", with(func(m *domain.MediaInfo) { m.FrameRate = "120/1" }), ""},
		{"240_fps_is_too_fast", with(func(m *domain.MediaInfo) { m.FrameRate = "240/1" }), "it plays 240 frames per second; the limit is 120"},
		{"four_hours_pass", with(func(m *domain.MediaInfo) { m.Duration = 4 * time.Hour }), ""},
		{"a_day_is_too_long", with(func(m *domain.MediaInfo) { m.Duration = 24 * time.Hour }), "it lasts 24h0m0s; the limit is 4h0m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := domain.RebuildAsset(history(createdVideo, sourceUp))
			if err := a.RecordProbe(domain.AssetPartSource, c.media, limits, now); err != nil {
				t.Fatal(err)
			}
			f := a.Failure()
			switch {
			case c.fail == "" && f != nil:
				t.Errorf("failed: %+v", f)
			case c.fail != "" && (f == nil || f.Code != domain.FailureSourceTooLarge || f.Message != "the uploaded source is too large: "+c.fail):
				t.Errorf("failure = %+v, want source_too_large: %s", f, c.fail)
			case c.fail != "" && len(a.Changes()) != 1:
				t.Errorf("a source beyond limits must fail without a probe on record: %#v", a.Changes())
			}
		})
	}
	// Audio is bounded by duration only.
	a, _ := domain.RebuildAsset(history(createdVideo, audioUp))
	if err := a.RecordProbe(domain.AssetPartAudio, audioOnly(5*time.Hour), limits, now); err != nil || a.Failure() == nil || a.Failure().Code != domain.FailureSourceTooLarge {
		t.Errorf("5 h of audio: %v %+v", err, a.Failure())
	}
}

// For any two durations and either order of probing, the second part is
// refused exactly when the durations disagree beyond the tolerance, and
// what the asset is charged adds up to the longer accepted part.
func TestAsset_billing_property_over_random_durations_and_both_orders(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2026))
	for range 2000 {
		audioD := time.Duration(rng.Int64N(int64(3 * time.Hour)))
		if audioD < time.Millisecond {
			audioD = time.Millisecond
		}
		// Mostly near the audio's duration, sometimes far from it.
		sourceD := audioD + time.Duration(rng.NormFloat64()*float64(audioD)/50)
		if rng.IntN(4) == 0 {
			sourceD = time.Duration(rng.Int64N(int64(3 * time.Hour)))
		}
		sourceD = max(sourceD, time.Millisecond)
		refused := absDur(audioD-sourceD) > domain.DurationTolerance(audioD, sourceD)
		for _, audioFirst := range []bool{true, false} {
			a, _ := domain.RebuildAsset(history(createdVideo, audioUp, sourceUp))
			first, second := domain.AssetPartAudio, domain.AssetPartSource
			firstM, secondM := audioOnly(audioD), video(sourceD)
			if !audioFirst {
				first, second, firstM, secondM = second, first, secondM, firstM
			}
			var charged int64
			chargeAll := func() {
				if s, due := a.NeedsCharge(); due {
					if err := a.Charge(s, "led", now); err != nil {
						t.Fatal(err)
					}
					charged += s
				}
			}
			if err := a.RecordProbe(first, firstM, domain.SourceLimits{}, now); err != nil {
				t.Fatal(err)
			}
			chargeAll()
			if err := a.RecordProbe(second, secondM, domain.SourceLimits{}, now); err != nil {
				t.Fatal(err)
			}
			chargeAll()
			want := ceilSec(firstM.Duration)
			if !refused {
				want = ceilSec(max(audioD, sourceD))
			}
			if (a.Refusal() != nil) != refused || charged != want || a.ChargedSeconds() != want {
				t.Fatalf("audio %s source %s audio first %v: refused %v (want %v), charged %d (want %d)",
					audioD, sourceD, audioFirst, a.Refusal() != nil, refused, charged, want)
			}
			if a.State() != domain.AssetStateReady && !(refused && audioFirst) {
				t.Fatalf("audio %s source %s audio first %v: state %s", audioD, sourceD, audioFirst, a.State())
			}
		}
	}
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }

func ceilSec(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
