package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/testenv"
)

// A Postgres outage seen by the encoders (the API keeps its own, direct
// connection): a finished encode is never thrown away, and the outage never
// counts as an encoder crash (docs/renders.md, "Leases, outages and
// crashes"). The outage is a testenv.FaultProxy between the encoder
// processes and the real database.

// outageRig is the service without render encoding, a long source to
// render, and a proxy the encoder processes it starts may reach Postgres
// through.
type outageRig struct {
	*service
	key, video string
	proxy      *testenv.FaultProxy
	via        string
}

func newOutageRig(t *testing.T) *outageRig {
	s := startService(t, "RENDERD_ENCODER_RENDERS=false", bigUploads)
	key := s.account(60)
	video := s.readyAsset(key, "video", longVideo(t))
	proxy, via := testenv.ProxyPostgres(t, s.env["DATABASE_URL"])
	return &outageRig{service: s, key: key, video: video, proxy: proxy, via: via}
}

// encoder starts `renderd serve --roles encoder` named id with a lease of
// lease, through the proxy or not.
func (r *outageRig) encoder(id, lease string, throughProxy bool) *process {
	env := r.encoderEnv("RENDERD_WORKER_ID="+id, "RENDERD_ENCODER_LEASE="+lease)
	if throughProxy {
		env = append(env, "DATABASE_URL="+r.via)
	}
	return start(r.t, env, "serve", "--roles", "encoder")
}

// encodeDuringOutage requests a render, cuts the proxy once ffmpeg runs it,
// and returns once the encode is over (ffmpeg gone, no temporary output
// left: committed, or deleted), the proxy still cut.
func (r *outageRig) encodeDuringOutage() (id string, cut time.Time) {
	r.t.Helper()
	id = r.do(r.key, "POST", "/v1/renders", render(r.video, encodeLong)).str("id")
	testenv.Eventually(r.t, encodeTimeout, "ffmpeg to run the render", func() bool { return len(ffmpegOf(id)) > 0 })
	r.proxy.Cut()
	cut = time.Now()
	testenv.Eventually(r.t, 3*encodeTimeout, "the encode to end during the outage", func() bool {
		return len(ffmpegOf(id)) == 0 && !slices.ContainsFunc(r.outputFiles(id), func(n string) bool { return strings.HasPrefix(n, ".tmp") })
	})
	return id, cut
}

// checkFirstAttemptCompleted checks the render completed with attempt 1 and
// its first output: one encode, no lost lease, nothing else stored.
func (r *outageRig) checkFirstAttemptCompleted(id string, got response) {
	r.t.Helper()
	var started, retried, completed int
	for _, e := range r.renderHistory(id) {
		switch e.Type {
		case "render.started":
			started++
		case "render.retried":
			retried++
			r.t.Errorf("render.retried %v: the outage cost an attempt", e.Data)
		case "render.completed":
			completed++
			if e.Data["attempt"] != float64(1) || e.Data["blob_key"] != "renders/"+id+"/attempt-1.mp4" {
				r.t.Errorf("render.completed %v, want attempt 1's output", e.Data)
			}
		}
	}
	if started != 1 || retried != 0 || completed != 1 {
		r.t.Errorf("%d render.started, %d render.retried, %d render.completed; want 1, 0, 1", started, retried, completed)
	}
	if files := r.outputFiles(id); !slices.Equal(files, []string{"attempt-1.mp4"}) {
		r.t.Errorf("outputs %v, want attempt-1.mp4 alone", files)
	}
	if got.str("download_url") == "<nil>" {
		r.t.Errorf("completed render without a download: %s", got.raw)
	}
}

func TestEncoder_an_encode_finished_during_a_database_outage_completes_once_it_is_back(t *testing.T) {
	r := newOutageRig(t)
	// A lease far longer than the outage: this is the blip case.
	r.encoder("encoder-a", "60s", true)
	id, cut := r.encodeDuringOutage()
	r.proxy.Restore()
	restored := time.Now()
	got := r.waitRender(r.key, id, "completed", encodeTimeout)
	t.Logf("outage %s; completed %s after the database came back (backoff capped at 2 s)",
		restored.Sub(cut).Round(time.Millisecond), time.Since(restored).Round(time.Millisecond))
	r.checkFirstAttemptCompleted(id, got)
}

// An outage longer than the lease: every encoder's reaper saw it, waits a
// whole lease of answers before reaping, and the worker renews its run-out
// lease first; the render completes with its first attempt, no crash.
func TestEncoder_an_outage_longer_than_the_lease_is_not_an_encoder_crash(t *testing.T) {
	r := newOutageRig(t)
	const lease = 3 * time.Second
	r.encoder("encoder-a", lease.String(), true)
	r.encoder("encoder-b", lease.String(), true)
	id, cut := r.encodeDuringOutage()
	if wait := 2*lease - time.Since(cut); wait > 0 {
		time.Sleep(wait) // every lease has run out
	}
	r.proxy.Restore()
	restored := time.Now()
	got := r.waitRender(r.key, id, "completed", encodeTimeout)
	t.Logf("outage %s with a %s lease; completed %s after the database came back",
		restored.Sub(cut).Round(time.Millisecond), lease, time.Since(restored).Round(time.Millisecond))
	r.checkFirstAttemptCompleted(id, got)
}

// Only encoder A loses the database (a partition): B sees A silent for a
// whole lease, so it re-queues the render (a lost lease, rightly) and
// encodes it again. A's completion is then refused and its output deleted:
// one render.completed, attempt 2's output alone.
func TestEncoder_a_worker_cut_off_longer_than_the_lease_loses_the_render_and_its_output(t *testing.T) {
	r := newOutageRig(t)
	const lease = 3 * time.Second
	r.encoder("encoder-a", lease.String(), true)
	id, cut := r.encodeDuringOutage()
	r.encoder("encoder-b", lease.String(), false)
	testenv.Eventually(t, 3*encodeTimeout, "encoder B to take the render over", func() bool {
		return slices.Contains(r.renderEventTypes(id), "render.retried")
	})
	r.proxy.Restore()
	t.Logf("A cut off for %s", time.Since(cut).Round(time.Millisecond))
	r.waitRender(r.key, id, "completed", 3*encodeTimeout)
	testenv.Eventually(t, 30*time.Second, "A's refused output to be deleted", func() bool {
		return slices.Equal(r.outputFiles(id), []string{"attempt-2.mp4"})
	})
	var completed, lost int
	for _, e := range r.renderHistory(id) {
		switch {
		case e.Type == "render.completed":
			completed++
			if e.Data["attempt"] != float64(2) {
				t.Errorf("render.completed %v, want attempt 2", e.Data)
			}
		case e.Type == "render.retried" && e.Data["reason"] == "lease_expired":
			lost++
		}
	}
	if completed != 1 || lost != 1 {
		t.Errorf("%d render.completed and %d lost leases, want 1 and 1", completed, lost)
	}
}

func TestEncoder_a_cancel_during_the_outage_refuses_the_completion_and_deletes_the_output(t *testing.T) {
	r := newOutageRig(t)
	r.encoder("encoder-a", "60s", true)
	id, _ := r.encodeDuringOutage()
	r.expect(r.do(r.key, "DELETE", "/v1/renders/"+id, nil), http.StatusNoContent, "")
	r.proxy.Restore()
	testenv.Eventually(t, 30*time.Second, "the refused output to be deleted", func() bool { return len(r.outputFiles(id)) == 0 })
	if got := r.do(r.key, "GET", "/v1/renders/"+id, nil); got.str("state") != "cancelled" {
		t.Errorf("state %s, want cancelled", got.str("state"))
	}
	for _, typ := range r.renderEventTypes(id) {
		if typ == "render.completed" || typ == "render.failed" || typ == "render.retried" {
			t.Errorf("a render cancelled during the outage recorded %s", typ)
		}
	}
}
