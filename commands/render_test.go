package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

type renders struct {
	req    *commands.RequestRenderHandler
	cancel *commands.CancelRenderHandler
	start  *commands.StartRenderHandler
	fail   *commands.FailRenderHandler
}

func (w *world) renders() renders {
	req, _ := commands.NewRequestRenderHandler(w.d, commands.RenderLimits{MaxQueued: 100})
	cancel, _ := commands.NewCancelRenderHandler(w.d)
	start, _ := commands.NewStartRenderHandler(w.d, 2)
	fail, _ := commands.NewFailRenderHandler(w.d)
	return renders{req, cancel, start, fail}
}

// wantErr checks err against "" (none), "404", "422:<field>" or a 409 code.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	var ve *domain.ValidationError
	var ce *domain.ConflictError
	switch {
	case want == "":
		if err != nil {
			t.Fatalf("unexpected %v", err)
		}
	case want == "404":
		if !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("err = %v, want not found", err)
		}
	case len(want) > 4 && want[:4] == "422:":
		if !errors.As(err, &ve) || ve.Field != want[4:] {
			t.Fatalf("err = %v, want a 422 on %s", err, want[4:])
		}
	default:
		if !errors.As(err, &ce) || ce.Code != want {
			t.Fatalf("err = %v, want 409 %s", err, want)
		}
	}
}

func TestRequestRender_follows_the_pinned_order_of_checks(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	ready := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, domain.MediaInfo{Duration: 10 * time.Second, HasVideo: true, HasAudio: true,
		Width: 1920, Height: 1080, VideoBitrate: 8_000_000, AudioBitrate: 128_000})
	audio := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, domain.MediaInfo{Duration: 5 * time.Second, HasAudio: true, AudioBitrate: 128_000})
	silent := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, domain.MediaInfo{Duration: 5 * time.Second, HasVideo: true, Width: 1280, Height: 720})
	uploading, _ := w.create.Handle(t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	pendingCut, _ := w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: uploading.StreamID, Segments: []domain.Segment{{Start: 0, End: time.Second}}})
	r := w.renders()
	mp4 := domain.OutputSpec{Format: domain.FormatMP4}
	cases := []struct {
		name string
		c    commands.Caller
		cmd  commands.RequestRender
		want string
	}{
		{"unknown_asset_is_404_even_with_a_bad_format", alice, commands.RequestRender{AssetID: "ast_nope", Output: domain.OutputSpec{Format: "avi"}}, "404"},
		{"foreign_asset_is_404", commands.Caller{AccountID: "acc_bob"}, commands.RequestRender{AssetID: ready, Output: mp4}, "404"},
		{"bad_format_is_422", alice, commands.RequestRender{AssetID: ready, Output: domain.OutputSpec{Format: "avi"}}, "422:output.format"},
		{"video_of_an_audio_asset_is_422", alice, commands.RequestRender{AssetID: audio, Output: mp4}, "422:output.format"},
		{"audio_of_a_silent_video_is_422", alice, commands.RequestRender{AssetID: silent, Output: domain.OutputSpec{Format: domain.FormatMP3}}, "422:output.format"},
		{"unknown_cut_is_422", alice, commands.RequestRender{AssetID: ready, CutID: "cut_nope", Output: mp4}, "422:cut_id"},
		{"a_cut_of_another_asset_is_422", alice, commands.RequestRender{AssetID: ready, CutID: pendingCut.StreamID, Output: mp4}, "422:cut_id"},
		{"a_processing_cut_is_409_modifier_not_ready", alice, commands.RequestRender{AssetID: uploading.StreamID, CutID: pendingCut.StreamID, Output: domain.OutputSpec{Format: domain.FormatM4A}}, "modifier_not_ready"},
		{"video_of_an_uploading_asset_is_409", alice, commands.RequestRender{AssetID: uploading.StreamID, Output: mp4}, "asset_not_ready"},
		{"audio_of_an_asset_without_audio_yet_is_409_asset_processing", alice, commands.RequestRender{AssetID: uploading.StreamID, Output: domain.OutputSpec{Format: domain.FormatM4A}}, "asset_processing"},
		{"4k_of_1080p_is_422", alice, commands.RequestRender{AssetID: ready, Output: domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution4K}}, "422:output.resolution"},
		{"a_good_request", alice, commands.RequestRender{AssetID: ready, Output: mp4}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.req.Handle(t.Context(), c.c, c.cmd)
			wantErr(t, err, c.want)
		})
	}
}

func TestRequestRender_is_idempotent_and_replaces_failed_and_cancelled_renders(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, domain.MediaInfo{Duration: 5 * time.Second, HasAudio: true, AudioBitrate: 128_000})
	r := w.renders()
	ctx := t.Context()
	m4a := commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatM4A}}

	first, err := r.req.Handle(ctx, alice, m4a)
	if err != nil || first.Existing {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := r.req.Handle(ctx, alice, m4a)
	if err != nil || !again.Existing || again.StreamID != first.StreamID {
		t.Fatalf("repeat: %+v %v, want the same render", again, err)
	}
	other, _ := r.req.Handle(ctx, alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP3}})
	if other.Existing || other.StreamID == first.StreamID {
		t.Fatal("a different output is the same render")
	}
	explicitAuto, _ := r.req.Handle(ctx, alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatM4A, AudioBitrate: 192}})
	if explicitAuto.Existing {
		t.Fatal("an explicit value equal to Auto is the same render as the omitted one")
	}

	// Failed → replaced.
	attempt, _, err := r.start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: first.StreamID, WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.fail.Handle(ctx, commands.Caller{}, commands.FailRender{RenderID: first.StreamID, Attempt: attempt, Code: "encode_failed"}); err != nil {
		t.Fatal(err)
	}
	replacement, err := r.req.Handle(ctx, alice, m4a)
	if err != nil || replacement.Existing || replacement.StreamID == first.StreamID {
		t.Fatalf("after a failure: %+v %v, want a new render", replacement, err)
	}
	recs, _ := w.store.Load(ctx, replacement.StreamID)
	if got := recs[0].Event.(domain.RenderRequested).Replaces; got != first.StreamID {
		t.Errorf("replaces = %q, want %s", got, first.StreamID)
	}

	// Cancelled → replaced; cancelling twice is fine; completed can't be.
	if _, err := r.cancel.Handle(ctx, alice, commands.CancelRender{RenderID: replacement.StreamID}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cancel.Handle(ctx, alice, commands.CancelRender{RenderID: replacement.StreamID}); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	third, err := r.req.Handle(ctx, alice, m4a)
	if err != nil || third.Existing {
		t.Fatalf("after a cancel: %+v %v", third, err)
	}
	if _, err := r.cancel.Handle(ctx, commands.Caller{AccountID: "acc_bob"}, commands.CancelRender{RenderID: third.StreamID}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("bob cancels alice's render: %v", err)
	}
	if _, err := r.cancel.Handle(ctx, alice, commands.CancelRender{RenderID: first.StreamID}); err == nil {
		t.Error("a failed render was cancelled")
	}
}
