package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/ports/httpapi"
	"github.com/renderd/renderd/webhooks"
)

// Webhooks end to end: real receivers on loopback, renders finished by the
// worker commands (the encoder only probes here), deliveries through Kafka,
// the delivery projection and the dispatcher.

// webhookEnv opens loopback receivers and makes retries take milliseconds.
// The timeout stays generous: a receiver answering late on a loaded machine
// would be retried, and tests counting attempts would see one more.
var webhookEnv = []string{"RENDERD_ENCODER_RENDERS=false", "RENDERD_WEBHOOK_ALLOW=127.0.0.0/8,::1/128", "RENDERD_WEBHOOK_ALLOW_HTTP=true",
	"RENDERD_WEBHOOK_SCHEDULE=300ms,300ms,300ms,300ms,300ms", "RENDERD_WEBHOOK_TIMEOUT=5s"}

// receiver is a webhook receiver: answer decides each response (by the
// 1-based number of the request); every request is recorded.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int, w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	received []received
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{t: t, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body)) // for answer
		rc.mu.Lock()
		rc.received = append(rc.received, received{header: r.Header.Clone(), body: body, at: time.Now()})
		n := len(rc.received)
		rc.mu.Unlock()
		if rc.answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.answer(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) count() int { rc.mu.Lock(); defer rc.mu.Unlock(); return len(rc.received) }

func (rc *receiver) get(i int) received { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.received[i] }

// endpoint registers url for both events and returns its id and secret.
func (s *service) endpoint(key, url string) (id, secret string) {
	s.t.Helper()
	res := s.do(key, "POST", "/v1/webhook-endpoints", map[string]any{"url": url, "events": []string{"render.completed", "render.failed"}})
	s.expect(res, http.StatusCreated, "")
	return res.str("id"), res.str("secret")
}

// deliveries returns the endpoint's delivery log.
func (s *service) deliveries(key, endpoint string) []any {
	s.t.Helper()
	res := s.do(key, "GET", "/v1/webhook-endpoints/"+endpoint+"/deliveries", nil)
	s.expect(res, http.StatusOK, "")
	list, _ := dig(res.body, "data").([]any)
	return list
}

func TestWebhooks_completed_and_failed_are_delivered_signed_after_the_read_model_shows_them(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	var seen []string // the render's state as GET showed it when the webhook arrived
	var mu sync.Mutex
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		var p struct {
			Data struct{ Render struct{ ID string } }
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &p)
		got := s.quickState(key, p.Data.Render.ID)
		mu.Lock()
		seen = append(seen, got)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	epID, secret := s.endpoint(key, rc.srv.URL+"/hooks")

	done := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(done, "renders/"+done+"/out.mp4", []byte("mp4"))
	failed := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mov"})).str("id")
	s.failRender(failed, "encode_failed", "x264 broke")
	testenv.Eventually(t, 30*time.Second, "two webhooks", func() bool { return rc.count() >= 2 })

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for i := range 2 {
		got := rc.get(i)
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Errorf("webhook %d does not verify with the Standard Webhooks library: %v", i, err)
		}
		var p struct {
			ID, Type string
			Data     struct {
				Render map[string]any
			}
		}
		if err := json.Unmarshal(got.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.ID != got.header.Get("webhook-id") || p.Data.Render["download_url"] != nil {
			t.Errorf("payload %s", got.body)
		}
		types[p.Data.Render["id"].(string)] = p.Type + "/" + p.Data.Render["state"].(string)
	}
	if types[done] != "render.completed/completed" || types[failed] != "render.failed/failed" {
		t.Errorf("webhooks %v", types)
	}
	testenv.Eventually(t, 30*time.Second, "the log to show both delivered", func() bool {
		list := s.deliveries(key, epID)
		return len(list) == 2 && dig(list[0], "status") == "delivered" && dig(list[1], "status") == "delivered"
	})
	// Nothing more arrives: each event was sent once.
	time.Sleep(time.Second)
	if n := rc.count(); n != 2 {
		t.Errorf("%d webhooks arrived, want 2", n)
	}
	// Checked once every answer is done: holding mu while a receiver
	// still runs would stall its answer (and time the attempt out).
	mu.Lock()
	defer mu.Unlock()
	for _, st := range seen {
		if st != "completed" && st != "failed" {
			t.Errorf("a receiver fetching the render saw %q: the webhook went out before the read model showed it", st)
		}
	}
}

func TestWebhooks_retries_until_the_receiver_answers(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	cases := []struct {
		name     string
		answer   func(n int, w http.ResponseWriter, r *http.Request)
		attempts int
	}{
		{"down_for_three_attempts_then_up", func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 3 {
				hijackAndClose(w) // no answer at all, like a receiver that is down
				return
			}
			w.WriteHeader(http.StatusOK)
		}, 4},
		{"500_then_200", func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				http.Error(w, "oops", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		}, 2},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := s.with(t)
			rc := newReceiver(t, c.answer)
			epID, _ := s.endpoint(key, rc.srv.URL)
			id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4", "audio_bitrate": []int{128, 192}[i]})).str("id")
			s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
			testenv.Eventually(t, 30*time.Second, "the delivery to succeed", func() bool {
				list := s.deliveries(key, epID)
				return len(list) == 1 && dig(list[0], "status") == "delivered"
			})
			d := s.deliveries(key, epID)[0]
			attempts, _ := dig(d, "attempts").([]any)
			if len(attempts) != c.attempts {
				t.Fatalf("%d attempts, want %d: %v", len(attempts), c.attempts, attempts)
			}
			if last := attempts[len(attempts)-1]; dig(last, "status_code") != float64(200) {
				t.Errorf("last attempt %v", last)
			}
			if first := attempts[0]; dig(first, "status_code") == float64(200) || (dig(first, "error") == nil && dig(first, "status_code") == nil) {
				t.Errorf("first attempt %v", first)
			}
			ids := map[string]bool{}
			for k := range rc.count() {
				ids[rc.get(k).header.Get("webhook-id")] = true
			}
			if len(ids) != 1 {
				t.Errorf("retries used webhook-ids %v, want one", ids)
			}
		})
	}
}

func TestWebhooks_410_disables_the_endpoint(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	epID, _ := s.endpoint(key, rc.srv.URL)
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the endpoint to be disabled", func() bool {
		return s.do(key, "GET", "/v1/webhook-endpoints/"+epID, nil).str("state") == "disabled"
	})
	if list := s.deliveries(key, epID); len(list) != 1 || dig(list[0], "status") != "failed" {
		t.Errorf("deliveries %v", list)
	}
	// A disabled endpoint gets nothing more.
	next := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mov"})).str("id")
	s.failRender(next, "encode_failed", "x")
	time.Sleep(2 * time.Second)
	if n := rc.count(); n != 1 {
		t.Errorf("the disabled endpoint received %d requests, want 1", n)
	}
}

func TestWebhooks_an_endpoint_failing_for_too_long_is_disabled(t *testing.T) {
	s := startService(t, append(webhookEnv, "RENDERD_WEBHOOK_DISABLE_AFTER=1s")...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	epID, _ := s.endpoint(key, rc.srv.URL)
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the endpoint to be disabled", func() bool {
		got := s.do(key, "GET", "/v1/webhook-endpoints/"+epID, nil)
		return got.str("state") == "disabled" && got.str("disabled_reason") != "<nil>"
	})
}

func TestWebhooks_a_slow_receiver_does_not_delay_a_fast_one(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	release := make(chan struct{})
	slow := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	})
	fast := newReceiver(t, nil)
	s.endpoint(key, slow.srv.URL)
	s.endpoint(key, fast.srv.URL)
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	// The fast receiver is served while the slow one still holds its request.
	testenv.Eventually(t, 30*time.Second, "the fast receiver's webhook", func() bool { return fast.count() == 1 })
	if slow.count() == 0 {
		t.Log("the slow receiver had not been called yet")
	}
	close(release)
}

func TestWebhooks_a_redelivered_event_creates_no_second_delivery_and_redeliver_resends(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, nil)
	epID, _ := s.endpoint(key, rc.srv.URL)
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the webhook", func() bool { return rc.count() == 1 })

	// Kafka delivers the render.completed message again.
	store := postgres.NewEventStore(s.pool, eventschema.NewCodec(), nil)
	recs, err := store.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	p := webhooks.NewProjector(s.pool, store, httpapi.WebhookPayload, func() string { return "whd_dup" }, testenv.Logger(t))
	if err := p.Handle(t.Context(), recs[len(recs)-1]); err != nil {
		t.Fatal(err)
	}
	if list := s.deliveries(key, epID); len(list) != 1 {
		t.Fatalf("%d deliveries after a redelivered message, want 1", len(list))
	}

	// The replay button: a new attempt, the same webhook-id.
	delivery := s.deliveries(key, epID)[0]
	s.expect(s.do(key, "POST", "/v1/webhook-deliveries/"+dig(delivery, "id").(string)+"/redeliver", nil), http.StatusAccepted, "")
	testenv.Eventually(t, 10*time.Second, "the redelivery", func() bool { return rc.count() == 2 })
	if a, b := rc.get(0).header.Get("webhook-id"), rc.get(1).header.Get("webhook-id"); a != b || a == "" {
		t.Errorf("webhook-ids %q and %q, want the same", a, b)
	}
	s.expect(s.do(key, "POST", "/v1/webhook-deliveries/whd_nope/redeliver", nil), http.StatusNotFound, "not_found")
}

func TestWebhooks_the_SSRF_guard_refuses_private_and_metadata_addresses(t *testing.T) {
	// The default guard (http allowed, no address range opened).
	s := startService(t, "RENDERD_ENCODER_RENDERS=false", "RENDERD_WEBHOOK_ALLOW_HTTP=true", "RENDERD_WEBHOOK_SCHEDULE=300ms")
	key := s.account(60)
	// Addresses written into the URL are refused when the endpoint is made.
	for _, url := range []string{"http://169.254.169.254/latest/meta-data", "http://10.0.0.1/hook", "http://127.0.0.1:9/hook", "ftp://example.com/"} {
		s.expect(s.do(key, "POST", "/v1/webhook-endpoints", map[string]any{"url": url, "events": []string{"render.completed"}}),
			http.StatusUnprocessableEntity, "validation_error")
	}
	// A name is checked on the address it resolves to, when sending: here
	// localhost, a loopback receiver that must never be called.
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, nil)
	ep, _ := s.endpoint(key, "http://localhost:"+strconv.Itoa(rc.srv.Listener.Addr().(*net.TCPAddr).Port)+"/hook")
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the delivery to fail", func() bool {
		list := s.deliveries(key, ep)
		return len(list) == 1 && dig(list[0], "status") == "failed"
	})
	first := dig(s.deliveries(key, ep)[0], "attempts").([]any)[0]
	// One message for every refusal: the log never says where a name
	// resolved (here 127.0.0.1 or ::1) nor which range refused it.
	if e, _ := dig(first, "error").(string); dig(first, "status_code") != nil || e != "destination refused" {
		t.Errorf("attempt %v, want the error \"destination refused\"", first)
	}
	if n := rc.count(); n != 0 {
		t.Errorf("the loopback receiver was called %d times", n)
	}
}

func TestWebhooks_a_sender_killed_mid_attempt_is_replaced_and_the_delivery_completes(t *testing.T) {
	// The service here sends no webhooks; the senders are processes.
	env := append([]string{"RENDERD_ROLES=api,relay,projector,encoder"}, webhookEnv...)
	s := startService(t, env...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	held := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			once.Do(func() { close(held) })
			<-r.Context().Done() // never answers; the sender dies meanwhile
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	epID, _ := s.endpoint(key, rc.srv.URL)
	senderEnv := append(s.encoderEnv(), "RENDERD_WEBHOOK_ALLOW=127.0.0.0/8,::1/128", "RENDERD_WEBHOOK_ALLOW_HTTP=true",
		"RENDERD_WEBHOOK_SCHEDULE=300ms,300ms,300ms", "RENDERD_WEBHOOK_TIMEOUT=1s")
	a := start(t, senderEnv, "serve", "--roles", "webhooks")
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the first attempt never arrived")
	}
	// The attempt is in the log while it is in flight.
	if got := attemptsOf(s.deliveries(key, epID)); len(got) != 1 || dig(got[0], "state") != "in_flight" ||
		dig(got[0], "status_code") != nil || dig(got[0], "latency_ms") != nil || dig(got[0], "error") != nil {
		t.Errorf("attempts while the first is in flight: %v, want one in_flight without an outcome", got)
	}
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start(t, senderEnv, "serve", "--roles", "webhooks")
	var list []any
	testenv.Eventually(t, 60*time.Second, "the delivery to complete after the restart", func() bool {
		list = s.deliveries(key, epID)
		return len(list) == 1 && dig(list[0], "status") == "delivered"
	})
	if a, b := rc.get(0).header.Get("webhook-id"), rc.get(rc.count()-1).header.Get("webhook-id"); a != b {
		t.Errorf("the resent attempt changed webhook-id: %q → %q", a, b)
	}
	// Both attempts are logged: the killed sender's as abandoned.
	got := attemptsOf(list)
	if len(got) != 2 {
		t.Fatalf("attempts %v, want the abandoned one and the delivered one", got)
	}
	if dig(got[0], "n") != 1.0 || dig(got[0], "state") != "abandoned" || dig(got[0], "error") != webhooks.AttemptAbandonedError ||
		dig(got[0], "status_code") != nil || dig(got[0], "latency_ms") != nil {
		t.Errorf("first attempt %v, want abandoned by its killed sender", got[0])
	}
	if dig(got[1], "n") != 2.0 || dig(got[1], "state") != "finished" || dig(got[1], "status_code") != 200.0 || dig(got[1], "latency_ms") == nil {
		t.Errorf("second attempt %v, want finished with 200", got[1])
	}
}

// attemptsOf is the attempts of a list's only delivery.
func attemptsOf(deliveries []any) []any {
	if len(deliveries) != 1 {
		return nil
	}
	got, _ := dig(deliveries[0], "attempts").([]any)
	return got
}

// hijackAndClose drops the connection without an HTTP answer.
func hijackAndClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func TestWebhooks_a_rotated_secret_keeps_signing_next_to_the_new_one(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, nil)
	epID, old := s.endpoint(key, rc.srv.URL)
	rotated := s.do(key, "POST", "/v1/webhook-endpoints/"+epID+"/rotate-secret", nil)
	s.expect(rotated, http.StatusOK, "")
	fresh := rotated.str("secret")
	if fresh == old || len(fresh) < len("whsec_")+40 {
		t.Fatalf("rotated secret %q (old %q)", fresh, old)
	}
	if got := s.do(key, "GET", "/v1/webhook-endpoints/"+epID, nil); got.str("secret") != "<nil>" {
		t.Errorf("GET shows the secret: %s", got.raw)
	}
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the webhook", func() bool { return rc.count() == 1 })
	got := rc.get(0)
	for name, secret := range map[string]string{"old": old, "new": fresh} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Errorf("the %s secret does not verify during the grace period: %v", name, err)
		}
	}
}

// quickState is a render's state by a plain GET: a receiver calls it while
// the sender waits, so it skips s.do's OpenAPI check, which costs seconds
// on a loaded machine under -race and would make the attempt time out.
func (s *service) quickState(key, id string) string {
	req, err := http.NewRequest(http.MethodGet, s.base+"/v1/renders/"+id, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	var v struct{ State string }
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		return err.Error()
	}
	return v.State
}
