package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/blob/blobtest"
)

func newStore(t *testing.T) (*blob.Local, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// files lists every regular file under dir, relative, so tests can prove
// that nothing (no temporary file either) was left behind.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func read(t *testing.T, s *blob.Local, key string) string {
	t.Helper()
	f, err := s.Read(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPut_stores_the_body_and_read_fetch_and_delete_find_it(t *testing.T) {
	s, dir := newStore(t)
	const key = "assets/ast_1/source"
	n, err := s.Put(t.Context(), key, strings.NewReader("media bytes"), 1<<20)
	if err != nil || n != int64(len("media bytes")) {
		t.Fatalf("put = %d, %v", n, err)
	}
	if got := read(t, s, key); got != "media bytes" {
		t.Fatalf("read %q", got)
	}
	p, release, err := s.Fetch(t.Context(), key)
	if err != nil || p != filepath.Join(dir, "assets", "ast_1", "source") {
		t.Fatalf("fetch = %q, %v", p, err)
	}
	release()
	if got := files(t, dir); len(got) != 1 {
		t.Fatalf("releasing the blob's own file touched the store: %v", got)
	}
	if got := files(t, dir); len(got) != 1 || got[0] != key {
		t.Fatalf("files = %v", got)
	}
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(t.Context(), key, 0, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read after delete: %v, want ErrNotExist", err)
	}
	if _, _, err := s.Fetch(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch after delete: %v, want ErrNotExist", err)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat after delete: %v, want ErrNotExist", err)
	}
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
}

func TestPut_replaces_a_previous_blob(t *testing.T) {
	s, _ := newStore(t)
	for _, body := range []string{"first version", "v2"} {
		if _, err := s.Put(t.Context(), "renders/rnd_1/out.mp4", strings.NewReader(body), 100); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, s, "renders/rnd_1/out.mp4"); got != "v2" {
		t.Fatalf("read %q, want the second body whole", got)
	}
}

func TestPut_a_body_of_exactly_the_limit_is_accepted(t *testing.T) {
	s, _ := newStore(t)
	if n, err := s.Put(t.Context(), "a/b", strings.NewReader("12345"), 5); err != nil || n != 5 {
		t.Fatalf("put = %d, %v", n, err)
	}
}

func TestPut_too_large_fails_with_ErrTooLarge_and_leaves_nothing(t *testing.T) {
	s, dir := newStore(t)
	// An endless body: Put must stop right after the limit, not read it all.
	_, err := s.Put(t.Context(), "assets/ast_1/source", endless{}, 1000)
	if !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

func TestPut_too_large_keeps_the_previous_blob(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Put(t.Context(), "k", strings.NewReader("old"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "k", strings.NewReader("much too long"), 10); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if got := read(t, s, "k"); got != "old" {
		t.Fatalf("read %q, want the previous blob", got)
	}
}

func TestPut_a_reader_error_mid_stream_leaves_nothing_behind(t *testing.T) {
	s, dir := newStore(t)
	boom := errors.New("connection reset by client")
	r := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 100_000)), errReader{boom})
	_, err := s.Put(t.Context(), "assets/ast_1/source", r, 1<<20)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

func TestPut_stops_when_the_context_ends_and_leaves_nothing(t *testing.T) {
	s, dir := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelAfter{r: endless{}, n: 3, cancel: cancel}
	_, err := s.Put(ctx, "assets/ast_1/source", r, 1<<40)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

func TestPut_concurrent_puts_of_one_key_leave_one_whole_body(t *testing.T) {
	s, dir := newStore(t)
	const key = "assets/ast_1/source"
	bodies := make([]string, 8)
	for i := range bodies {
		// Large enough that the writes overlap in time.
		bodies[i] = strings.Repeat(fmt.Sprint(i), 256<<10)
	}
	var wg sync.WaitGroup
	for _, b := range bodies {
		wg.Go(func() {
			if _, err := s.Put(t.Context(), key, strings.NewReader(b), 1<<20); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := read(t, s, key)
	whole := false
	for _, b := range bodies {
		whole = whole || got == b
	}
	if !whole {
		t.Fatalf("blob of %d bytes is not one of the bodies (a torn or interleaved write)", len(got))
	}
	if f := files(t, dir); len(f) != 1 {
		t.Fatalf("files = %v, want only the blob", f)
	}
}

func TestKeys_outside_the_allowed_shape_never_reach_the_filesystem(t *testing.T) {
	s, dir := newStore(t)
	outside := filepath.Join(filepath.Dir(dir), "escaped")
	for _, key := range []string{
		"",
		"/etc/passwd",
		"../escaped",
		"assets/../../escaped",
		"assets/..",
		"a/./b",
		"a//b",
		"a/b/",
		".hidden",
		"assets/.tmp-0123",
		"Assets/ast_1",
		"assets/ast 1",
		"assets\\ast_1",
		"assets/ast_1\x00",
		"assets/ä",
		strings.Repeat("a", 513),
	} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			if _, err := s.Put(t.Context(), key, strings.NewReader("x"), 10); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("put: %v, want ErrInvalidKey", err)
			}
			if _, err := s.Read(t.Context(), key, 0, -1); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("read: %v, want ErrInvalidKey", err)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("stat: %v, want ErrInvalidKey", err)
			}
			if _, _, err := s.Fetch(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("fetch: %v, want ErrInvalidKey", err)
			}
			if err := s.Delete(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("delete: %v, want ErrInvalidKey", err)
			}
		})
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("files = %v", got)
	}
	if _, err := os.Stat(outside); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file appeared outside the root: %v", err)
	}
}

// Even a valid key cannot follow a symbolic link out of the root: the store
// opens everything through os.Root.
func TestPut_does_not_follow_a_symlink_out_of_the_root(t *testing.T) {
	s, dir := newStore(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "assets")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "assets/ast_1/source", strings.NewReader("x"), 10); err == nil {
		t.Fatal("put through a symlink leaving the root succeeded")
	}
	if got := files(t, outside); len(got) != 0 {
		t.Fatalf("wrote outside the root: %v", got)
	}
}

func TestPut_requires_a_positive_limit(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Put(t.Context(), "a", strings.NewReader("x"), 0); err == nil {
		t.Fatal("put without a limit succeeded")
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelAfter cancels its context after n reads.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	c.n--
	if c.n == 0 {
		c.cancel()
	}
	return c.r.Read(p)
}

func TestCreateTemp_commit_moves_a_file_written_by_name_into_place(t *testing.T) {
	s, dir := newStore(t)
	tmp, err := s.CreateTemp("renders/rnd_1/a1.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("encoded"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 1 || !strings.Contains(got[0], ".tmp-") {
		t.Fatalf("before commit the store holds %v, want only a hidden temp file", got)
	}
	size, err := s.Commit(t.Context(), tmp, "renders/rnd_1/a1.mp4")
	if err != nil || size != int64(len("encoded")) {
		t.Fatalf("Commit = %d, %v", size, err)
	}
	if got := read(t, s, "renders/rnd_1/a1.mp4"); got != "encoded" {
		t.Errorf("blob = %q", got)
	}
	if got := files(t, dir); len(got) != 1 {
		t.Errorf("after commit the store holds %v, want the blob alone", got)
	}
}

func TestCreateTemp_discard_leaves_nothing_and_a_second_discard_is_fine(t *testing.T) {
	s, dir := newStore(t)
	tmp, err := s.CreateTemp("renders/rnd_1/a1.mp4")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Discard(tmp); err != nil {
			t.Fatal(err)
		}
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("store holds %v", got)
	}
}

func TestCommit_refuses_a_path_that_is_not_a_temp_file_for_the_key(t *testing.T) {
	s, _ := newStore(t)
	tmp, err := s.CreateTemp("renders/rnd_1/a1.mp4")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ path, key string }{
		"another_directory": {tmp, "renders/rnd_2/a1.mp4"},
		"a_blob_not_a_temp": {filepath.Join(filepath.Dir(tmp), "a1.mp4"), "renders/rnd_1/a1.mp4"},
		"outside_the_store": {"/etc/passwd", "renders/rnd_1/a1.mp4"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Commit(t.Context(), c.path, c.key); err == nil {
				t.Fatal("Commit accepted it")
			}
		})
	}
	if err := s.Discard("/etc/passwd"); err == nil {
		t.Error("Discard accepted a path outside the store")
	}
}

// writeAged writes a file under dir and sets its modification time age ago.
func writeAged(t *testing.T, dir, rel string, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("partial"), 0o640); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestTemps_lists_temporary_files_anywhere_with_the_key_their_name_records_and_never_a_blob(t *testing.T) {
	s, dir := newStore(t)
	for _, rel := range []string{".tmp-root", "assets/ast_1/.tmp-0a1b", "renders/rnd_1/deep/.tmp-2c3d",
		"renders/rnd_1/.tmp-0123456789abcdef-attempt-2.mp4"} {
		writeAged(t, dir, rel, 2*time.Hour)
	}
	// Committed blobs are never listed.
	writeAged(t, dir, "assets/ast_1/source-1", 48*time.Hour)
	writeAged(t, dir, "renders/rnd_1/attempt-1.mp4", 48*time.Hour)
	writeAged(t, dir, "renders/rnd_1/tmp-not-hidden", 48*time.Hour)
	// Nor is a directory, whatever its name.
	writeAged(t, dir, "renders/.tmp-dir/kept", 48*time.Hour)
	// The temporary files of writes in progress name their keys.
	tmp, err := s.CreateTemp("renders/rnd_2/attempt-3.mp3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tmp, "-attempt-3.mp3") {
		t.Fatalf("CreateTemp named its file %s, without the key", tmp)
	}

	temps, err := s.Temps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tmp := range temps {
		got[fmt.Sprintf("%s %d", tmp.Key, tmp.Size)] = tmp.ModTime.Format(time.RFC3339)
	}
	want := []string{" 7", " 7", " 7", "renders/rnd_1/attempt-2.mp4 7", "renders/rnd_2/attempt-3.mp3 0"}
	if len(temps) != len(want) {
		t.Fatalf("Temps = %+v, want keys and sizes %q", temps, want)
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Fatalf("Temps = %+v, want keys and sizes %q", temps, want)
		}
	}
}

func TestPut_names_its_temporary_file_by_the_key(t *testing.T) {
	s, _ := newStore(t)
	var seen []blob.Temp
	r := readerFunc(func(p []byte) (int, error) {
		if seen == nil {
			temps, err := s.Temps(t.Context())
			if err != nil {
				return 0, err
			}
			seen = temps
		}
		return 0, io.EOF
	})
	if _, err := s.Put(t.Context(), "assets/ast_1/source-0190", r, 10); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Key != "assets/ast_1/source-0190" {
		t.Fatalf("while Put wrote, Temps = %+v; want one file for its key", seen)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestRemoveTemp_removes_a_listed_file_unless_it_was_written_since_or_is_gone(t *testing.T) {
	s, dir := newStore(t)
	writeAged(t, dir, "assets/ast_1/.tmp-0a1b", 2*time.Hour)
	writeAged(t, dir, "assets/ast_2/.tmp-0a1b", 2*time.Hour)
	writeAged(t, dir, "assets/ast_3/.tmp-0a1b", 2*time.Hour)
	temps, err := s.Temps(t.Context())
	if err != nil || len(temps) != 3 {
		t.Fatalf("Temps = %v, %v", temps, err)
	}
	// ast_2's writer wrote again after the listing; ast_3's file was
	// removed by another process's sweep.
	if err := os.WriteFile(filepath.Join(dir, "assets/ast_2/.tmp-0a1b"), []byte("more"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "assets/ast_3/.tmp-0a1b")); err != nil {
		t.Fatal(err)
	}
	var removed int
	for _, tmp := range temps {
		ok, err := s.RemoveTemp(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			removed++
		}
	}
	if got := files(t, dir); removed != 1 || strings.Join(got, ",") != "assets/ast_2/.tmp-0a1b" {
		t.Fatalf("removed %d, left %v; want ast_1's removed and ast_2's kept", removed, got)
	}
	if ok, err := s.RemoveTemp(blob.Temp{}); ok || err == nil {
		t.Fatalf("RemoveTemp of a Temp it did not list = %v, %v; want an error", ok, err)
	}
}

func TestTemps_never_follows_a_symlink_out_of_the_root(t *testing.T) {
	s, dir := newStore(t)
	outside := t.TempDir()
	writeAged(t, outside, ".tmp-outside", 2*time.Hour)
	writeAged(t, outside, "nested/.tmp-outside", 2*time.Hour)
	if err := os.Symlink(outside, filepath.Join(dir, "assets")); err != nil {
		t.Fatal(err)
	}
	// A link named like a temporary file is not one, however old.
	link := filepath.Join(dir, ".tmp-link")
	if err := os.Symlink(filepath.Join(outside, ".tmp-outside"), link); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("touch", "-h", "-t", "200001010000", link).CombinedOutput(); err != nil {
		t.Fatalf("age the link: %v %s", err, out)
	}
	temps, err := s.Temps(t.Context())
	if err != nil || len(temps) != 0 {
		t.Fatalf("Temps = %v, %v; want none", temps, err)
	}
}

func TestTemps_stops_when_the_context_ends(t *testing.T) {
	s, dir := newStore(t)
	writeAged(t, dir, "assets/ast_1/.tmp-0a1b", 2*time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Temps(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCreateTemp_leaves_a_key_too_long_for_a_file_name_out_of_it(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.CreateTemp("assets/ast_1/" + strings.Repeat("a", 240)); err != nil {
		t.Fatal(err)
	}
	temps, err := s.Temps(t.Context())
	if err != nil || len(temps) != 1 || temps[0].Key != "" {
		t.Fatalf("Temps = %+v, %v; want one file without a key", temps, err)
	}
}

func TestStat_describes_a_blob_and_a_folder_of_keys_is_not_one(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Put(t.Context(), "assets/ast_1/source", strings.NewReader("12345"), 10); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(t.Context(), "assets/ast_1/source")
	if err != nil || info.Key != "assets/ast_1/source" || info.Size != 5 || info.ModTime.IsZero() {
		t.Fatalf("stat = %+v, %v", info, err)
	}
	for _, key := range []string{"assets/ast_1", "assets/ast_2/source"} {
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat %s: %v, want ErrNotExist", key, err)
		}
		if _, err := s.Read(t.Context(), key, 0, -1); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("read %s: %v, want ErrNotExist", key, err)
		}
		if _, _, err := s.Fetch(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("fetch %s: %v, want ErrNotExist", key, err)
		}
	}
}

func TestRead_returns_the_range_asked_for_and_what_there_is_past_the_end(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Put(t.Context(), "renders/rnd_1/a1.mp4", strings.NewReader("0123456789"), 100); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		offset, length int64
		want           string
	}{
		"whole":             {0, -1, "0123456789"},
		"from_an_offset":    {4, -1, "456789"},
		"a_section":         {2, 3, "234"},
		"empty_length":      {2, 0, ""},
		"over_the_end":      {8, 10, "89"},
		"starting_past_end": {12, 5, ""},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := s.Read(t.Context(), "renders/rnd_1/a1.mp4", c.offset, c.length)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if b, err := io.ReadAll(r); err != nil || string(b) != c.want {
				t.Fatalf("read %q, %v; want %q", b, err, c.want)
			}
		})
	}
	if _, err := s.Read(t.Context(), "renders/rnd_1/a1.mp4", -1, 2); err == nil {
		t.Error("a negative offset was accepted")
	}
}

func TestList_lists_blobs_under_a_prefix_in_key_order_and_never_a_temp_file(t *testing.T) {
	s, dir := newStore(t)
	for _, key := range []string{"assets/ast_1/source-b", "assets/ast_1/audio-a", "assets/ast_10/source",
		"assets/ast_1-x", "assets/ast_1/deep/source", "renders/rnd_1/attempt-1.mp4"} {
		if _, err := s.Put(t.Context(), key, strings.NewReader(key), 100); err != nil {
			t.Fatal(err)
		}
	}
	writeAged(t, dir, "assets/ast_1/.tmp-0123456789abcdef-source", 0) // an upload in progress
	tmp, err := s.CreateTemp("renders/rnd_1/attempt-2.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard(tmp)
	for prefix, want := range map[string][]string{
		"":               {"assets/ast_1-x", "assets/ast_1/audio-a", "assets/ast_1/deep/source", "assets/ast_1/source-b", "assets/ast_10/source", "renders/rnd_1/attempt-1.mp4"},
		"assets/ast_1/":  {"assets/ast_1/audio-a", "assets/ast_1/deep/source", "assets/ast_1/source-b"},
		"assets/ast_1":   {"assets/ast_1-x", "assets/ast_1/audio-a", "assets/ast_1/deep/source", "assets/ast_1/source-b", "assets/ast_10/source"},
		"assets/ast_1/s": {"assets/ast_1/source-b"},
		"renders/":       {"renders/rnd_1/attempt-1.mp4"},
		"renders/rnd_2/": nil,
		"nothing/here":   nil,
	} {
		t.Run(fmt.Sprintf("%q", prefix), func(t *testing.T) {
			got, err := s.List(t.Context(), prefix)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, info := range got {
				keys = append(keys, info.Key)
				if info.Size != int64(len(info.Key)) || info.ModTime.IsZero() {
					t.Errorf("%s: %+v", info.Key, info)
				}
			}
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Fatalf("list = %v, want %v", keys, want)
			}
		})
	}
	for _, prefix := range []string{"../", "/etc", "assets/.tmp-"} {
		if _, err := s.List(t.Context(), prefix); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("list %q: %v, want ErrInvalidKey", prefix, err)
		}
	}
}

func TestList_stops_when_the_context_ends(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Put(t.Context(), "a/b", strings.NewReader("x"), 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("list = %v, want context.Canceled", err)
	}
}

func TestDownloadURL_is_never_available_from_a_local_folder(t *testing.T) {
	s, _ := newStore(t)
	if url, ok, err := s.DownloadURL(t.Context(), "renders/rnd_1/a1.mp4", blob.Attachment{Filename: "a1.mp4"}, time.Now().Add(time.Minute)); ok || err != nil || url != "" {
		t.Fatalf("DownloadURL = %q, %v, %v", url, ok, err)
	}
}

func TestLocal_keeps_the_blob_contract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { s, _ := newStore(t); return s })
}
