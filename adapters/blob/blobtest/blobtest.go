// Package blobtest is the contract every blob.Store keeps (its doc in
// adapters/blob/store.go), as one suite each store's tests run:
//
//	blobtest.Run(t, func(t *testing.T) blob.Store { … a fresh, empty store … })
package blobtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
)

// The bodies' sizes. midSize is past an S3 store's multipart threshold
// (two 5 MiB parts and some), so failures mid-stream hit a multipart
// upload in flight; bigSize is large enough that a store holding a body
// in memory cannot pass the heap bound.
const (
	mib     = 1 << 20
	midSize = 12 * mib
	bigSize = 64 * mib
)

// Run runs the contract against the stores open makes: each subtest opens
// a new, empty store of its own (open closes it when its test ends).
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	for _, c := range []struct {
		name string
		test func(*testing.T, blob.Store)
	}{
		{"put_streams_a_large_body_in_bounded_memory", putStreamsLargeBody},
		{"put_of_an_empty_body_stores_an_empty_blob", putEmpty},
		{"put_at_the_exact_limit_is_stored", putExactLimit},
		{"put_one_byte_over_the_limit_stores_nothing_and_keeps_the_previous_blob", putOverLimit},
		{"put_whose_reader_fails_mid_stream_stores_nothing_and_keeps_the_previous_blob", putReaderFails},
		{"put_cancelled_mid_stream_stores_nothing_and_keeps_the_previous_blob", putCancelled},
		{"put_with_a_cancelled_context_stores_nothing", putCancelledBefore},
		{"concurrent_puts_of_one_key_leave_one_whole_body", putConcurrent},
		{"read_serves_ranges_and_nothing_past_the_end", readRanges},
		{"stat_describes_a_blob", statDescribes},
		{"delete_removes_a_blob_and_a_missing_one_is_fine", deleteBlob},
		{"list_by_prefix_in_key_order", listByPrefix},
		{"missing_blobs_are_errors_matching_fs_err_not_exist", missingBlobs},
		{"invalid_keys_are_refused", invalidKeys},
		{"fetch_gives_a_local_file_with_the_bytes", fetchRoundTrip},
		{"commit_publishes_a_temp_file_whole", commitRoundTrip},
		{"commit_of_a_temp_for_another_key_is_refused", commitWrongKey},
		{"discard_removes_a_temp_file", discardTemp},
		{"temps_lists_an_abandoned_temp_and_remove_temp_removes_it_unless_written_since", abandonedTemp},
		{"download_url_serves_the_blob_as_an_attachment_until_it_expires", downloadURL},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

func putStreamsLargeBody(t *testing.T, s blob.Store) {
	const key = "assets/ast_big/source"
	runtime.GC()
	body := &heapWatch{r: newPattern(1, bigSize), every: 4 * mib}
	body.base = liveHeap()
	n, err := s.Put(t.Context(), key, body, bigSize)
	if err != nil || n != bigSize {
		t.Fatalf("put = %d, %v", n, err)
	}
	// Holding the body would take bigSize; a store streams it through a
	// bounded buffer (S3: a few 5 MiB parts). Live heap, sampled after a
	// collection as the body is read: no timing in it.
	if grew := body.peak - min(body.peak, body.base); grew > bigSize/2 {
		t.Fatalf("the live heap grew by %d MiB while putting a %d MiB body: the store holds it in memory", grew/mib, bigSize/mib)
	}
	t.Logf("live heap grew by at most %.1f MiB putting %d MiB", float64(body.peak-min(body.peak, body.base))/mib, bigSize/mib)
	if info := stat(t, s, key); info.Size != bigSize {
		t.Fatalf("stat size %d, want %d", info.Size, bigSize)
	}
	r, err := s.Read(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := digest(t, r), digest(t, newPattern(1, bigSize)); got != want {
		t.Fatal("the blob read back differs from the body put")
	}
}

func putEmpty(t *testing.T, s blob.Store) {
	n, err := s.Put(t.Context(), "assets/ast_1/empty", strings.NewReader(""), 10)
	if err != nil || n != 0 {
		t.Fatalf("put = %d, %v", n, err)
	}
	if got := get(t, s, "assets/ast_1/empty"); got != "" {
		t.Fatalf("read %q", got)
	}
	if info := stat(t, s, "assets/ast_1/empty"); info.Size != 0 {
		t.Fatalf("stat size %d", info.Size)
	}
}

func putExactLimit(t *testing.T, s blob.Store) {
	for _, size := range []int64{10, midSize} {
		key := fmt.Sprintf("assets/ast_1/exact-%d", size)
		n, err := s.Put(t.Context(), key, newPattern(2, size), size)
		if err != nil || n != size {
			t.Fatalf("put of %d bytes with limit %d = %d, %v", size, size, n, err)
		}
		if info := stat(t, s, key); info.Size != size {
			t.Fatalf("stat size %d, want %d", info.Size, size)
		}
	}
}

func putOverLimit(t *testing.T, s blob.Store) {
	for _, size := range []int64{10, midSize} {
		const key = "assets/ast_1/source"
		put(t, s, key, "previous")
		_, err := s.Put(t.Context(), key, newPattern(3, size+1), size)
		if !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("put of %d bytes with limit %d: %v, want ErrTooLarge", size+1, size, err)
		}
		keptPrevious(t, s, key, "previous")
	}
}

var errBoom = errors.New("the client went away")

func putReaderFails(t *testing.T, s blob.Store) {
	for _, at := range []int64{5, midSize} {
		const key = "assets/ast_1/source"
		put(t, s, key, "previous")
		body := io.MultiReader(newPattern(4, at), failing{errBoom})
		_, err := s.Put(t.Context(), key, body, 2*midSize)
		if !errors.Is(err, errBoom) {
			t.Fatalf("put failing after %d bytes: %v, want the reader's error", at, err)
		}
		keptPrevious(t, s, key, "previous")
	}
}

func putCancelled(t *testing.T, s blob.Store) {
	for _, at := range []int64{5, midSize} {
		const key = "assets/ast_1/source"
		put(t, s, key, "previous")
		ctx, cancel := context.WithCancel(t.Context())
		// The body goes on after the cancel: only the store can stop.
		body := io.MultiReader(newPattern(5, at), cancelling{cancel}, newPattern(6, midSize))
		_, err := s.Put(ctx, key, body, 4*midSize)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("put cancelled after %d bytes: %v, want context.Canceled", at, err)
		}
		keptPrevious(t, s, key, "previous")
	}
}

func putCancelledBefore(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Put(ctx, "assets/ast_1/source", strings.NewReader("body"), 10); err == nil {
		t.Fatal("a put with a cancelled context succeeded")
	}
	missing(t, s, "assets/ast_1/source")
	noTemps(t, s)
}

func putConcurrent(t *testing.T, s blob.Store) {
	const key = "assets/ast_1/source"
	const size = 6 * mib
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = s.Put(t.Context(), key, newPattern(uint64(10+i), size), size)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := digest(t, r)
	if got != digest(t, newPattern(10, size)) && got != digest(t, newPattern(11, size)) {
		t.Fatal("after two concurrent puts the blob is neither body whole")
	}
	noTemps(t, s)
}

func readRanges(t *testing.T, s blob.Store) {
	const key = "renders/rnd_1/output.mp4"
	body := strings.Repeat("0123456789", 10)
	put(t, s, key, body)
	for _, c := range []struct {
		offset, length int64
		want           string
	}{
		{0, -1, body},
		{0, 10, body[:10]},
		{45, 10, body[45:55]},
		{90, -1, body[90:]},
		{95, 10, body[95:]},
		{99, 1, body[99:]},
		{100, 10, ""},
		{100, -1, ""},
		{250, 5, ""},
		{10, 0, ""},
		{5, math.MaxInt64, body[5:]},
	} {
		r, err := s.Read(t.Context(), key, c.offset, c.length)
		if err != nil {
			t.Fatalf("read(%d, %d): %v", c.offset, c.length, err)
		}
		got, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil || string(got) != c.want {
			t.Fatalf("read(%d, %d) = %q, %v; want %q", c.offset, c.length, got, err, c.want)
		}
	}
	if _, err := s.Read(t.Context(), key, -1, 5); err == nil {
		t.Fatal("a negative offset was accepted")
	}
}

func statDescribes(t *testing.T, s blob.Store) {
	put(t, s, "assets/ast_1/source", "twelve bytes")
	info := stat(t, s, "assets/ast_1/source")
	if info.Key != "assets/ast_1/source" || info.Size != 12 || info.ModTime.IsZero() {
		t.Fatalf("stat = %+v", info)
	}
}

func deleteBlob(t *testing.T, s blob.Store) {
	put(t, s, "assets/ast_1/source", "bytes")
	put(t, s, "assets/ast_1/audio", "other bytes")
	if err := s.Delete(t.Context(), "assets/ast_1/source"); err != nil {
		t.Fatal(err)
	}
	missing(t, s, "assets/ast_1/source")
	if got := get(t, s, "assets/ast_1/audio"); got != "other bytes" {
		t.Fatalf("the other blob reads %q", got)
	}
	if err := s.Delete(t.Context(), "assets/ast_1/source"); err != nil {
		t.Fatalf("deleting a deleted blob: %v", err)
	}
	if err := s.Delete(t.Context(), "assets/ast_never/source"); err != nil {
		t.Fatalf("deleting a blob that never was: %v", err)
	}
}

func listByPrefix(t *testing.T, s blob.Store) {
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("a new store lists %v", got)
	}
	// Inserted out of order; "a/b-x" sorts before "a/b/1" ('-' < '/'),
	// whatever a walk of folders would say.
	keys := []string{"b/1", "a/c/1", "a/b/2", "a/bb", "a/b-x", "a/b/1", "a/b/deep/er/1"}
	for _, k := range keys {
		put(t, s, k, k)
	}
	// A write in progress is no blob.
	if _, err := s.CreateTemp("a/b/3"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a/b-x", "a/b/1", "a/b/2", "a/b/deep/er/1", "a/bb", "a/c/1", "b/1"}},
		{"a/b/", []string{"a/b/1", "a/b/2", "a/b/deep/er/1"}},
		{"a/b", []string{"a/b-x", "a/b/1", "a/b/2", "a/b/deep/er/1", "a/bb"}},
		{"a/b/1", []string{"a/b/1"}},
		{"b/", []string{"b/1"}},
		{"c/", nil},
		{"a/z", nil},
	} {
		if got := list(t, s, c.prefix); !slices.Equal(got, c.want) {
			t.Errorf("list(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
	infos, err := s.List(t.Context(), "a/c/")
	if err != nil || len(infos) != 1 || infos[0].Size != int64(len("a/c/1")) || infos[0].ModTime.IsZero() {
		t.Fatalf("list(a/c/) = %+v, %v", infos, err)
	}
}

func missingBlobs(t *testing.T, s blob.Store) {
	missing(t, s, "assets/ast_none/source")
	if _, _, err := s.Fetch(t.Context(), "assets/ast_none/source"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch of a missing blob: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.Read(t.Context(), "assets/ast_none/source", 5, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty read of a missing blob: %v, want fs.ErrNotExist", err)
	}
}

func invalidKeys(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, key := range []string{"", "../x", "a/../b", "/abs", "a//b", "a/", ".hidden", "a/.tmp-x", "Upper", "a b", "a\x00b", strings.Repeat("a", 600)} {
		for op, err := range map[string]error{
			"put":    second(s.Put(ctx, key, strings.NewReader("x"), 10)),
			"stat":   second(s.Stat(ctx, key)),
			"read":   second(s.Read(ctx, key, 0, -1)),
			"delete": s.Delete(ctx, key),
			"fetch":  third(s.Fetch(ctx, key)),
			"temp":   second(s.CreateTemp(key)),
		} {
			if !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s(%q): %v, want ErrInvalidKey", op, key, err)
			}
		}
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("after refused keys the store lists %v", got)
	}
}

func fetchRoundTrip(t *testing.T, s blob.Store) {
	const key = "assets/ast_1/source.mp4"
	put(t, s, key, "media bytes")
	p, release, err := s.Fetch(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(p) || filepath.Ext(p) != ".mp4" {
		t.Errorf("fetched to %q: want an absolute path keeping the extension", p)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "media bytes" {
		t.Fatalf("fetched file holds %q, %v", b, err)
	}
	release()
	if got := get(t, s, key); got != "media bytes" {
		t.Fatalf("after release the blob reads %q", got)
	}
}

func commitRoundTrip(t *testing.T, s blob.Store) {
	const key = "renders/rnd_1/attempt-1.mp4"
	put(t, s, key, "previous")
	tmp, err := s.CreateTemp(key)
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg picks the container by the name's extension.
	if !filepath.IsAbs(tmp) || filepath.Ext(tmp) != ".mp4" {
		t.Fatalf("temp %q: want an absolute path keeping the key's extension", tmp)
	}
	body := strings.Repeat("encoded ", 1000)
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, key); got != "previous" {
		t.Fatalf("before the commit the blob reads %q", got)
	}
	if got := list(t, s, "renders/"); !slices.Equal(got, []string{key}) {
		t.Fatalf("before the commit the store lists %v", got)
	}
	n, err := s.Commit(t.Context(), tmp, key)
	if err != nil || n != int64(len(body)) {
		t.Fatalf("commit = %d, %v", n, err)
	}
	if got := get(t, s, key); got != body {
		t.Fatalf("after the commit the blob reads %d bytes, want %d", len(got), len(body))
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the temp file is still there: %v", err)
	}
	noTemps(t, s)
}

func commitWrongKey(t *testing.T, s blob.Store) {
	tmp, err := s.CreateTemp("renders/rnd_1/attempt-1.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(t.Context(), tmp, "renders/rnd_2/attempt-1.mp4"); err == nil {
		t.Fatal("a temp was committed as another render's output")
	}
	if _, err := s.Commit(t.Context(), "/etc/passwd", "renders/rnd_1/attempt-1.mp4"); err == nil {
		t.Fatal("a file that is no temp was committed")
	}
	missing(t, s, "renders/rnd_2/attempt-1.mp4")
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a refused commit lost the temp file: %v", err)
	}
	if err := s.Discard(tmp); err != nil {
		t.Fatal(err)
	}
}

func discardTemp(t *testing.T, s blob.Store) {
	tmp, err := s.CreateTemp("renders/rnd_1/attempt-1.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("half an output"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(tmp); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the discarded file is still there: %v", err)
	}
	if err := s.Discard(tmp); err != nil {
		t.Fatalf("discarding twice: %v", err)
	}
	missing(t, s, "renders/rnd_1/attempt-1.mp4")
	noTemps(t, s)
}

func abandonedTemp(t *testing.T, s blob.Store) {
	const key = "renders/rnd_1/attempt-2.mp4"
	tmp, err := s.CreateTemp(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("half an output"), 0o600); err != nil {
		t.Fatal(err)
	}
	temps := tempsOf(t, s, key)
	if len(temps) != 1 || temps[0].Size != int64(len("half an output")) || temps[0].ModTime.IsZero() {
		t.Fatalf("temps for %s = %+v", key, temps)
	}
	// Listed an hour before its last write: its writer is alive.
	stale := temps[0]
	stale.ModTime = stale.ModTime.Add(-time.Hour)
	if removed, err := s.RemoveTemp(stale); err != nil || removed {
		t.Fatalf("remove of a temp written since it was listed = %v, %v", removed, err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a temp written since was removed: %v", err)
	}
	if removed, err := s.RemoveTemp(temps[0]); err != nil || !removed {
		t.Fatalf("remove = %v, %v", removed, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the removed temp is still there: %v", err)
	}
	if removed, err := s.RemoveTemp(temps[0]); err != nil || removed {
		t.Fatalf("removing it again = %v, %v", removed, err)
	}
	noTemps(t, s)
}

func downloadURL(t *testing.T, s blob.Store) {
	const key = "renders/rnd_1/attempt-1.mp4"
	put(t, s, key, "the output")
	u, ok, err := s.DownloadURL(t.Context(), key, blob.Attachment{Filename: "report-1.mp4", ContentType: "video/mp4"}, time.Now().Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("the store hands out no download URLs")
	}
	body, header := httpGet(t, u, http.StatusOK)
	if body != "the output" {
		t.Fatalf("the URL serves %q", body)
	}
	if got := header.Get("Content-Disposition"); got != `attachment; filename="report-1.mp4"` {
		t.Fatalf("Content-Disposition %q", got)
	}
	if got := header.Get("Content-Type"); got != "video/mp4" {
		t.Fatalf("Content-Type %q, want the one asked for", got)
	}
	if cc := header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Fatalf("Cache-Control %q, want private for no longer than the URL", cc)
	}

	// A name of the client's is made safe for the header.
	u, _, err = s.DownloadURL(t.Context(), key, blob.Attachment{Filename: `../a "b";.mp4`}, time.Now().Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, header = httpGet(t, u, http.StatusOK)
	disposition, params, err := mime.ParseMediaType(header.Get("Content-Disposition"))
	if err != nil || disposition != "attachment" || strings.ContainsAny(params["filename"], `/"; `) || len(params) != 1 {
		t.Fatalf("Content-Disposition %q: %v", header.Get("Content-Disposition"), err)
	}

	// Expired: wait (a second or two) until the URL's time is up.
	expires := time.Now().Add(time.Second)
	u, _, err = s.DownloadURL(t.Context(), key, blob.Attachment{Filename: "report-1.mp4"}, expires)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(expires.Add(time.Second)))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("GET of an expired URL: %s, want it refused", resp.Status)
	}
}

// httpGet fetches u and wants status.
func httpGet(t *testing.T, u string, status int) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET: %s, want %d: %s", resp.Status, status, b)
	}
	return string(b), resp.Header
}

// keptPrevious checks that a failed put left key as it was and nothing
// else behind: no other blob, no temporary write.
func keptPrevious(t *testing.T, s blob.Store, key, previous string) {
	t.Helper()
	if got := get(t, s, key); got != previous {
		t.Fatalf("after the failed put the blob reads %.20q…, want the previous %q", got, previous)
	}
	if got := list(t, s, ""); !slices.Equal(got, []string{key}) {
		t.Fatalf("after the failed put the store lists %v", got)
	}
	noTemps(t, s)
}

func noTemps(t *testing.T, s blob.Store) {
	t.Helper()
	temps, err := s.Temps(t.Context())
	if err != nil || len(temps) != 0 {
		t.Fatalf("writes left behind: %+v, %v", temps, err)
	}
}

func tempsOf(t *testing.T, s blob.Store, key string) []blob.Temp {
	t.Helper()
	temps, err := s.Temps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(temps, func(tmp blob.Temp) bool { return tmp.Key != key })
}

func put(t *testing.T, s blob.Store, key, body string) {
	t.Helper()
	if n, err := s.Put(t.Context(), key, strings.NewReader(body), 1<<20); err != nil || n != int64(len(body)) {
		t.Fatalf("put %s = %d, %v", key, n, err)
	}
}

func get(t *testing.T, s blob.Store, key string) string {
	t.Helper()
	r, err := s.Read(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stat(t *testing.T, s blob.Store, key string) blob.Info {
	t.Helper()
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func list(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("list(%q): %v", prefix, err)
	}
	var keys []string
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

// missing checks that key is no blob, for Stat and Read alike.
func missing(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of missing %s: %v, want fs.ErrNotExist", key, err)
	}
	if _, err := s.Read(t.Context(), key, 0, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read of missing %s: %v, want fs.ErrNotExist", key, err)
	}
	if _, err := s.Read(t.Context(), key, 3, 4); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ranged read of missing %s: %v, want fs.ErrNotExist", key, err)
	}
}

func second[A any](_ A, err error) error        { return err }
func third[A, B any](_ A, _ B, err error) error { return err }

func digest(t *testing.T, r io.Reader) [sha256.Size]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// pattern is a deterministic body of n bytes made up as it is read, so
// that no test holds a large body: a 64 KiB block of seed's bytes, shifted
// by one byte per block so that misplaced parts show.
type pattern struct {
	block  []byte
	off, n int64
}

func newPattern(seed uint64, n int64) *pattern {
	block := make([]byte, 64<<10)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range block {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		block[i] = byte(x)
	}
	return &pattern{block: block, n: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	size := int64(len(p.block))
	done := 0
	for done < len(b) {
		j := p.off % size
		i := (j + p.off/size) % size
		k := copy(b[done:], p.block[i:min(size, i+size-j)])
		done += k
		p.off += int64(k)
	}
	return done, nil
}

// heapWatch reads r and, every `every` bytes, collects garbage and
// records the live heap's peak.
type heapWatch struct {
	r           io.Reader
	every, next int64
	read        int64
	base, peak  uint64
}

func (h *heapWatch) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	h.read += int64(n)
	if h.read >= h.next {
		h.next = h.read + h.every
		h.peak = max(h.peak, liveHeap())
	}
	return n, err
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// failing is a reader that fails.
type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// cancelling cancels a context when read, and reads nothing.
type cancelling struct{ cancel context.CancelFunc }

func (c cancelling) Read([]byte) (int, error) {
	c.cancel()
	return 0, io.EOF
}
