package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/httpapi"
)

// startS3Service is startService on the stack's S3 store, under a prefix of
// the test's own; the service keeps its source copies and outputs in the
// making in a scratch folder of the test's.
func startS3Service(t *testing.T, extraEnv ...string) *service {
	t.Helper()
	url := testenv.S3URL(t)
	probe, err := openBlobs(t.Context(), Config{BlobURL: url, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatalf("the stack's S3 store: %v", err)
	}
	_ = probe.Close()
	return startService(t, append([]string{"RENDERD_BLOB_URL=" + url}, extraEnv...)...)
}

// The render path on S3, as a client sees it: the upload streams into the
// bucket, the encoder reads the source from it and writes the output to it,
// and the download redirects to the object store, which sends the file.
func TestS3_upload_probe_render_and_download_through_the_object_store(t *testing.T) {
	s := startS3Service(t)
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	if got, err := s.blobs.List(t.Context(), "assets/"+video+"/"); err != nil || len(got) != 1 {
		t.Fatalf("the bucket holds %+v, %v under the asset; want its source", got, err)
	}

	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4", "resolution": "720p"})).str("id")
	done := s.waitRender(key, id, "completed", encodeTimeout)
	size, _ := done.body["size_bytes"].(float64)
	if got, err := s.blobs.List(t.Context(), "renders/"+id+"/"); err != nil || len(got) != 1 || got[0].Size != int64(size) {
		t.Fatalf("the bucket holds %+v, %v under the render; want its output of %d bytes", got, err, int64(size))
	}

	// The copy of the source the probe and the encode read, and the output
	// written before its upload, are gone from the scratch folder.
	if left := filesUnder(t, s.env["RENDERD_SCRATCH_DIR"]); len(left) > 0 {
		t.Errorf("the scratch folder keeps %v", left)
	}

	// renderd answers the signed URL with a redirect to the object store…
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, done.str("download_url"), nil)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download → %d (Cache-Control %q), want 302 no-store: %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	doc, err := httpapi.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.ValidateResponse(http.MethodGet, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), body); err != nil {
		t.Error(err)
	}
	if err := doc.ValidateHeaders(http.MethodGet, req.URL.Path, resp.StatusCode, resp.Header); err != nil {
		t.Error(err)
	}
	location := resp.Header.Get("Location")
	if strings.HasPrefix(location, s.base) {
		t.Fatalf("Location %s is renderd's own", location)
	}

	// A HEAD is answered by renderd itself: a presigned URL is good for GET
	// alone.
	head, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, done.str("download_url"), nil)
	resp, err = noFollow.Do(head)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != fmt.Sprint(int64(size)) ||
		resp.Header.Get("Location") != "" {
		t.Errorf("HEAD → %d, Content-Length %q, Location %q; want 200 with the output's size", resp.StatusCode,
			resp.Header.Get("Content-Length"), resp.Header.Get("Location"))
	}

	// …which sends the output as the attachment renderd names.
	file, disposition := fetchAttachment(t, location)
	if want := `attachment; filename="` + id + `.mp4"`; disposition != want {
		t.Errorf("Content-Disposition %q, want %q", disposition, want)
	}
	info, err := ffmpeg.NewProber("", 30*time.Second, ffmpeg.Limits{}).Probe(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	if info.VideoCodec != "h264" || info.AudioCodec != "aac" || info.Width != 1280 || info.Height != 720 {
		t.Errorf("output: %s %dx%d, %s; want h264 1280x720, aac", info.VideoCodec, info.Width, info.Height, info.AudioCodec)
	}
}

// An upload cut off at the size limit leaves nothing in the bucket: no
// object, and no unfinished multipart upload.
func TestS3_an_upload_over_the_limit_stores_nothing(t *testing.T) {
	const limit = 12_000_000 // over two parts of a multipart upload (5 MiB each at least)
	s := startS3Service(t, fmt.Sprintf("RENDERD_MAX_UPLOAD_BYTES=%d", limit))
	key := s.account(60)
	id := s.newAsset(key, "video")
	// Without a length, so the limit trips mid-stream, after parts went up.
	body := io.MultiReader(strings.NewReader(strings.Repeat("x", limit+1)))
	s.expect(s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", body), http.StatusRequestEntityTooLarge, "payload_too_large")
	if got, err := s.blobs.List(t.Context(), "assets/"+id+"/"); err != nil || len(got) != 0 {
		t.Errorf("the bucket holds %+v, %v under the asset", got, err)
	}
	temps, err := s.blobs.Temps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tmp := range temps {
		if strings.HasPrefix(tmp.Key, "assets/"+id+"/") {
			t.Errorf("an unfinished upload is left: %+v", tmp)
		}
	}
	if a := s.do(key, http.MethodGet, "/v1/assets/"+id, nil); a.str("state") != "uploading" {
		t.Errorf("asset after the refused upload: %s", a.raw)
	}
}

// fetchAttachment downloads url into a file, returning it and its
// Content-Disposition.
func fetchAttachment(t *testing.T, url string) (file, disposition string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s → %d: %s", url, resp.StatusCode, b)
	}
	f, err := os.CreateTemp(t.TempDir(), "download-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	return f.Name(), resp.Header.Get("Content-Disposition")
}

// filesUnder lists the regular files under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		// A running process's lock on its own folder (scratch.go) is no
		// leftover.
		if err == nil && d.Type().IsRegular() && d.Name() != scratchLock {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
