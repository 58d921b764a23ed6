package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A PATCH trickled below the minimum transfer rate is cut off as a PUT is;
// what arrived stays, to resume from.
func TestResumable_a_PATCH_below_the_minimum_rate_is_cut_off(t *testing.T) {
	r := oaResumable(t)
	h := oaServer(t, oaServerOpts{resumable: r, timeouts: trickleTimeouts, maxUpload: 1 << 20})
	asset := oaNewAsset(t, h)
	created := oaCreateUpload(h, asset, 1<<19)
	if created.Code != http.StatusCreated {
		t.Fatalf("creation: %d %s", created.Code, created.Body)
	}
	url := created.Header().Get("Location")
	base := serveReal(t, h)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(patience))
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: renderd\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", url, oaKey, 1<<19)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("xxxx")); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(start), err)
	}
	raw, _ := io.ReadAll(resp.Body)
	var body errorBody
	if resp.StatusCode != http.StatusRequestTimeout || json.Unmarshal(raw, &body) != nil || body.Error.Code != "upload_too_slow" {
		t.Fatalf("after %v: %d %s, want 408 upload_too_slow", time.Since(start), resp.StatusCode, raw)
	}
	if err := oaLoad(t).ValidateResponse(http.MethodPatch, "/v1/uploads/x", resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
		t.Errorf("the 408 does not match openapi.json: %v", err)
	}
	head := oaTus(h, http.MethodHead, url, nil, nil)
	if offset, _ := strconv.Atoi(head.Header().Get("Upload-Offset")); head.Code != http.StatusOK || offset <= 0 || offset >= 1<<19 {
		t.Errorf("HEAD after the cut-off: %d, offset %s: want what arrived kept", head.Code, head.Header().Get("Upload-Offset"))
	}
}

// slowPut is a blob store whose Put takes a while: an S3 copy of a large
// upload.
type slowPut struct{ failingPut }

func (slowPut) Put(_ context.Context, _ string, r io.Reader, _ int64) (int64, error) {
	time.Sleep(2 * time.Second)
	return io.Copy(io.Discard, r)
}

// The last PATCH's copy into the blob store may outlast a JSON exchange's
// deadlines (here 1.3 s): it is answered all the same.
func TestResumable_a_completion_slower_than_a_JSON_exchange_is_answered(t *testing.T) {
	h := oaServer(t, oaServerOpts{resumable: oaResumable(t), timeouts: trickleTimeouts, blobs: slowPut{}})
	asset := oaNewAsset(t, h)
	created := oaCreateUpload(h, asset, 5)
	if created.Code != http.StatusCreated {
		t.Fatalf("creation: %d %s", created.Code, created.Body)
	}
	base := serveReal(t, h)
	loc := created.Header().Get("Location")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, base+loc[strings.Index(loc, "/v1/"):], strings.NewReader("12345"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Authorization": "Bearer " + oaKey, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
		"Content-Type": "application/offset+octet-stream"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the last PATCH got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the last PATCH: %d", resp.StatusCode)
	}
}
