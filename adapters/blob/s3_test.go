package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/blob/blobtest"
	"github.com/renderd/renderd/adapters/testenv"
)

// s3Bucket is a test's own corner of the stack's S3 store: the store, and
// a plain client on the same bucket and prefix to look behind it.
type s3Bucket struct {
	store   blob.Store
	scratch string
	client  *s3.Client
	bucket  string
	prefix  string // ends in "/"
}

// openS3 opens the stack's S3 store under a fresh prefix, emptied when the
// test ends.
func openS3(t testing.TB) s3Bucket {
	t.Helper()
	raw := testenv.S3URL(t)
	scratch := t.TempDir()
	s, err := blob.Open(t.Context(), raw, scratch)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion(q.Get("region")))
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if e := q.Get("endpoint"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = q.Get("path_style") == "true"
	})
	b := s3Bucket{store: s, scratch: scratch, client: client, bucket: u.Host, prefix: strings.Trim(u.Path, "/") + "/"}
	t.Cleanup(func() {
		// t.Context() has ended by now.
		ctx := context.Background()
		infos, err := s.List(ctx, "")
		for _, i := range infos {
			err = errors.Join(err, s.Delete(ctx, i.Key))
		}
		temps, terr := s.Temps(ctx)
		for _, tmp := range temps {
			_, rerr := s.RemoveTemp(tmp)
			err = errors.Join(err, rerr)
		}
		if err := errors.Join(err, terr, s.Close()); err != nil {
			t.Errorf("emptying the test's prefix: %v", err)
		}
	})
	return b
}

// uploads lists the unfinished multipart uploads under the test's prefix,
// straight from S3.
func (b s3Bucket) uploads(t *testing.T) []string {
	t.Helper()
	out, err := b.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: &b.prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

func TestS3_keeps_the_blob_contract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return openS3(t).store })
}

// Put aborts its multipart upload itself: the upload manager would abort
// with the caller's context, which a cancelled put has ended.
func TestS3_a_failed_multipart_put_leaves_no_unfinished_upload(t *testing.T) {
	b := openS3(t)
	const size = 12 << 20 // three parts
	for name, put := range map[string]func() error{
		"over the limit": func() error {
			_, err := b.store.Put(t.Context(), "assets/ast_1/source", io.LimitReader(endless{}, size+1), size)
			return err
		},
		"reader failing": func() error {
			_, err := b.store.Put(t.Context(), "assets/ast_1/source", io.MultiReader(io.LimitReader(endless{}, size), errReader{errors.New("the client went away")}), 2*size)
			return err
		},
		"cancelled": func() error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, err := b.store.Put(ctx, "assets/ast_1/source", io.MultiReader(io.LimitReader(endless{}, size), cancelling{cancel}, endless{}), 4*size)
			return err
		},
	} {
		if err := put(); err == nil {
			t.Fatalf("%s: the put succeeded", name)
		}
		if got := b.uploads(t); len(got) != 0 {
			t.Fatalf("%s: unfinished uploads left in the bucket: %v", name, got)
		}
	}
}

func TestS3_temps_lists_an_abandoned_multipart_upload_and_remove_temp_aborts_it(t *testing.T) {
	b := openS3(t)
	ctx := t.Context()
	// What a process killed mid-upload leaves: an upload with a part.
	begin := func(objectKey string) {
		up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: aws.String(b.prefix + objectKey)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &b.bucket, Key: up.Key, UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 1000)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	begin("assets/ast_1/source")
	begin("Not A Key")
	temps, err := b.store.Temps(ctx)
	if err != nil || len(temps) != 2 {
		t.Fatalf("temps = %+v, %v", temps, err)
	}
	for _, tmp := range temps {
		if tmp.Size != 1000 || tmp.ModTime.IsZero() {
			t.Fatalf("temp %+v: want its part's size and time", tmp)
		}
		if tmp.Key != "assets/ast_1/source" && tmp.Key != "" {
			t.Fatalf("temp %+v: want the upload's key, or none for a name that is no key", tmp)
		}
		// Listed an hour before its last part: its writer is alive.
		stale := tmp
		stale.ModTime = stale.ModTime.Add(-time.Hour)
		if removed, err := b.store.RemoveTemp(stale); err != nil || removed {
			t.Fatalf("remove of an upload written since = %v, %v", removed, err)
		}
		if removed, err := b.store.RemoveTemp(tmp); err != nil || !removed {
			t.Fatalf("remove = %v, %v", removed, err)
		}
		if removed, err := b.store.RemoveTemp(tmp); err != nil || removed {
			t.Fatalf("remove again = %v, %v", removed, err)
		}
	}
	if got := b.uploads(t); len(got) != 0 {
		t.Fatalf("unfinished uploads left: %v", got)
	}
}

func TestS3_commit_uploads_a_large_file_in_parts_and_removes_it(t *testing.T) {
	b := openS3(t)
	const key = "renders/rnd_1/attempt-1.mp4"
	tmp, err := b.store.CreateTemp(key)
	if err != nil {
		t.Fatal(err)
	}
	const size = 11<<20 + 7
	f, err := os.OpenFile(tmp, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, io.LimitReader(&counting{}, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := b.store.Commit(t.Context(), tmp, key)
	if err != nil || n != size {
		t.Fatalf("commit = %d, %v", n, err)
	}
	r, err := b.store.Read(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !sameBytes(r, io.LimitReader(&counting{}, size)) {
		t.Fatal("the committed blob differs from the file")
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the committed file is still there: %v", err)
	}
}

func TestS3_a_failed_commit_keeps_the_file(t *testing.T) {
	b := openS3(t)
	const key = "renders/rnd_1/attempt-1.mp4"
	tmp, err := b.store.CreateTemp(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.store.Commit(ctx, tmp, key); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit with a cancelled context: %v", err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a failed commit removed the file: %v", err)
	}
	if _, err := b.store.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed commit published: %v", err)
	}
}

func TestS3_fetch_copies_into_the_scratch_folder_and_release_removes_the_copy(t *testing.T) {
	b := openS3(t)
	if _, err := b.store.Put(t.Context(), "assets/ast_1/source.mov", strings.NewReader("media"), 10); err != nil {
		t.Fatal(err)
	}
	p, release, err := b.store.Fetch(t.Context(), "assets/ast_1/source.mov")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, b.scratch+string(filepath.Separator)) {
		t.Fatalf("fetched to %s, outside the scratch folder %s", p, b.scratch)
	}
	release()
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the released copy is still there: %v", err)
	}
	if _, _, err := b.store.Fetch(t.Context(), "assets/ast_2/source"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch of a missing blob: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := b.store.Fetch(ctx, "assets/ast_1/source.mov"); err == nil {
		t.Fatal("a fetch with a cancelled context succeeded")
	}
	if left := files(t, filepath.Join(b.scratch, "fetch")); len(left) != 0 {
		t.Fatalf("fetches left %v in the scratch folder", left)
	}
}

func TestS3_fetch_fails_when_the_scratch_folder_cannot_take_the_copy(t *testing.T) {
	b := openS3(t)
	if _, err := b.store.Put(t.Context(), "assets/ast_1/source", strings.NewReader("media"), 10); err != nil {
		t.Fatal(err)
	}
	// A file where the copies' folder should be.
	dir := filepath.Join(b.scratch, "fetch")
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.store.Fetch(t.Context(), "assets/ast_1/source"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch with nowhere to copy to: %v, want a failure that is not a missing blob", err)
	}
}

func TestS3_download_url_needs_an_expiry_ahead(t *testing.T) {
	b := openS3(t)
	if _, ok, err := b.store.DownloadURL(t.Context(), "renders/rnd_1/a.mp4", blob.Attachment{Filename: "a.mp4"}, time.Now().Add(-time.Second)); err == nil || ok {
		t.Fatalf("a URL expired at birth: ok %v, %v", ok, err)
	}
	// Past what SigV4 allows: capped, still a URL.
	u, ok, err := b.store.DownloadURL(t.Context(), "renders/rnd_1/a.mp4", blob.Attachment{Filename: "a.mp4"}, time.Now().Add(30*24*time.Hour))
	if err != nil || !ok || !strings.Contains(u, "X-Amz-Expires=604800") {
		t.Fatalf("a URL for 30 days = %q, %v, %v: want one capped at 7 days", u, ok, err)
	}
}

func TestS3_list_refuses_a_prefix_no_key_can_start_with(t *testing.T) {
	b := openS3(t)
	for _, p := range []string{"../", "a//", "A/", "/a"} {
		if _, err := b.store.List(t.Context(), p); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("list(%q): %v, want ErrInvalidKey", p, err)
		}
	}
}

func TestS3_open_fails_at_start_when_the_bucket_does_not_answer(t *testing.T) {
	raw := testenv.S3URL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	missing := *u
	missing.Host = "renderd-no-such-bucket-" + testenv.RandomSuffix()
	if _, err := blob.Open(t.Context(), missing.String(), t.TempDir()); err == nil || !strings.Contains(err.Error(), missing.Host) {
		t.Fatalf("open of a missing bucket: %v", err)
	}
	closed := *u
	q := closed.Query()
	q.Set("endpoint", "http://127.0.0.1:1")
	closed.RawQuery = q.Encode()
	if _, err := blob.Open(t.Context(), closed.String(), t.TempDir()); err == nil {
		t.Fatal("opened a store whose endpoint refuses connections")
	}
}

// counting reads 0, 1, …, 250, 0, 1, … forever; the odd period shows
// misplaced parts.
type counting struct{ off int }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte((c.off + i) % 251)
	}
	c.off += len(p)
	return len(p), nil
}

// cancelling cancels a context when read, and reads nothing.
type cancelling struct{ cancel context.CancelFunc }

func (c cancelling) Read([]byte) (int, error) {
	c.cancel()
	return 0, io.EOF
}

func sameBytes(a, b io.Reader) bool {
	x, errA := io.ReadAll(a)
	y, errB := io.ReadAll(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}
