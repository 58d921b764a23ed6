package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
)

// Resumable uploads (tus 1.0, docs/architecture.md, "Resumable uploads"), driven
// with raw tus requests so that each protocol step is checked.

type tusResponse struct {
	status int
	header http.Header
	body   string
}

func (r tusResponse) String() string { return fmt.Sprintf("%d %v %s", r.status, r.header, r.body) }

// tus sends one tus request; body may be a reader that fails mid-way (a
// dropped connection), in which case the response is the zero value.
func (s *service) tus(key, method, url string, header map[string]string, body io.Reader) tusResponse {
	s.t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = s.base + url
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, url, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tusResponse{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return tusResponse{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// tusMetadata is an Upload-Metadata value.
func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// createUpload starts a resumable upload of size bytes for the asset's part.
func (s *service) createUpload(key, assetID, part string, size int) tusResponse {
	s.t.Helper()
	return s.tus(key, http.MethodPost, "/v1/uploads", map[string]string{
		"Upload-Length": strconv.Itoa(size), "Upload-Metadata": tusMetadata("asset_id", assetID, "part", part, "filename", "clip.mp4"),
	}, nil)
}

func (s *service) patchUpload(key, url string, offset int, body io.Reader) tusResponse {
	s.t.Helper()
	return s.tus(key, http.MethodPatch, url, map[string]string{
		"Upload-Offset": strconv.Itoa(offset), "Content-Type": "application/offset+octet-stream"}, body)
}

func expectTus(t *testing.T, r tusResponse, status int, code string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, code) {
		t.Fatalf("got %s, want %d %s", r, status, code)
	}
}

// droppedAfter reads n bytes of data, then fails as a connection that
// dropped would.
type droppedAfter struct {
	r io.Reader
	n int
}

func (d *droppedAfter) Read(p []byte) (int, error) {
	if d.n <= 0 {
		return 0, errors.New("connection dropped")
	}
	if len(p) > d.n {
		p = p[:d.n]
	}
	n, err := d.r.Read(p)
	d.n -= n
	return n, err
}

func TestResumable_an_interrupted_upload_resumes_from_its_offset(t *testing.T) {
	testResumeFromOffset(t, startService(t))
}

func TestS3_a_resumable_upload_resumes_from_its_offset(t *testing.T) {
	testResumeFromOffset(t, startS3Service(t))
}

// testResumeFromOffset: the connection drops at about half, HEAD tells the
// offset the server has, a PATCH at another offset is the protocol's 409,
// and the rest from the offset completes an upload whose blob has the file's
// bytes, recorded and probed as a PUT's.
func testResumeFromOffset(t *testing.T, s *service) {
	key := s.account(60)
	file := mediatest.Landscape1080p(t)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	id := s.newAsset(key, "video")
	created := s.createUpload(key, id, "source", len(data))
	expectTus(t, created, http.StatusCreated, "")
	url := created.header.Get("Location")
	if !strings.Contains(url, "/v1/uploads/") || created.header.Get("Upload-Expires") == "" {
		t.Fatalf("created: %s", created)
	}
	if exp, err := http.ParseTime(created.header.Get("Upload-Expires")); err != nil || exp.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("Upload-Expires %q: want about 24 h from now", created.header.Get("Upload-Expires"))
	}

	// The connection drops at half: the server keeps what arrived.
	half := len(data) / 2
	s.patchUpload(key, url, 0, &droppedAfter{r: bytes.NewReader(data), n: half})
	var offset int
	testenv.Eventually(t, 20*time.Second, "the interrupted PATCH to end on the server", func() bool {
		head := s.tus(key, http.MethodHead, url, nil, nil)
		offset, _ = strconv.Atoi(head.header.Get("Upload-Offset"))
		return head.status == http.StatusOK && head.header.Get("Upload-Length") == strconv.Itoa(len(data))
	})
	if offset > half {
		t.Fatalf("offset %d after %d bytes were sent", offset, half)
	}
	t.Logf("resuming at %d of %d bytes (%d sent before the drop)", offset, len(data), half)
	if a := s.do(key, http.MethodGet, "/v1/assets/"+id, nil); a.str("state") != "uploading" {
		t.Fatalf("a partial upload shows as the part: %s", a.raw)
	}

	// A resume at the wrong offset: the protocol's 409.
	expectTus(t, s.patchUpload(key, url, offset+1, bytes.NewReader(data[offset+1:])), http.StatusConflict, "")

	// As a tus client resumes: from HEAD's offset, and on a 409 (on S3
	// a part of the dropped PATCH can still land after the HEAD) from a
	// new HEAD's.
	var done tusResponse
	for attempt := 0; ; attempt++ {
		done = s.patchUpload(key, url, offset, bytes.NewReader(data[offset:]))
		if done.status != http.StatusConflict || attempt == 10 {
			break
		}
		head := s.tus(key, http.MethodHead, url, nil, nil)
		offset, _ = strconv.Atoi(head.header.Get("Upload-Offset"))
		t.Logf("the offset moved: resuming at %d", offset)
	}
	expectTus(t, done, http.StatusNoContent, "")
	if done.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("final PATCH: %s", done)
	}
	s.waitAsset(key, id, "the uploaded source probed", state("ready"))
	blobs, err := s.blobs.List(t.Context(), "assets/"+id+"/")
	if err != nil || len(blobs) != 1 {
		t.Fatalf("blobs of the asset: %+v, %v", blobs, err)
	}
	rd, err := s.blobs.Read(t.Context(), blobs[0].Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Errorf("the stored source's sha256 %x, the file's %x", got, want)
	}
	// Recorded, the upload is gone from the protocol's view.
	expectTus(t, s.tus(key, http.MethodHead, url, nil, nil), http.StatusNotFound, "")
}

func TestResumable_refusals_and_termination(t *testing.T) {
	const limit = 5_000_000 // startService's RENDERD_MAX_UPLOAD_BYTES
	s := startService(t, "RENDERD_ACCOUNT_STORAGE_BYTES=3000000")
	key := s.account(60)
	_, otherKey := s.newAccount()

	t.Run("another account's asset or upload is 404", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "video")
		expectTus(t, s.createUpload(otherKey, id, "source", 100), http.StatusNotFound, `"not_found"`)
		created := s.createUpload(key, id, "source", 100)
		expectTus(t, created, http.StatusCreated, "")
		url := created.header.Get("Location")
		expectTus(t, s.tus(otherKey, http.MethodHead, url, nil, nil), http.StatusNotFound, "")
		expectTus(t, s.patchUpload(otherKey, url, 0, strings.NewReader("x")), http.StatusNotFound, `"not_found"`)
		expectTus(t, s.tus(otherKey, http.MethodDelete, url, nil, nil), http.StatusNotFound, `"not_found"`)
		expectTus(t, s.tus("", http.MethodHead, url, nil, nil), http.StatusUnauthorized, "")
		head := s.tus(key, http.MethodHead, url, nil, nil)
		if head.status != http.StatusOK || head.header.Get("Upload-Offset") != "0" {
			t.Fatalf("the owner's HEAD after the others' requests: %s", head)
		}
		expectTus(t, s.tus(key, http.MethodHead, "/v1/uploads/nope", nil, nil), http.StatusNotFound, "")
		expectTus(t, s.tus(key, http.MethodHead, "/v1/uploads/..", nil, nil), http.StatusNotFound, "")
	})

	t.Run("limits and metadata", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "video")
		expectTus(t, s.createUpload(key, id, "source", limit+1), http.StatusRequestEntityTooLarge, `"payload_too_large"`)
		expectTus(t, s.createUpload(key, id, "source", 3_000_001), http.StatusRequestEntityTooLarge, `"storage_quota_exceeded"`)
		expectTus(t, s.createUpload(key, id, "cover", 10), http.StatusBadRequest, `"invalid_request"`)
		expectTus(t, s.createUpload(key, "", "source", 10), http.StatusBadRequest, `"invalid_request"`)
		expectTus(t, s.createUpload(key, "ast_missing", "source", 10), http.StatusNotFound, `"not_found"`)
		expectTus(t, s.tus(key, http.MethodPost, "/v1/uploads", map[string]string{
			"Upload-Defer-Length": "1", "Upload-Metadata": tusMetadata("asset_id", id, "part", "source")}, nil), http.StatusBadRequest, `"invalid_request"`)
		opts := s.tus(key, http.MethodOptions, "/v1/uploads", nil, nil)
		if ext := opts.header.Get("Tus-Extension"); opts.status >= 300 || ext != "creation,creation-with-upload,termination,expiration" {
			t.Errorf("OPTIONS: %s", opts)
		}
	})

	t.Run("parallel uploads of one part: one wins", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "video")
		var (
			wg  sync.WaitGroup
			got [2]tusResponse
		)
		for i := range got {
			wg.Go(func() { got[i] = s.createUpload(key, id, "source", 1000) })
		}
		wg.Wait()
		codes := []int{got[0].status, got[1].status}
		loser := got[1]
		if got[1].status == http.StatusCreated {
			loser = got[0]
		}
		if codes[0]+codes[1] != http.StatusCreated+http.StatusConflict {
			t.Fatalf("two creations: %s / %s", got[0], got[1])
		}
		expectTus(t, loser, http.StatusConflict, `"upload_in_progress"`)
		// A plain PUT of the part meanwhile: the same refusal.
		s.expect(s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", "xyz"), http.StatusConflict, "upload_in_progress")
	})

	t.Run("DELETE removes the partial upload and frees the part", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "video")
		created := s.createUpload(key, id, "source", 1000)
		expectTus(t, created, http.StatusCreated, "")
		url := created.header.Get("Location")
		expectTus(t, s.patchUpload(key, url, 0, strings.NewReader(strings.Repeat("x", 400))), http.StatusNoContent, "")
		if n := len(uploadFiles(t, s)); n == 0 {
			t.Fatal("no partial upload stored")
		}
		expectTus(t, s.tus(key, http.MethodDelete, url, nil, nil), http.StatusNoContent, "")
		expectTus(t, s.tus(key, http.MethodHead, url, nil, nil), http.StatusNotFound, "")
		for _, f := range uploadFiles(t, s) {
			if strings.HasPrefix(filepath.Base(f), filepath.Base(url)) {
				t.Errorf("%s is left after DELETE", f)
			}
		}
		expectTus(t, s.createUpload(key, id, "source", 1000), http.StatusCreated, "")
	})
}

// uploadFiles lists the local store's resumable upload files.
func uploadFiles(t *testing.T, s *service) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.blobDir(), ".uploads", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestResumable_an_expired_partial_upload_is_removed(t *testing.T) {
	testExpiry(t, startService(t, "RENDERD_UPLOAD_TTL=1m"))
}

func TestS3_an_expired_resumable_upload_is_removed(t *testing.T) {
	testExpiry(t, startS3Service(t, "RENDERD_UPLOAD_TTL=1m"))
}

// testExpiry: an upload left unfinished is removed once its lifetime is
// over (the API process looks every quarter of it), and its part is free.
func testExpiry(t *testing.T, s *service) {
	key := s.account(60)
	id := s.newAsset(key, "video")
	created := s.createUpload(key, id, "source", 1000)
	expectTus(t, created, http.StatusCreated, "")
	url := created.header.Get("Location")
	expectTus(t, s.patchUpload(key, url, 0, strings.NewReader(strings.Repeat("x", 400))), http.StatusNoContent, "")
	if n := len(s.resumableUploads()); n != 1 {
		t.Fatalf("%d uploads stored, want 1", n)
	}
	testenv.Eventually(t, 3*time.Minute, "the expired upload removed", func() bool { return len(s.resumableUploads()) == 0 })
	expectTus(t, s.tus(key, http.MethodHead, url, nil, nil), http.StatusNotFound, "")
	// The part is free again.
	expectTus(t, s.createUpload(key, id, "source", 1000), http.StatusCreated, "")
}

// resumableUploads lists the ids of the uploads in the service's store.
func (s *service) resumableUploads() []string {
	s.t.Helper()
	r, err := blob.OpenResumable(s.t.Context(), s.env["RENDERD_BLOB_URL"])
	if err != nil {
		s.t.Fatal(err)
	}
	ids, err := r.List(s.t.Context())
	if err != nil {
		s.t.Fatal(err)
	}
	return ids
}

// An upload that lost its hold on the part (it outlived its reservation,
// and a PUT took and filled the part) is refused when its last byte
// arrives, in renderd's error format, and removed; the part keeps the PUT's
// blob.
func TestResumable_an_upload_that_lost_its_part_is_refused_at_its_end(t *testing.T) {
	s := startService(t)
	key := s.account(60)
	id := s.newAsset(key, "video")
	created := s.createUpload(key, id, "source", 10)
	expectTus(t, created, http.StatusCreated, "")
	url := created.header.Get("Location")
	expectTus(t, s.patchUpload(key, url, 0, strings.NewReader("01234")), http.StatusNoContent, "")
	if _, err := s.pool.Exec(t.Context(), `UPDATE upload_reservations SET expires_at = now() - interval '1 second' WHERE asset_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	s.expect(s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", "the PUT's bytes"), http.StatusAccepted, "")
	expectTus(t, s.patchUpload(key, url, 5, strings.NewReader("56789")), http.StatusConflict, `"upload_in_progress"`)
	expectTus(t, s.tus(key, http.MethodHead, url, nil, nil), http.StatusNotFound, "")
	blobs, err := s.blobs.List(t.Context(), "assets/"+id+"/")
	if err != nil || len(blobs) != 1 || blobs[0].Size != int64(len("the PUT's bytes")) {
		t.Fatalf("blobs of the asset: %+v, %v: want the PUT's alone", blobs, err)
	}
	for _, f := range uploadFiles(t, s) {
		if !strings.HasSuffix(f, ".lock") {
			t.Errorf("%s is left of the refused upload", f)
		}
	}
}

// The database goes away just as the last byte arrives: the last PATCH is
// answered 503, but the complete upload and its part are kept (HEAD shows
// every byte held), and once the database is back the API records and
// probes it without the client sending anything again.
func TestResumable_an_outage_at_the_last_byte_keeps_the_upload_and_records_it_after(t *testing.T) {
	direct := testenv.NewDatabase(t)
	s := startService(t, "DATABASE_URL="+direct, "RENDERD_API_KEY_CACHE_TTL=5m")
	key := s.account(60)
	data, err := os.ReadFile(mediatest.Landscape1080p(t))
	if err != nil {
		t.Fatal(err)
	}
	id := s.newAsset(key, "video")
	created := s.createUpload(key, id, "source", len(data))
	expectTus(t, created, http.StatusCreated, "")
	url := created.header.Get("Location")
	last := len(data) - 1
	expectTus(t, s.patchUpload(key, url, 0, bytes.NewReader(data[:last])), http.StatusNoContent, "")

	s.listening(1)
	s.expect(s.do(key, http.MethodGet, "/v1/credits", nil), http.StatusOK, "") // the key is cached
	restore := refuseConnections(t, direct)
	expectTus(t, s.patchUpload(key, url, last, bytes.NewReader(data[last:])), http.StatusServiceUnavailable, "service_unavailable")
	head := s.tus(key, http.MethodHead, url, nil, nil)
	if head.status != http.StatusOK || head.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD after the refused last PATCH: %s; want every byte held", head)
	}
	restore()

	s.waitAsset(key, id, "the kept upload recorded and probed", state("ready"))
	expectTus(t, s.tus(key, http.MethodHead, url, nil, nil), http.StatusNotFound, "")
	if logged, _ := s.logs.Since(0); !strings.Contains(logged, "kept to record later") {
		t.Error("the refused last PATCH logged no upload kept")
	}
}
