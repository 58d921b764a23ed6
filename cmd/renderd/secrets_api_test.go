package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/webhooks"
)

// Keys of the rotation tests (32 bytes each, base64).
var (
	key1 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	key2 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	key3 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
)

func ring(t *testing.T, v string) *keyring.AEAD {
	t.Helper()
	keys, err := keyring.Parse(v, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	a, err := keyring.NewAEAD(keys)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tableText is every column of every row of webhook_endpoints as text
// (bytea as hex), as someone reading a dump would see it.
func tableText(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var text string
	if err := pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(row_to_json(e)::text, E'\n'), '') FROM webhook_endpoints e`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	return text
}

// assertNotInClear fails if secret shows in text in any spelling: as
// itself, its base64 part, the bytes of either in hex (a bytea column).
func assertNotInClear(t *testing.T, text, secret string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("not a webhook secret: %q", secret)
	}
	for _, spelling := range []string{secret, strings.TrimPrefix(secret, "whsec_"), hex.EncodeToString([]byte(secret)), hex.EncodeToString(key)} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(spelling)) {
			t.Errorf("webhook_endpoints holds a secret in clear (%q):\n%s", spelling, text)
		}
	}
}

func sealedColumns(t *testing.T, pool *pgxpool.Pool, id string) (current, previous []byte, clear bool) {
	t.Helper()
	err := pool.QueryRow(t.Context(), `SELECT secret_sealed, previous_secret_sealed, secret IS NOT NULL OR previous_secret IS NOT NULL
		FROM webhook_endpoints WHERE id = $1`, id).Scan(&current, &previous, &clear)
	if err != nil {
		t.Fatal(err)
	}
	return current, previous, clear
}

func TestSecrets_webhook_secrets_are_sealed_and_download_urls_survive_a_key_rotation(t *testing.T) {
	s := startService(t, append([]string{"RENDERD_DOWNLOAD_SECRET=k1:" + key1}, webhookEnv...)...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))

	t.Run("webhook_secrets_are_sealed_at_rest_and_answered_with_no_store", func(t *testing.T) {
		s := s.with(t)
		created := s.do(key, "POST", "/v1/webhook-endpoints", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"render.completed"}})
		s.expect(created, http.StatusCreated, "")
		id, first := created.str("id"), created.str("secret")
		rotated := s.do(key, "POST", "/v1/webhook-endpoints/"+id+"/rotate-secret", nil)
		s.expect(rotated, http.StatusOK, "")
		second := rotated.str("secret")
		for name, r := range map[string]response{"create": created, "rotate-secret": rotated} {
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s: Cache-Control = %q, want no-store", name, got)
			}
		}
		if second == first || !strings.HasPrefix(second, "whsec_") {
			t.Fatalf("rotated secret %q", second)
		}
		text := tableText(t, s.pool)
		assertNotInClear(t, text, first)
		assertNotInClear(t, text, second)

		cur, prev, clear := sealedColumns(t, s.pool, id)
		if clear || cur == nil || prev == nil {
			t.Fatalf("sealed %x / %x, plaintext left: %v", cur, prev, clear)
		}
		r := ring(t, testSecretsKey)
		if got, err := r.Open(cur, []byte("webhook_endpoints/"+id+"/current")); err != nil || string(got) != second {
			t.Errorf("the current secret opens to %q, %v", got, err)
		}
		if got, err := r.Open(prev, []byte("webhook_endpoints/"+id+"/previous")); err != nil || string(got) != first {
			t.Errorf("the previous secret opens to %q, %v", got, err)
		}
		// Bound to its row and column: copied elsewhere it does not open.
		if _, err := r.Open(cur, []byte("webhook_endpoints/"+id+"/previous")); !errors.Is(err, keyring.ErrOpen) {
			t.Errorf("the current secret opened as the previous one: %v", err)
		}
		if _, err := r.Open(cur, []byte("webhook_endpoints/whe_other/current")); !errors.Is(err, keyring.ErrOpen) {
			t.Errorf("the secret opened for another endpoint: %v", err)
		}
	})

	t.Run("download_urls_keep_working_through_a_rotation_and_stop_when_their_key_goes", func(t *testing.T) {
		s := s.with(t)
		id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp3"})).str("id")
		s.completeRender(id, "renders/"+id+"/out.mp3", []byte("the rendered bytes"))
		var got response
		testenv.Eventually(t, 20*time.Second, "completed", func() bool {
			got = s.do(key, "GET", "/v1/renders/"+id, nil)
			return got.str("state") == "completed"
		})
		if cc := got.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET render with a download_url: Cache-Control = %q, want no-store", cc)
		}
		_, token, ok := strings.Cut(got.str("download_url"), "/v1/downloads/")
		if !ok {
			t.Fatalf("download_url %q", got.str("download_url"))
		}

		// A second API process whose ring has a new key first.
		rotated, rotatedLog := startAPIProcess(t, s, "RENDERD_DOWNLOAD_SECRET=k2:"+key2+",k1:"+key1)
		if status, body := fetch(t, rotated+"/v1/downloads/"+token); status != 200 || body != "the rendered bytes" {
			t.Errorf("a k1 URL under the ring k2,k1: %d %q", status, body)
		}
		fresh := s.with(t)
		fresh.base = rotated
		_, freshToken, _ := strings.Cut(fresh.do(key, "GET", "/v1/renders/"+id, nil).str("download_url"), "/v1/downloads/")
		if raw, err := base64.RawURLEncoding.DecodeString(freshToken); err != nil || len(raw) < 4 || string(raw[2:2+raw[1]]) != "k2" {
			t.Errorf("a fresh token does not name k2: %v", err)
		}
		// The first process does not know k2: the same answer as a bad token.
		_, forged := fetch(t, s.base+"/v1/downloads/"+token[:len(token)-2]+"xx")
		if status, body := fetch(t, s.base+"/v1/downloads/"+freshToken); status != 403 || body != forged {
			t.Errorf("a token of an unknown key: %d %s, want 403 %s", status, body, forged)
		}

		// The access log never shows the token, however the path is spelled.
		for _, p := range []string{"/v1//downloads/", "/v1/downloads//", "/v1/%64ownloads/", "/V1/Downloads/", "/v1/./downloads/"} {
			status, _ := fetch(t, rotated+p+token)
			if status >= 500 {
				t.Errorf("%s: status %d", p, status)
			}
		}
		testenv.Eventually(t, 10*time.Second, "the access log lines", func() bool {
			return strings.Count(rotatedLog.String(), `"http request"`) >= 8 || strings.Count(rotatedLog.String(), `msg="http request"`) >= 8
		})
		for _, leak := range []string{token, freshToken, token[:12]} {
			if strings.Contains(rotatedLog.String(), leak) {
				t.Errorf("the access log shows a download token:\n%s", rotatedLog.String())
			}
		}

		// k1 leaves the ring: URLs it signed stop working.
		retired, _ := startAPIProcess(t, s, "RENDERD_DOWNLOAD_SECRET=k2:"+key2)
		if status, body := fetch(t, retired+"/v1/downloads/"+token); status != 403 || body != forged {
			t.Errorf("a k1 URL after k1 left the ring: %d %s, want 403 %s", status, body, forged)
		}
		if status, _ := fetch(t, retired+"/v1/downloads/"+freshToken); status != 200 {
			t.Errorf("a k2 URL under the ring k2: %d", status)
		}
	})
}

// startAPI starts `renderd serve --roles api` on s's database and blobs
// with env, and returns its base URL and its log.
func startAPIProcess(t *testing.T, s *service, env ...string) (string, *testenv.LogBuffer) {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, append(s.encoderEnv("RENDERD_HTTP_ADDR="+addr, "RENDERD_LOG_LEVEL=info"), env...), "serve", "--roles", "api")
	base := "http://" + addr
	testenv.Eventually(t, 30*time.Second, "the API process to be ready", func() bool {
		status, _ := fetch(t, base+"/readyz")
		return status == http.StatusOK
	})
	return base, p.stderr
}

// fetch GETs url (following redirects) and returns the status and body;
// a failed connection is status 0.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestSecrets_migrate_seals_plaintext_rows_and_rotate_seals_again_under_the_new_key(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	env := func(kv ...string) func(string) string {
		m := map[string]string{"DATABASE_URL": dsn, "RENDERD_LOG_LEVEL": "warn"}
		for _, s := range kv {
			k, v, _ := strings.Cut(s, "=")
			m[k] = v
		}
		return func(k string) string { return m[k] }
	}
	var logs bytes.Buffer
	if err := run(t.Context(), []string{"migrate"}, env("RENDERD_SECRETS_KEY=k1:"+key1), io.Discard, &logs); err != nil {
		t.Fatalf("migrate: %v\n%s", err, logs.String())
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// Rows as they were before migration 00013 (or as an older process
	// writes them during an upgrade): secrets in clear.
	const current, previous = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
	for _, id := range []string{"whe_old1", "whe_old2"} {
		_, err = pool.Exec(t.Context(), `INSERT INTO webhook_endpoints (id, account_id, url, events, secret, previous_secret, previous_secret_until, created_at)
			VALUES ($1, 'acc_1', 'https://example.com/hook', ARRAY['render.completed'], $2, $3, now() + interval '1 hour', now())`, id, current, previous)
		if err != nil {
			t.Fatal(err)
		}
	}

	// Without the key, migrate refuses to leave them in clear silently.
	err = run(t.Context(), []string{"migrate"}, env(), io.Discard, io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_SECRETS_KEY") || !strings.Contains(err.Error(), "in clear") {
		t.Errorf("migrate without the key: %v", err)
	}

	if err := run(t.Context(), []string{"migrate"}, env("RENDERD_SECRETS_KEY=k1:"+key1), io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	assertNotInClear(t, tableText(t, pool), current)
	assertNotInClear(t, tableText(t, pool), previous)
	k1 := ring(t, "k1:"+key1)
	check := func(r *keyring.AEAD, wantKey string) {
		t.Helper()
		for _, id := range []string{"whe_old1", "whe_old2"} {
			cur, prev, clear := sealedColumns(t, pool, id)
			if clear {
				t.Fatalf("%s: plaintext left", id)
			}
			for col, want := range map[string]string{"current": current, "previous": previous} {
				sealed := map[string][]byte{"current": cur, "previous": prev}[col]
				got, err := r.Open(sealed, []byte("webhook_endpoints/"+id+"/"+col))
				if err != nil || string(got) != want {
					t.Errorf("%s %s: opens to %q, %v", id, col, got, err)
				}
				if kid, _ := r.KeyID(sealed); kid != wantKey {
					t.Errorf("%s %s: sealed under %q, want %q", id, col, kid, wantKey)
				}
			}
		}
	}
	check(k1, "k1")
	// Idempotent: a second run changes nothing.
	before := tableText(t, pool)
	if err := run(t.Context(), []string{"migrate"}, env("RENDERD_SECRETS_KEY=k1:"+key1), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if tableText(t, pool) != before {
		t.Error("a second migrate sealed the rows again")
	}

	// Rotation: a new key first, then secrets rotate; the old key can go.
	if err := run(t.Context(), []string{"secrets", "rotate"}, env("RENDERD_SECRETS_KEY=k2:"+key2+",k1:"+key1), io.Discard, io.Discard); err != nil {
		t.Fatalf("secrets rotate: %v", err)
	}
	check(ring(t, "k2:"+key2), "k2")
	assertNotInClear(t, tableText(t, pool), current)
	if _, err := k1.Open(func() []byte { c, _, _ := sealedColumns(t, pool, "whe_old1"); return c }(), []byte("webhook_endpoints/whe_old1/current")); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("k1 alone still opens a rotated secret: %v", err)
	}

	// A ring without the key in use cannot rotate: it says so, and the
	// rows stay as they were.
	before = tableText(t, pool)
	err = run(t.Context(), []string{"secrets", "rotate"}, env("RENDERD_SECRETS_KEY=k3:"+key3), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("rotate without the key in use: %v", err)
	}
	if tableText(t, pool) != before {
		t.Error("a failed rotation changed the rows")
	}
	if err := run(t.Context(), []string{"secrets", "rotate"}, env(), io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("rotate without RENDERD_SECRETS_KEY: %v", err)
	}
}

func TestSecrets_a_secret_that_does_not_open_is_never_sent_unsigned(t *testing.T) {
	s := startService(t, webhookEnv...)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	good, bad := newReceiver(t, nil), newReceiver(t, nil)
	goodID, _ := s.endpoint(key, good.srv.URL)
	badID, _ := s.endpoint(key, bad.srv.URL)
	// Another row's sealed secret is bound to that row: here it does not open.
	if _, err := s.pool.Exec(t.Context(), `UPDATE webhook_endpoints SET secret_sealed = (SELECT secret_sealed FROM webhook_endpoints WHERE id = $1)
		WHERE id = $2`, goodID, badID); err != nil {
		t.Fatal(err)
	}
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4"})).str("id")
	s.completeRender(id, "renders/"+id+"/out.mp4", []byte("mp4"))
	testenv.Eventually(t, 60*time.Second, "the good endpoint's delivery", func() bool { return good.count() == 1 })
	// The other delivery is claimed and put off, not attempted: it waits
	// for an operator to fix the key ring.
	testenv.Eventually(t, 30*time.Second, "the undecryptable delivery to be put off", func() bool {
		var attempts int
		var putOff bool
		err := s.pool.QueryRow(t.Context(), `SELECT attempts, next_attempt_at > now() + interval '20 seconds' FROM webhook_deliveries
			WHERE endpoint_id = $1`, badID).Scan(&attempts, &putOff)
		return err == nil && attempts == 0 && putOff
	})
	if n := bad.count(); n != 0 {
		t.Errorf("the endpoint whose secret does not open received %d requests", n)
	}
	if list := s.deliveries(key, badID); len(list) != 1 || dig(list[0], "status") != "pending" || len(dig(list[0], "attempts").([]any)) != 0 {
		t.Errorf("deliveries: %v", list)
	}
}

func TestSecrets_rotating_an_endpoint_still_in_clear_seals_both_secrets(t *testing.T) {
	pool := testenv.Postgres(t)
	const old = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	_, err := pool.Exec(t.Context(), `INSERT INTO webhook_endpoints (id, account_id, url, events, secret, created_at)
		VALUES ('whe_old', 'acc_1', 'https://example.com/hook', ARRAY['render.completed'], $1, now())`, old)
	if err != nil {
		t.Fatal(err)
	}
	k1 := ring(t, "k1:"+key1)
	const next = "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
	e, err := webhooks.NewStore(pool, k1).RotateSecret(t.Context(), "acc_1", "whe_old", next, time.Now().Add(time.Hour))
	if err != nil || e.Secret != next {
		t.Fatalf("rotate: %+v, %v", e, err)
	}
	if _, err := webhooks.NewStore(pool, k1).RotateSecret(t.Context(), "acc_2", "whe_old", next, time.Now()); !errors.Is(err, projections.ErrNotFound) {
		t.Errorf("another account's endpoint: %v", err)
	}
	cur, prev, clear := sealedColumns(t, pool, "whe_old")
	if clear {
		t.Fatal("plaintext left after a rotation")
	}
	if got, err := k1.Open(cur, []byte("webhook_endpoints/whe_old/current")); err != nil || string(got) != next {
		t.Errorf("current: %q, %v", got, err)
	}
	if got, err := k1.Open(prev, []byte("webhook_endpoints/whe_old/previous")); err != nil || string(got) != old {
		t.Errorf("previous: %q, %v", got, err)
	}
	assertNotInClear(t, tableText(t, pool), old)
	assertNotInClear(t, tableText(t, pool), next)
}

func TestReadyz_names_failing_checks_without_their_errors_which_go_to_the_log(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	if err := run(t.Context(), []string{"migrate"}, env(map[string]string{"DATABASE_URL": dsn}), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	dead := freeAddr(t) // nothing listens there: the Kafka check fails
	p := start(t, []string{"DATABASE_URL=" + dsn, "KAFKA_BROKERS=" + dead, "RENDERD_HTTP_ADDR=" + addr, "RENDERD_SECRETS_KEY=" + testSecretsKey},
		"serve", "--roles", "api")
	var status int
	var body string
	// The API listens before the process's roles have all started ("roles").
	testenv.Eventually(t, 30*time.Second, "/readyz to answer once the roles have started", func() bool {
		status, body = fetch(t, "http://"+addr+"/readyz")
		return status != 0 && strings.Contains(body, `"roles":"ok"`)
	})
	if want := `{"checks":{"kafka":"failing","postgres":"ok","roles":"ok"},"ready":false}`; status != http.StatusServiceUnavailable || strings.TrimSpace(body) != want {
		t.Errorf("/readyz = %d %s, want 503 %s", status, body, want)
	}
	if strings.Contains(body, dead) || strings.Contains(body, "refused") {
		t.Errorf("/readyz tells the error: %s", body)
	}
	testenv.Eventually(t, 10*time.Second, "the check's error in the log", func() bool {
		return strings.Contains(p.stderr.String(), "readiness check failing") && strings.Contains(p.stderr.String(), dead)
	})
}

func TestServe_pprof_beyond_loopback_only_when_forced(t *testing.T) {
	f := newServeFixture(t)
	p := start(t, append(f.env, "RENDERD_DEBUG_ADDR=:0"), "serve", "--roles", "relay")
	err := p.wait(t, 30*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(p.stderr.String(), "RENDERD_DEBUG_ALLOW_REMOTE") {
		t.Fatalf("exit %v, stderr %s; want code 2 naming RENDERD_DEBUG_ALLOW_REMOTE", err, p.stderr)
	}
	_, port, _ := strings.Cut(freeAddr(t), ":")
	start(t, append(f.env, "RENDERD_DEBUG_ADDR=0.0.0.0:"+port, "RENDERD_DEBUG_ALLOW_REMOTE=true"), "serve", "--roles", "relay")
	testenv.Eventually(t, 30*time.Second, "pprof on every interface, forced", func() bool {
		status, _ := fetch(t, "http://127.0.0.1:"+port+"/debug/pprof/")
		return status == http.StatusOK
	})
}

func TestSecrets_on_the_command_line_are_refused_by_the_binary(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--download-secret", secretValue},
		{"secrets", "rotate", "--secrets-key=" + secretValue},
		{"migrate", "--database-url", "postgres://renderd:hunter2@127.0.0.1:1/renderd"},
	} {
		p := start(t, []string{"DATABASE_URL=postgres://nobody@127.0.0.1:1/none"}, args...)
		err := p.wait(t, 30*time.Second)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(p.stderr.String(), "in the environment") ||
			strings.Contains(p.stderr.String(), "c2VjcmV0") || strings.Contains(p.stderr.String(), "hunter2") {
			t.Errorf("%q: exit %v, stderr %s", args, err, p.stderr)
		}
	}
}
