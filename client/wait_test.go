package client

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// renderSequence answers GET /v1/renders/rnd_1 with each state in turn,
// then the last one forever.
func renderSequence(states ...Render) (http.HandlerFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		writeJSON(w, 200, states[min(i, len(states)-1)])
	}, &calls
}

func TestWaitRender_returns_on_each_terminal_state(t *testing.T) {
	for _, final := range []Render{
		{ID: "rnd_1", State: RenderCompleted, Progress: 100, DownloadURL: "/v1/downloads/t"},
		{ID: "rnd_1", State: RenderFailed, Failure: &Failure{Code: "encode_failed", Message: "ffmpeg exited 1"}},
		{ID: "rnd_1", State: RenderCancelled},
	} {
		t.Run(final.State, func(t *testing.T) {
			h, calls := renderSequence(
				Render{ID: "rnd_1", State: RenderPending},
				Render{ID: "rnd_1", State: RenderRunning, Progress: 40, ETASeconds: ptr(8.0)},
				Render{ID: "rnd_1", State: RenderRunning, Progress: 90, ETASeconds: ptr(0.2)},
				final,
			)
			c := newTestClient(t, h, WithPoll(PollPolicy{MinInterval: 500 * time.Millisecond, MaxInterval: 3 * time.Second}))
			var seen []int
			r, err := c.WaitRender(t.Context(), "rnd_1", func(r *Render) { seen = append(seen, r.Progress) })
			if err != nil {
				t.Fatal(err)
			}
			if r.State != final.State || !r.Terminal() || calls.Load() != 4 {
				t.Fatalf("render %+v after %d polls", r, calls.Load())
			}
			if final.State == RenderFailed && r.Failure.Code != "encode_failed" {
				t.Fatalf("failure %+v", r.Failure)
			}
			// Pending: the minimum; running with 8 s left: half of it,
			// capped at 3 s; with 0.2 s left: the minimum.
			want := []time.Duration{500 * time.Millisecond, 3 * time.Second, 500 * time.Millisecond}
			if w := c.waits(); len(w) != 3 || w[0] != want[0] || w[1] != want[1] || w[2] != want[2] {
				t.Fatalf("waits %v, want %v", w, want)
			}
			if len(seen) != 4 || seen[1] != 40 {
				t.Fatalf("onPoll saw %v", seen)
			}
		})
	}
}

func TestWaitRender_polls_at_half_the_ETA(t *testing.T) {
	p := PollPolicy{MinInterval: time.Second, MaxInterval: 20 * time.Second}
	for _, c := range []struct {
		last time.Duration
		eta  *float64
		want time.Duration
	}{
		{0, nil, time.Second}, {2 * time.Second, nil, 3 * time.Second}, {18 * time.Second, nil, 20 * time.Second},
		{0, ptr(10.0), 5 * time.Second}, {0, ptr(0.0), time.Second}, {0, ptr(600.0), 20 * time.Second},
	} {
		if got := p.next(c.last, c.eta); got != c.want {
			t.Errorf("next(%v, %v) = %v, want %v", c.last, c.eta, got, c.want)
		}
	}
}

func TestWaitRender_stops_with_its_context(t *testing.T) {
	h, _ := renderSequence(Render{ID: "rnd_1", State: RenderRunning, Progress: 10, ETASeconds: ptr(100.0)})
	srv := newTestClient(t, h).srv
	c, _ := New(srv.URL, "k", WithPoll(PollPolicy{MinInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	r, err := c.WaitRender(ctx, "rnd_1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if r == nil || r.State != RenderRunning {
		t.Fatalf("the last render seen: %+v", r)
	}
}

func TestWaitRender_returns_a_GETs_error(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { apiErr(w, 404, "not_found", "no such resource", "") })
	if _, err := c.WaitRender(t.Context(), "rnd_x"); !IsNotFound(err) {
		t.Fatalf("err %v", err)
	}
	if _, err := c.WaitAsset(t.Context(), "ast_x"); !IsNotFound(err) {
		t.Fatalf("err %v", err)
	}
}

func TestWaitAsset_returns_once_probed(t *testing.T) {
	for _, final := range []Asset{
		{ID: "ast_1", State: AssetReady, Cuttable: true},
		{ID: "ast_1", State: AssetFailed, Failure: &Failure{Code: "source_unreadable", Message: "x"}},
		{ID: "ast_1", State: AssetPaymentRequired},
		{ID: "ast_1", State: AssetProcessing, Refusal: &Refusal{Part: PartAudio, Code: "source_duration_mismatch"}},
	} {
		states := []Asset{{ID: "ast_1", State: AssetUploading}, {ID: "ast_1", State: AssetProcessing}, final}
		var calls atomic.Int32
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, states[min(int(calls.Add(1))-1, len(states)-1)])
		})
		a, err := c.WaitAsset(t.Context(), "ast_1")
		if err != nil || a.State != final.State || calls.Load() != 3 || len(c.waits()) != 2 {
			t.Fatalf("%s: asset %+v, err %v, %d polls", final.State, a, err, calls.Load())
		}
	}
}

func TestWaitAsset_stops_with_its_context(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, Asset{ID: "ast_1", State: AssetProcessing})
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// The first GET fails on the cancelled context already.
	if _, err := c.WaitAsset(ctx, "ast_1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
