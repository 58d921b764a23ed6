package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/client"
)

// The Go SDK's quickstart (client.Example_quickstart) end to end through a
// real renderd on the stack's S3 store, so that the download goes through
// the API's 302 to the object store: create an asset, upload its source
// with progress, wait for the probe, cut it, render the cut, wait for the
// render and download it; and one typed error on the way.
func TestSDK_quickstart(t *testing.T) {
	s := startS3Service(t)
	ctx := t.Context()
	var redirects []string // where the SDK was sent on
	hc := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		redirects = append(redirects, req.URL.Host)
		return nil
	}}
	c, err := client.New(s.base, s.account(60), client.WithHTTPClient(hc),
		client.WithPoll(client.PollPolicy{MinInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}

	asset, err := c.CreateAsset(ctx, client.CreateAssetRequest{Kind: "video", Name: "sdk quickstart"})
	if err != nil {
		t.Fatal(err)
	}
	if asset.State != client.AssetUploading {
		t.Fatalf("new asset: %+v", asset)
	}
	// A render of an asset not probed yet: the API's typed refusal.
	if _, err := c.RequestRender(ctx, client.RequestRenderRequest{AssetID: asset.ID, Output: client.RenderOutputRequest{Format: "mp4"}}); client.ErrorCode(err) != "asset_not_ready" {
		t.Fatalf("render before the upload: %v", err)
	}

	src := mediatest.Landscape1080p(t)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var sent, total int64
	if _, err := c.UploadSource(ctx, asset.ID, bytes.NewReader(data), int64(len(data)), func(s, tt int64) { sent, total = s, tt }); err != nil {
		t.Fatal(err)
	}
	if sent != int64(len(data)) || total != int64(len(data)) {
		t.Fatalf("progress ended at %d of %d, the file has %d bytes", sent, total, len(data))
	}
	if asset, err = c.WaitAsset(ctx, asset.ID); err != nil {
		t.Fatal(err)
	}
	if asset.State != client.AssetReady || asset.Source == nil || asset.Source.Height != 1080 {
		t.Fatalf("probed asset: %+v", asset)
	}

	cut, err := c.RequestCut(ctx, asset.ID, client.RequestCutRequest{Segments: []client.Segment{{Start: 0, End: 1}, {Start: 1.5, End: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for cut.State == client.CutProcessing || cut.Pending {
		time.Sleep(100 * time.Millisecond)
		if cut, err = c.GetCut(ctx, cut.ID); err != nil {
			t.Fatal(err)
		}
	}
	if cut.State != client.CutCompleted || cut.Duration == nil || *cut.Duration != 1.5 {
		t.Fatalf("cut: %+v", cut)
	}

	// 4K above a 1080p source: 422 on the field, after the live checks.
	_, err = c.RequestRender(ctx, client.RequestRenderRequest{AssetID: asset.ID, Output: client.RenderOutputRequest{Format: "mp4", Resolution: "4k"}})
	var api *client.APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusUnprocessableEntity || api.Code != "validation_error" || api.Field == "" || api.RequestID == "" {
		t.Fatalf("a 4k render of a 1080p source: %#v", err)
	}

	req := client.RequestRenderRequest{AssetID: asset.ID, CutID: cut.ID, Output: client.RenderOutputRequest{Format: "mp4", Resolution: "720p"}}
	render, err := c.RequestRender(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !render.Created || render.CutID == nil || *render.CutID != cut.ID {
		t.Fatalf("new render: %+v", render)
	}
	// The same request again is the same render (its signature), 200.
	again, err := c.RequestRender(ctx, req)
	if err != nil || again.Created || again.ID != render.ID {
		t.Fatalf("repeated request: %+v, %v", again, err)
	}

	waitCtx, cancel := context.WithTimeout(ctx, encodeTimeout)
	defer cancel()
	polls := 0
	render, err = c.WaitRender(waitCtx, render.ID, func(*client.Render) { polls++ })
	if err != nil {
		t.Fatal(err)
	}
	if render.State != client.RenderCompleted || render.Progress != 100 || render.DownloadURL == "" || render.SizeBytes == nil {
		t.Fatalf("render after %d polls: %+v", polls, render)
	}

	out := filepath.Join(t.TempDir(), "out.mp4")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.DownloadRender(ctx, render.ID, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// On S3 the download was answered 302 to the object store.
	if len(redirects) != 1 || strings.Contains(s.base, redirects[0]) {
		t.Errorf("redirects %q, want one to the object store", redirects)
	}
	if n != *render.SizeBytes {
		t.Fatalf("downloaded %d bytes, the render has %d", n, *render.SizeBytes)
	}
	expectCutAt720p(t, out)

	// The history and the page agree with the waits.
	events, err := c.ListRenderEvents(ctx, render.ID)
	if err != nil || len(events.Data) < 3 || events.Data[len(events.Data)-1].Type != "render.completed" {
		t.Fatalf("events %+v, %v", events, err)
	}
	page, err := c.ListRenders(ctx, &client.ListRendersOptions{AssetID: asset.ID, State: client.RenderCompleted})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != render.ID {
		t.Fatalf("renders %+v, %v", page, err)
	}
}

// dropFirstPatch is a transport that cuts the first PATCH's body off after
// n bytes, as a dropped connection would, and counts the PATCH bytes sent.
type dropFirstPatch struct {
	n       int
	dropped bool
	sent    atomic.Int64
}

func (d *dropFirstPatch) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPatch && req.Body != nil {
		var body io.Reader = req.Body
		if !d.dropped {
			d.dropped = true
			body = &droppedAfter{r: body, n: d.n}
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(&countingReader{r: body, n: &d.sent})
	}
	return http.DefaultTransport.RoundTrip(req)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestSDK_a_resumable_upload_survives_a_dropped_connection(t *testing.T) {
	testSDKResumable(t, startService(t))
}

func TestS3_the_SDKs_resumable_upload_survives_a_dropped_connection(t *testing.T) {
	testSDKResumable(t, startS3Service(t))
}

// testSDKResumable: the SDK's Resumable uploader, its first PATCH cut off at
// half, asks the server for its offset and sends only the rest; the stored
// source has the file's bytes and is probed.
func testSDKResumable(t *testing.T, s *service) {
	data, err := os.ReadFile(mediatest.Landscape1080p(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := &dropFirstPatch{n: len(data) / 2}
	c, err := client.New(s.base, s.account(60), client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithUploader(client.Resumable{}), client.WithRetry(client.RetryPolicy{MinBackoff: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	asset, err := c.CreateAsset(ctx, client.CreateAssetRequest{Kind: "video", Name: "resumable"})
	if err != nil {
		t.Fatal(err)
	}
	var sent int64
	if _, err := c.UploadSource(ctx, asset.ID, bytes.NewReader(data), int64(len(data)), func(n, _ int64) { sent = n }); err != nil {
		t.Fatal(err)
	}
	resent := tr.sent.Load() - int64(len(data))
	t.Logf("%d bytes, the first PATCH cut at %d: %d bytes sent again", len(data), len(data)/2, resent)
	if !tr.dropped || resent < 0 || resent > int64(len(data))/2 || sent != int64(len(data)) {
		t.Fatalf("dropped %t, %d bytes sent again, progress ended at %d", tr.dropped, resent, sent)
	}
	if asset, err = c.WaitAsset(ctx, asset.ID); err != nil || asset.State != client.AssetReady {
		t.Fatalf("asset %+v, %v", asset, err)
	}
	blobs, err := s.blobs.List(ctx, "assets/"+asset.ID+"/")
	if err != nil || len(blobs) != 1 {
		t.Fatalf("blobs of the asset: %+v, %v", blobs, err)
	}
	rd, err := s.blobs.Read(ctx, blobs[0].Key, 0, -1)
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
}
