package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
)

// While Postgres is away, every authenticated operation of the document
// (generated as the property test generates them, so a new route is covered
// without a change here) answers 503 service_unavailable with Retry-After,
// its answer as the document promises, never a 500, and /readyz answers
// 503; once Postgres is back the same operations succeed again, without a
// restart. Two outages: the database refusing new connections while the
// API's key listener keeps its own, so a cached key still passes and the
// handler's own query meets the outage; then every connection cut at the
// fault proxy, which empties the key cache, so authentication meets it.
func TestAPI_a_database_outage_answers_503_on_every_operation_and_the_API_recovers(t *testing.T) {
	direct := testenv.NewDatabase(t)
	proxy, dsn := testenv.ProxyPostgres(t, direct)
	s := startService(t, append(slices.Clone(hygieneEnv), "DATABASE_URL="+dsn,
		"RENDERD_READ_YOUR_WRITES_TIMEOUT=2s", "RENDERD_API_KEY_CACHE_TTL=5m")...)
	f := s.hygieneFixtures()
	seed := uint64(time.Now().UnixNano())
	t.Logf("request seed %d", seed)
	p := s.newProp(t, f, seed)
	var ops []propOp
	for _, op := range p.operations() {
		if op.public {
			continue
		}
		if !p.documents(op, "503") {
			t.Errorf("%s %s reaches the database but documents no 503", op.method, op.path)
		}
		ops = append(ops, op)
	}
	if len(ops) < 20 {
		t.Fatalf("only %d authenticated operations in the document", len(ops))
	}
	// A key this API process has never looked up.
	other, err := postgres.NewAccounts(s.pool).Create(t.Context(), "uncached", 60)
	if err != nil {
		t.Fatal(err)
	}
	uncached := other.APIKey

	// outage checks every operation during an outage; cached says whether
	// f.key passes authentication from the cache meanwhile.
	outage := func(name string, cached bool) {
		_, mark := s.logs.Since(0)
		for _, op := range ops {
			// A request may be refused before any query (say, a
			// validation error): any answer but a 5xx other than 503 is
			// fine, and the first query must answer 503.
			answered := false
			for range 20 {
				if p.send(op, p.request(op, false)) == http.StatusServiceUnavailable {
					answered = true
					break
				}
			}
			// A PATCH of a resumable upload that does not bring its last
			// byte touches only tusd's store: with the key cached it
			// never meets the database.
			if !answered && !(cached && op.method == http.MethodPatch && op.path == "/v1/uploads/{id}") {
				t.Errorf("%s: %s %s never answered 503", name, op.method, op.path)
			}
		}
		r := s.do(uncached, http.MethodGet, "/v1/credits", nil)
		s.expect(r, http.StatusServiceUnavailable, "service_unavailable")
		if r.header.Get("Retry-After") != "1" {
			t.Errorf("%s: Retry-After %q, want 1", name, r.header.Get("Retry-After"))
		}
		ready := s.do("", http.MethodGet, "/readyz", nil)
		if ready.status != http.StatusServiceUnavailable || ready.str("checks.postgres") != "failing" {
			t.Errorf("%s: /readyz = %d %s, want 503 with postgres failing", name, ready.status, ready.raw)
		}
		logged, _ := s.logs.Since(mark)
		refused, atAuth := 0, 0
		for line := range strings.Lines(logged) {
			if strings.Contains(line, `msg="request failed"`) {
				t.Errorf("%s: a request failed as a bug: %s", name, line)
			}
			if strings.Contains(line, `msg="request refused: a dependency is unavailable"`) {
				refused++
				if strings.Contains(line, `error="authenticate: `) {
					atAuth++
				}
			}
		}
		t.Logf("%s: %d requests refused as an outage, %d of them at authentication", name, refused, atAuth)
		if cached && atAuth != 1 {
			t.Errorf("%s: %d refusals at authentication, want only the uncached key's: the cached key's requests did not reach their handlers", name, atAuth)
		}
	}
	// recovered checks that every operation succeeds again once the
	// database is back.
	recovered := func(name string, back time.Time) {
		testenv.Eventually(t, 30*time.Second, name+": /readyz to answer 200 again", func() bool {
			resp, err := http.Get(s.base + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		t.Logf("%s: ready %v after the database came back", name, time.Since(back).Round(time.Millisecond))
		// Some answers depend on work the outage interrupted (a redelivery
		// needs the previous delivery's outcome recorded), so each
		// operation gets a few seconds, never a 503.
		unavailable := 0
		for _, op := range ops {
			ok := false
			for end := time.Now().Add(5 * time.Second); !ok && time.Now().Before(end); {
				status := p.send(op, p.request(op, false))
				if status == http.StatusServiceUnavailable {
					unavailable++
				}
				if ok = status >= 200 && status < 300; !ok {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if !ok {
				t.Errorf("%s: %s %s never answered a 2xx after the outage", name, op.method, op.path)
			}
		}
		if unavailable > 0 {
			t.Errorf("%s: %d requests answered 503 once ready again", name, unavailable)
		}
		s.expect(s.do(uncached, http.MethodGet, "/v1/credits", nil), http.StatusOK, "")
	}

	// The database refuses new connections; every session but the key
	// listener's ends.
	s.listening(1)
	s.expect(s.do(f.key, http.MethodGet, "/v1/credits", nil), http.StatusOK, "") // f.key is cached
	restore := refuseConnections(t, direct)
	outage("database refusing connections", true)
	restore()
	recovered("database refusing connections", time.Now())

	// Every connection is cut, and new ones are refused.
	proxy.Cut()
	outage("connections cut", false)
	proxy.Restore()
	recovered("connections cut", time.Now())
}

// refuseConnections makes the database at dsn refuse new connections and
// ends every session of it but the API key listener's, so a key the API
// has cached still passes while every query meets the outage. restore lets
// connections in again (the test's end does too).
func refuseConnections(t *testing.T, dsn string) (restore func()) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := pgx.Identifier{cfg.Database}.Sanitize()
	admin, err := pgx.Connect(t.Context(), testenv.Find(t).DatabaseURL) // another database: it may not refuse its own session's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	allow := func(yes bool) {
		if _, err := admin.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, db, yes)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { allow(true) })
	allow(false)
	var ended int
	err = admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND usename = current_user AND query NOT LIKE 'LISTEN %renderd_api_keys%'`, cfg.Database).Scan(&ended)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ended %d sessions; the key listener's stays", ended)
	return func() { allow(true) }
}
