package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
)

// What a dropped connection costs a large resumable upload (docs/architecture.md,
// "Resumable uploads"): an upload of RENDERD_BENCH_UPLOAD_BYTES (1 GiB by
// default) drops at half, and is resumed from the offset HEAD reports.
// Reported per upload:
//
//   - resent-B: bytes sent before the drop that the server did not keep,
//     so are sent again (the cost in bytes of the drop);
//   - resume-s: HEAD and the PATCH of the rest but its last byte;
//   - finish-s: the last byte's PATCH, which copies the upload into the
//     blob store and records the part;
//   - half-s: the first half's PATCH, for scale.
//
// Run on the local stack, one upload (the stack's env sourced):
//
//	go test ./cmd/renderd -run '^$' -bench 'Resumable' -benchtime 1x
func BenchmarkResumableResume(b *testing.B) { benchResume(b, "file:"+b.TempDir()) }

// BenchmarkS3ResumableResume is BenchmarkResumableResume on the stack's S3.
func BenchmarkS3ResumableResume(b *testing.B) { benchResume(b, testenv.S3URL(b)) }

func benchResume(b *testing.B, blobURL string) {
	size := int64(1 << 30)
	if v := os.Getenv("RENDERD_BENCH_UPLOAD_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 2 {
			b.Fatalf("RENDERD_BENCH_UPLOAD_BYTES=%q", v)
		}
		size = n
	}
	base, key := benchAPI(b, blobURL, size)
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	ctx := b.Context()
	var resume, finish, half time.Duration
	var resentBytes int64
	for b.Loop() {
		asset := benchDo(b, key, http.MethodPost, base+"/v1/assets", map[string]string{"Content-Type": "application/json"},
			strings.NewReader(`{"kind":"video","name":"bench"}`), http.StatusCreated)
		var a struct{ ID string }
		if err := json.Unmarshal([]byte(asset.body), &a); err != nil {
			b.Fatal(err)
		}
		created := benchDo(b, key, http.MethodPost, base+"/v1/uploads", map[string]string{
			"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": tusMetadata("asset_id", a.ID, "part", "source")}, nil, http.StatusCreated)
		url := created.header.Get("Location")
		patch := func(from, to int64, dropAt int64) (tusResponse, time.Duration) {
			var body io.Reader = &patternReader{block: block, off: from, end: to}
			if dropAt > 0 {
				body = &droppedAfter{r: body, n: int(dropAt - from)}
			}
			start := time.Now()
			r, _ := benchSend(ctx, key, http.MethodPatch, url, map[string]string{
				"Upload-Offset": strconv.FormatInt(from, 10), "Content-Type": "application/offset+octet-stream"}, body)
			return r, time.Since(start)
		}
		_, took := patch(0, size, size/2)
		half += took
		// As a tus client resumes: HEAD, PATCH from the offset, and on a
		// 409 (the offset moved: on S3 a part of the dropped PATCH can
		// land after the HEAD) HEAD again.
		start := time.Now()
		var first int64 = -1
		for attempt := 0; ; attempt++ {
			offset := benchOffset(b, key, url)
			if first < 0 {
				first = offset
			}
			r, _ := patch(offset, size-1, 0)
			if r.status == http.StatusNoContent {
				break
			}
			if r.status != http.StatusConflict || attempt == 10 {
				b.Fatalf("resume at %d: %v", offset, r)
			}
		}
		resentBytes += size/2 - first
		resume += time.Since(start)
		r, took := patch(size-1, size, 0)
		if r.status != http.StatusNoContent {
			b.Fatalf("last byte: %v", r)
		}
		finish += took
	}
	n := float64(b.N)
	b.ReportMetric(float64(resentBytes)/n, "resent-B")
	b.ReportMetric(resume.Seconds()/n, "resume-s")
	b.ReportMetric(finish.Seconds()/n, "finish-s")
	b.ReportMetric(half.Seconds()/n, "half-s")
	b.ReportMetric(float64(size), "upload-B")
}

// benchOffset is the upload's offset once the server answers HEAD (after a
// drop it may hold the dropped PATCH's lock a moment).
func benchOffset(b *testing.B, key, url string) int64 {
	start := time.Now()
	for {
		head, err := benchSend(b.Context(), key, http.MethodHead, url, nil, nil)
		if err == nil && head.status == http.StatusOK {
			offset, _ := strconv.ParseInt(head.header.Get("Upload-Offset"), 10, 64)
			return offset
		}
		if time.Since(start) > time.Minute {
			b.Fatalf("HEAD after the drop: %v %v", head, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// patternReader yields bytes off..end of an endless repetition of block.
type patternReader struct {
	block    []byte
	off, end int64
}

func (p *patternReader) Read(buf []byte) (int, error) {
	if p.off >= p.end {
		return 0, io.EOF
	}
	i := p.off % int64(len(p.block))
	n := copy(buf, p.block[i:min(int64(len(p.block)), i+p.end-p.off)])
	p.off += int64(n)
	return n, nil
}

// benchAPI serves renderd's api role on blobURL for the benchmark, uploads
// of size bytes allowed, and returns its base URL and an account's key.
func benchAPI(b *testing.B, blobURL string, size int64) (base, key string) {
	dsn := testenv.NewDatabase(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	env := map[string]string{"DATABASE_URL": dsn, "RENDERD_HTTP_ADDR": addr, "RENDERD_ROLES": "api", "RENDERD_BLOB_URL": blobURL,
		"RENDERD_SCRATCH_DIR": b.TempDir(), "RENDERD_LOG_LEVEL": "warn", "RENDERD_SECRETS_KEY": testSecretsKey,
		"RENDERD_MAX_UPLOAD_BYTES": strconv.FormatInt(size, 10), "RENDERD_ACCOUNT_STORAGE_BYTES": "0", "RENDERD_METRICS_ADDR": "127.0.0.1:0"}
	getenv := func(k string) string { return env[k] }
	if err := run(b.Context(), []string{"migrate"}, getenv, io.Discard, io.Discard); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, io.Discard, os.Stderr) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	base = "http://" + addr
	testenv.Eventually(b, 30*time.Second, "the API to be ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	pool, err := pgxpool.New(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	acc, err := postgres.NewAccounts(pool).Create(b.Context(), "bench", 3600)
	if err != nil {
		b.Fatal(err)
	}
	return base, acc.APIKey
}

func benchDo(b *testing.B, key, method, url string, header map[string]string, body io.Reader, want int) tusResponse {
	b.Helper()
	r, err := benchSend(b.Context(), key, method, url, header, body)
	if err != nil || r.status != want {
		b.Fatalf("%s %s: %v %v, want %d", method, url, r, err, want)
	}
	return r
}

// benchSend is service.tus for a benchmark.
func benchSend(ctx context.Context, key, method, url string, header map[string]string, body io.Reader) (tusResponse, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return tusResponse{}, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tusResponse{}, err // a dropped PATCH's
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return tusResponse{status: resp.StatusCode, header: resp.Header, body: string(raw)}, nil
}
