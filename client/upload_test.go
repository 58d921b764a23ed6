package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var nowForTest = time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)

func TestUpload_reports_progress_up_to_the_total(t *testing.T) {
	data := bytes.Repeat([]byte("renderd!"), 100_000) // 800 kB: many reads
	var got []byte
	var length int64
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/v1/assets/ast_1/source" || r.Header.Get("Authorization") != "Bearer rdk_test" {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		length = r.ContentLength
		got, _ = io.ReadAll(r.Body)
		writeJSON(w, http.StatusAccepted, Asset{ID: "ast_1", Object: "asset", State: AssetProcessing})
	})
	var calls [][2]int64
	a, err := c.UploadSource(t.Context(), "ast_1", bytes.NewReader(data), int64(len(data)), func(sent, total int64) {
		calls = append(calls, [2]int64{sent, total})
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.State != AssetProcessing || !bytes.Equal(got, data) || length != int64(len(data)) {
		t.Fatalf("asset %+v, server got %d bytes of length %d", a, len(got), length)
	}
	if len(calls) < 2 {
		t.Fatalf("progress called %d times", len(calls))
	}
	for i, c := range calls {
		if c[1] != int64(len(data)) || (i > 0 && c[0] <= calls[i-1][0]) {
			t.Fatalf("progress %d: %v after %v", i, c, calls[max(i-1, 0)])
		}
	}
	if last := calls[len(calls)-1]; last[0] != int64(len(data)) {
		t.Fatalf("last progress %v, want all %d bytes", last, len(data))
	}
}

func TestUpload_of_unknown_size_is_chunked_with_total_unknown(t *testing.T) {
	var length int64
	var got string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		length = r.ContentLength
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		if r.URL.Path != "/v1/assets/ast_1/audio" {
			t.Errorf("path %s", r.URL.Path)
		}
		writeJSON(w, http.StatusAccepted, Asset{ID: "ast_1"})
	})
	var last [2]int64
	// io.MultiReader hides the length from net/http.
	_, err := c.UploadAudio(t.Context(), "ast_1", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")), -1,
		func(sent, total int64) { last = [2]int64{sent, total} })
	if err != nil {
		t.Fatal(err)
	}
	if length != -1 || got != "abcdef" || last != [2]int64{6, -1} {
		t.Fatalf("length %d, body %q, last progress %v", length, got, last)
	}
}

func TestUpload_refusals_are_typed_errors(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		apiErr(w, http.StatusConflict, "upload_in_progress", "another upload of this part is streaming", "")
	})
	_, err := c.UploadSource(t.Context(), "ast_1", strings.NewReader("x"), 1, nil)
	if ErrorCode(err) != "upload_in_progress" {
		t.Fatalf("err %v", err)
	}
	if _, err := c.Upload(t.Context(), UploadRequest{AssetID: "ast_1", Part: "video", Body: strings.NewReader("x"), Size: 1}); err == nil {
		t.Fatal("an unknown part was sent")
	}
	if _, err := c.Upload(t.Context(), UploadRequest{AssetID: "ast_1", Part: PartSource, Size: 1}); err == nil {
		t.Fatal("no body was sent")
	}
}

// fakeUploader stands for a resumable (tus) uploader: it speaks its own
// protocol through the client's Do, then answers with the asset.
type fakeUploader struct{ got UploadRequest }

func (f *fakeUploader) Upload(ctx context.Context, c *Client, req UploadRequest) (*Asset, error) {
	f.got = req
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL()+"/v1/uploads", req.Body)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(hr)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if req.Progress != nil {
		req.Progress(req.Size, req.Size)
	}
	return c.GetAsset(ctx, req.AssetID)
}

func TestUpload_goes_through_the_configured_Uploader(t *testing.T) {
	up := &fakeUploader{}
	var paths []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		if r.Method == http.MethodPut {
			t.Errorf("the plain PUT was sent: %s %s", r.Method, r.URL)
		}
		writeJSON(w, 200, Asset{ID: "ast_9", State: AssetProcessing})
	}, WithUploader(up))
	var done bool
	a, err := c.UploadAudio(t.Context(), "ast_9", strings.NewReader("abc"), 3, func(sent, total int64) { done = sent == total })
	if err != nil || a.ID != "ast_9" || up.got.Part != PartAudio || up.got.Size != 3 || !done {
		t.Fatalf("asset %+v, err %v, uploader got %+v", a, err, up.got)
	}
	if want := "POST /v1/uploads Bearer rdk_test,GET /v1/assets/ast_9 Bearer rdk_test"; strings.Join(paths, ",") != want {
		t.Fatalf("requests %q, want %q", paths, want)
	}
}

// endless yields bytes forever, as a huge file would.
type endless struct{}

func (endless) Read(b []byte) (int, error) { return len(b), nil }

func TestUpload_stops_with_its_context(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Cancelled once 1 MB of a 1 TB upload went out.
	_, err := c.UploadSource(ctx, "ast_1", endless{}, 1<<40, func(sent, _ int64) {
		if sent > 1<<20 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
