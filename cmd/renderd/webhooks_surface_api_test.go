package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/ports/httpapi"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/webhooks"
)

// The webhook surface's bounds (docs/webhooks.md): endpoints per account,
// one per URL, paged lists, redeliveries, what the delivery log keeps, and
// whose endpoints a render event reaches.

// accountWithID creates an account and returns its key and id.
func (s *service) accountWithID(minutes int64) (key, id string) {
	s.t.Helper()
	acc, err := postgres.NewAccounts(s.pool).Create(s.t.Context(), "test", minutes*60)
	if err != nil {
		s.t.Fatal(err)
	}
	return acc.APIKey, acc.AccountID
}

func createEndpoint(s *service, key, url string) response {
	s.t.Helper()
	return s.do(key, http.MethodPost, "/v1/webhook-endpoints", map[string]any{"url": url, "events": []string{"render.completed"}})
}

// pageAll walks a list by its cursor, limit items a page, and returns the
// ids in order.
func (s *service) pageAll(key, path string, limit int) []string {
	s.t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		res := s.do(key, http.MethodGet, path+sep+q.Encode(), nil)
		s.expect(res, http.StatusOK, "")
		data, _ := dig(res.body, "data").([]any)
		if len(data) > limit {
			s.t.Fatalf("a page of %d items, limit %d", len(data), limit)
		}
		for _, item := range data {
			ids = append(ids, dig(item, "id").(string))
		}
		next, _ := dig(res.body, "next_cursor").(string)
		if next == "" {
			return ids
		}
		cursor = next
	}
	s.t.Fatal("the list never ended")
	return nil
}

func TestWebhooks_endpoints_are_capped_one_per_url_and_paged(t *testing.T) {
	s := startService(t, "RENDERD_WEBHOOK_MAX_ENDPOINTS=3")

	t.Run("past_the_cap_is_409_webhook_endpoint_limit_and_a_deletion_frees_a_place", func(t *testing.T) {
		s := s.with(t)
		key := s.account(1)
		var ids []string
		for i := range 3 {
			res := createEndpoint(s, key, "https://hooks.example.com/"+strconv.Itoa(i))
			s.expect(res, http.StatusCreated, "")
			ids = append(ids, res.str("id"))
		}
		s.expect(createEndpoint(s, key, "https://hooks.example.com/3"), http.StatusConflict, "webhook_endpoint_limit")
		s.expect(s.do(key, http.MethodDelete, "/v1/webhook-endpoints/"+ids[0], nil), http.StatusNoContent, "")
		s.expect(createEndpoint(s, key, "https://hooks.example.com/3"), http.StatusCreated, "")
		// Another account has its own cap.
		s.expect(createEndpoint(s, s.account(1), "https://hooks.example.com/0"), http.StatusCreated, "")
	})

	t.Run("concurrent_creations_do_not_pass_the_cap", func(t *testing.T) {
		s := s.with(t)
		key := s.account(1)
		var wg sync.WaitGroup
		statuses := make([]int, 12)
		for i := range statuses {
			wg.Go(func() {
				statuses[i] = createEndpoint(s, key, "https://race.example.com/"+strconv.Itoa(i)).status
			})
		}
		wg.Wait()
		created, refused := 0, 0
		for _, st := range statuses {
			switch st {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				refused++
			}
		}
		if created != 3 || refused != 9 {
			t.Errorf("12 concurrent creations: %d created, %d refused (%v), want 3 and 9", created, refused, statuses)
		}
		if got := s.pageAll(key, "/v1/webhook-endpoints", 100); len(got) != 3 {
			t.Errorf("the account lists %d endpoints, want 3", len(got))
		}
	})

	t.Run("a_duplicate_url_is_409_duplicate_webhook_url", func(t *testing.T) {
		s := s.with(t)
		key, other := s.account(1), s.account(1)
		first := createEndpoint(s, key, "https://hooks.example.com/in")
		s.expect(first, http.StatusCreated, "")
		for _, dup := range []string{"https://hooks.example.com/in", "https://HOOKS.example.com:443/in", "HTTPS://hooks.example.com./in"} {
			s.expect(createEndpoint(s, key, dup), http.StatusConflict, "duplicate_webhook_url")
		}
		// A trailing slash is another resource; another account may use the URL.
		s.expect(createEndpoint(s, key, "https://hooks.example.com/in/"), http.StatusCreated, "")
		s.expect(createEndpoint(s, other, "https://hooks.example.com/in"), http.StatusCreated, "")
		// A deleted endpoint's URL can be registered again.
		s.expect(s.do(key, http.MethodDelete, "/v1/webhook-endpoints/"+first.str("id"), nil), http.StatusNoContent, "")
		s.expect(createEndpoint(s, key, "https://hooks.example.com/in"), http.StatusCreated, "")
	})

	t.Run("concurrent_creations_of_one_url_make_one_endpoint", func(t *testing.T) {
		s := s.with(t)
		key := s.account(1)
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		for i := range statuses {
			wg.Go(func() { statuses[i] = createEndpoint(s, key, "https://same.example.com/hook").status })
		}
		wg.Wait()
		created := 0
		for _, st := range statuses {
			if st == http.StatusCreated {
				created++
			} else if st != http.StatusConflict {
				t.Errorf("status %d", st)
			}
		}
		if created != 1 {
			t.Errorf("%d endpoints created for one URL, want 1 (%v)", created, statuses)
		}
	})

	t.Run("the_list_pages_like_the_others_and_shows_no_other_account", func(t *testing.T) {
		s := s.with(t)
		key, other := s.account(1), s.account(1)
		var want []string
		for i := range 3 {
			want = append([]string{createEndpoint(s, key, "https://page.example.com/"+strconv.Itoa(i)).str("id")}, want...)
		}
		createEndpoint(s, other, "https://page.example.com/other")
		if got := s.pageAll(key, "/v1/webhook-endpoints", 2); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("pages of 2: %v, want %v (newest first, no repeats, no other account's)", got, want)
		}
		s.expect(s.do(key, http.MethodGet, "/v1/webhook-endpoints?cursor=garbage", nil), http.StatusBadRequest, "invalid_request")
		s.expect(s.do(key, http.MethodGet, "/v1/webhook-endpoints?limit=101", nil), http.StatusUnprocessableEntity, "validation_error")
		s.expect(s.do(other, http.MethodGet, "/v1/webhook-endpoints/"+want[0], nil), http.StatusNotFound, "not_found")
		s.expect(s.do(other, http.MethodGet, "/v1/webhook-endpoints/"+want[0]+"/deliveries", nil), http.StatusNotFound, "not_found")
	})
}

func TestWebhooks_redelivery_is_for_finished_deliveries_capped_and_rate_limited_per_account(t *testing.T) {
	s := startService(t, append(webhookEnv, "RENDERD_WEBHOOK_MAX_REDELIVERIES=2", "RENDERD_RATE_REDELIVER=1/m,5")...)
	keyA, keyB := s.account(60), s.account(60)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rcA := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 { // the first attempt stays in flight until released
			once.Do(func() { close(held) })
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	rcB := newReceiver(t, nil)
	epA, _ := s.endpoint(keyA, rcA.srv.URL)
	epB, _ := s.endpoint(keyB, rcB.srv.URL)
	deliver := func(key, ep string) string {
		video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
		id := s.do(key, http.MethodPost, "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
		s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
		var d string
		testenv.Eventually(t, 30*time.Second, "the delivery to be recorded", func() bool {
			list := s.deliveries(key, ep)
			if len(list) == 1 {
				d, _ = dig(list[0], "id").(string)
			}
			return d != ""
		})
		return d
	}
	dA := deliver(keyA, epA)
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the first attempt never arrived")
	}
	redeliver := func(key, id string) response {
		return s.do(key, http.MethodPost, "/v1/webhook-deliveries/"+id+"/redeliver", nil)
	}
	// waitDelivered waits for the endpoint's one delivery to be delivered
	// after the receiver's request number n.
	waitDelivered := func(key, ep string, received *receiver, n int) {
		testenv.Eventually(t, 30*time.Second, "the delivery to be delivered", func() bool {
			list := s.deliveries(key, ep)
			return received.count() >= n && len(list) == 1 && dig(list[0], "status") == "delivered"
		})
	}
	// In flight, so pending. (Should the held attempt time out first, the
	// delivery waits for its retry: pending too.)
	s.expect(redeliver(keyA, dA), http.StatusConflict, "delivery_pending")
	close(release)
	waitDelivered(keyA, epA, rcA, 1)
	dB := deliver(keyB, epB)
	waitDelivered(keyB, epB, rcB, 1)

	// Twice, each one more request with the same webhook-id.
	for range 2 {
		n := rcA.count()
		s.expect(redeliver(keyA, dA), http.StatusAccepted, "")
		waitDelivered(keyA, epA, rcA, n+1)
	}
	if got := dig(s.deliveries(keyA, epA)[0], "redeliveries"); got != float64(2) {
		t.Errorf("redeliveries %v, want 2", got)
	}
	sent := rcA.count()
	// Past the per-delivery cap, until the account's redeliver bucket (5,
	// refilled one a minute) is spent.
	var limited response
	for range 10 {
		if limited = redeliver(keyA, dA); limited.status == http.StatusTooManyRequests {
			break
		}
		s.expect(limited, http.StatusConflict, "redelivery_limit")
	}
	s.expect(limited, http.StatusTooManyRequests, "rate_limited")
	if got := limited.header.Get("RateLimit-Policy"); got != `"redeliver";q=5;w=300` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	// Another account is not throttled by A's replays, and cannot touch
	// A's delivery.
	s.expect(redeliver(keyB, dB), http.StatusAccepted, "")
	s.expect(redeliver(keyB, dA), http.StatusNotFound, "not_found")
	waitDelivered(keyB, epB, rcB, 2)
	if a, b := rcB.get(0).header.Get("webhook-id"), rcB.get(1).header.Get("webhook-id"); a != b {
		t.Errorf("a redelivery changed webhook-id: %q → %q", a, b)
	}
	if n := rcA.count(); n != sent {
		t.Errorf("the receiver got %d requests after the cap, want none", n-sent)
	}
}

func TestWebhooks_the_delivery_log_keeps_no_body_from_a_destination_the_allow_list_opens(t *testing.T) {
	// Loopback is opened by RENDERD_WEBHOOK_ALLOW here: the operator's own
	// network, whose answers are not read back to the customer. (A public
	// destination's body is kept: adapters/webhooks' Public and the
	// sender's tests cover that branch.)
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			http.Error(w, "internal admin console: db password hunter2", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok, thanks"))
	})
	ep, _ := s.endpoint(key, rc.srv.URL)
	id := s.do(key, http.MethodPost, "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the delivery to succeed", func() bool {
		list := s.deliveries(key, ep)
		return len(list) == 1 && dig(list[0], "status") == "delivered"
	})
	res := s.do(key, http.MethodGet, "/v1/webhook-endpoints/"+ep+"/deliveries", nil)
	if strings.Contains(string(res.raw), "hunter2") || strings.Contains(string(res.raw), "thanks") {
		t.Fatalf("the delivery log shows what a loopback receiver answered: %s", res.raw)
	}
	attempts, _ := dig(res.body, "data.0.attempts").([]any)
	if len(attempts) != 2 {
		t.Fatalf("attempts %v, want 2", attempts)
	}
	for _, a := range attempts {
		if body, ok := dig(a, "response_body").(string); ok || dig(a, "status_code") == nil {
			t.Errorf("attempt %v: response_body %q, want null beside its status", a, body)
		}
	}
	var stored int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_attempts WHERE body IS NOT NULL`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("%d attempts store a body (%v), want none", stored, err)
	}
}

func TestWebhooks_a_record_naming_another_account_reaches_only_the_render_s_owner(t *testing.T) {
	s := startService(t, webhookEnv...)
	keyA, accA := s.accountWithID(60)
	keyB, accB := s.accountWithID(60)
	rcA, rcB := newReceiver(t, nil), newReceiver(t, nil)
	epA, _ := s.endpoint(keyA, rcA.srv.URL)
	epB, _ := s.endpoint(keyB, rcB.srv.URL)
	video := s.readyAsset(keyA, "video", mediatest.Landscape1080p(t))
	id := s.do(keyA, http.MethodPost, "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the owner's webhook", func() bool { return rcA.count() == 1 })

	store := postgres.NewEventStore(s.pool, eventschema.NewCodec(), nil)
	recs, err := store.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	completed := recs[len(recs)-1]
	if completed.AccountID != accA {
		t.Fatalf("the render's events belong to %s, want %s", completed.AccountID, accA)
	}

	t.Run("on_kafka_a_forged_ce_accountid_is_ignored", func(t *testing.T) {
		s := s.with(t)
		// A second endpoint of the owner, made after the real record went
		// through: the forged record's delivery to it shows the record was
		// consumed, and that it went to the owner and nowhere else.
		rcA2 := newReceiver(t, nil)
		epA2, _ := s.endpoint(keyA, rcA2.srv.URL)
		entries, err := postgres.ReadLog(t.Context(), s.pool, postgres.Checkpoint{}, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		var forged postgres.LogEntry
		for _, e := range entries {
			if e.ID == completed.ID {
				forged = e
			}
		}
		if forged.ID == "" {
			t.Fatal("render.completed is not in the log")
		}
		forged.AccountID = accB // ce_accountid names the other account
		out, err := relay.CloudEventsMapper(eventschema.NewCodec(), kafka.Topics{Prefix: s.env["RENDERD_KAFKA_TOPIC_PREFIX"]})(forged)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Message.Metadata.Get("accountid"); got != accB {
			t.Fatalf("the forged record's ce_accountid is %q, want %s", got, accB)
		}
		pub, err := kafka.NewBatchPublisher(testenv.KafkaBrokers(t), kafka.ProducerConfig("renderd-test-forger"), kafka.CloudEventsMarshaler{})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		if err := pub.Publish([]kafka.Outgoing{out}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 60*time.Second, "the forged record to be consumed (a delivery to either account)", func() bool {
			return len(s.deliveries(keyA, epA2)) == 1 || len(s.deliveries(keyB, epB)) > 0
		})
		if list := s.deliveries(keyA, epA2); len(list) != 1 {
			t.Errorf("the owner's new endpoint has deliveries %v, want the one of the forged record", list)
		}
		if list := s.deliveries(keyB, epB); len(list) != 0 {
			t.Errorf("the other account's endpoint has deliveries %v, want none", list)
		}
		if list := s.deliveries(keyA, epA); len(list) != 1 {
			t.Errorf("the owner's first endpoint has %d deliveries, want still 1", len(list))
		}
	})

	t.Run("at_the_handler_a_forged_account_or_event_is_refused", func(t *testing.T) {
		s := s.with(t)
		p := webhooks.NewProjector(s.pool, store, httpapi.WebhookPayload, func() string { return "whd_forged_" + strconv.FormatInt(time.Now().UnixNano(), 36) }, testenv.Logger(t))
		named := completed
		named.AccountID = accB
		if err := p.Handle(t.Context(), named); err != nil {
			t.Fatal(err)
		}
		other := completed
		other.ID = "0190a1b2-0000-7000-8000-00000000dead" // an event the store does not hold there
		if err := p.Handle(t.Context(), other); !errors.Is(err, projections.ErrUnprojectable) {
			t.Errorf("Handle(an event not in the store) = %v, want ErrUnprojectable", err)
		}
		other = completed // the render's request, passed off as its completion
		other.ID, other.StreamVersion, other.Event = recs[0].ID, 1, domain.RenderCompleted{}
		if err := p.Handle(t.Context(), other); !errors.Is(err, projections.ErrUnprojectable) {
			t.Errorf("Handle(the request as a completion) = %v, want ErrUnprojectable", err)
		}
		var n int
		if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_deliveries WHERE account_id = $1 OR endpoint_id = $2`, accB, epB).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d deliveries for the other account (%v), want none", n, err)
		}
	})
	if n := rcB.count(); n != 0 {
		t.Errorf("the other account's receiver got %d webhooks, want none", n)
	}
}

func TestServe_warns_at_start_when_the_webhook_guard_is_opened(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u:p@localhost:5432/db", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	warned := func(extra map[string]string) string {
		t.Helper()
		kv := map[string]string{}
		maps.Copy(kv, base)
		maps.Copy(kv, extra)
		cfg, _, err := loadConfig("serve", nil, env(kv), &bytes.Buffer{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		warnWebhookGuard(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		return logs.String()
	}
	if got := warned(nil); got != "" {
		t.Errorf("the default guard logs %q, want nothing", got)
	}
	// What make run sets.
	got := warned(map[string]string{"RENDERD_WEBHOOK_ALLOW": "127.0.0.0/8,::1/128", "RENDERD_WEBHOOK_ALLOW_HTTP": "true"})
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "RENDERD_WEBHOOK_ALLOW=127.0.0.0/8,::1/128") ||
		!strings.Contains(got, "RENDERD_WEBHOOK_ALLOW_HTTP=true") || strings.Count(got, "\n") != 1 {
		t.Errorf("make run's settings log %q, want one WARN line naming both", got)
	}
	if got := warned(map[string]string{"RENDERD_WEBHOOK_ALLOW_HTTP": "true"}); !strings.Contains(got, "level=WARN") {
		t.Errorf("http alone logs %q, want a WARN line", got)
	}
}

// A disabled endpoint cannot be enabled again, so it frees its URL: the
// redelivery refusal's advice (register the URL again) works, the index
// included. It still counts toward the cap until deleted.
func TestWebhooks_a_disabled_endpoint_frees_its_URL_for_a_new_one(t *testing.T) {
	s := startService(t, append(webhookEnv, "RENDERD_WEBHOOK_MAX_ENDPOINTS=2")...)
	key := s.account(60)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	first, _ := s.endpoint(key, rc.srv.URL)
	s.expect(createEndpoint(s, key, rc.srv.URL), http.StatusConflict, "duplicate_webhook_url")
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	id := s.do(key, http.MethodPost, "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 30*time.Second, "the endpoint to be disabled", func() bool {
		return s.do(key, http.MethodGet, "/v1/webhook-endpoints/"+first, nil).str("state") == "disabled"
	})
	list := s.deliveries(key, first)
	if len(list) != 1 {
		t.Fatalf("deliveries %v", list)
	}
	refused := s.do(key, http.MethodPost, "/v1/webhook-deliveries/"+dig(list[0], "id").(string)+"/redeliver", nil)
	s.expect(refused, http.StatusConflict, "webhook_endpoint_disabled")
	if msg := refused.str("error.message"); !strings.Contains(msg, "register its URL as a new endpoint") {
		t.Errorf("message %q does not say what to do", msg)
	}
	// The advice works: the same URL (in another spelling of it too) is a
	// new, enabled endpoint; a second one is a duplicate again.
	again := createEndpoint(s, key, strings.Replace(rc.srv.URL, "http://", "HTTP://", 1)+"/")
	s.expect(again, http.StatusCreated, "")
	if again.str("state") != "enabled" {
		t.Errorf("the new endpoint is %s", again.str("state"))
	}
	s.expect(createEndpoint(s, key, rc.srv.URL), http.StatusConflict, "duplicate_webhook_url")
	// The disabled one still counts toward the cap (2) until deleted.
	s.expect(createEndpoint(s, key, rc.srv.URL+"/other"), http.StatusConflict, "webhook_endpoint_limit")
	s.expect(s.do(key, http.MethodDelete, "/v1/webhook-endpoints/"+first, nil), http.StatusNoContent, "")
	s.expect(createEndpoint(s, key, rc.srv.URL+"/other"), http.StatusCreated, "")
}

// renderd migrate gives endpoints stored without a URL key (before
// migration 00014) theirs; of two with one key in an account, the older
// keeps it, and deleted or unreadable rows are left alone.
func TestWebhooks_migrate_fills_in_the_URL_keys_of_older_endpoints(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	env := func(k string) string {
		return map[string]string{"DATABASE_URL": dsn, "RENDERD_LOG_LEVEL": "warn"}[k]
	}
	if err := run(t.Context(), []string{"migrate"}, env, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for _, r := range []struct{ id, account, url, deleted string }{
		{"whe_1", "acc_1", "HTTPS://Example.COM:443", ""},
		{"whe_2", "acc_1", "https://example.com/", ""},
		{"whe_3", "acc_2", "https://example.com", ""},
		{"whe_4", "acc_1", "https://example.com/hooks?a=1", "now"},
		{"whe_5", "acc_1", "ftp://example.com/", ""},
		{"whe_6", "acc_1", "http://[::1]:80/local", ""},
	} {
		if _, err := pool.Exec(t.Context(), `INSERT INTO webhook_endpoints (id, account_id, url, events, created_at, deleted_at)
			VALUES ($1, $2, $3, ARRAY['render.completed'], now(), CASE WHEN $4 = '' THEN NULL ELSE now() END)`, r.id, r.account, r.url, r.deleted); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // idempotent
		if err := run(t.Context(), []string{"migrate"}, env, io.Discard, io.Discard); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	rows, err := pool.Query(t.Context(), `SELECT id, coalesce(url_key, '<none>') FROM webhook_endpoints`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var x [2]string
		return x, r.Scan(&x[0], &x[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"whe_1": "https://example.com/", "whe_2": "<none>", "whe_3": "https://example.com/",
		"whe_4": "<none>", "whe_5": "<none>", "whe_6": "http://[::1]/local"}
	for _, x := range got {
		if want[x[0]] != x[1] {
			t.Errorf("%s: url_key %q, want %q", x[0], x[1], want[x[0]])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
}
