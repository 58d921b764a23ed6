package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
)

// The resumable upload endpoint's own failure paths; the protocol on the
// real stack is cmd/renderd's resumable_api_test.go.

func TestResumable_configuration_is_checked(t *testing.T) {
	s := &server{Config: Config{Log: slog.New(slog.DiscardHandler), MaxUploadBytes: 1 << 10}}
	good := oaResumable(t)
	for name, r := range map[string]*Resumable{
		"no lifetime":   {Compose: good.Compose, Store: good.Store, List: good.List},
		"no list":       {Compose: good.Compose, Store: good.Store, Lifetime: time.Hour},
		"no terminater": {Compose: func(c *tusd.StoreComposer) { c.UseCore(good.Store) }, Store: good.Store, List: good.List, Lifetime: time.Hour},
	} {
		if _, err := s.newTusEndpoint(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestResumable_without_a_store_the_routes_answer_404(t *testing.T) {
	h := oaServer(t, oaServerOpts{noResumable: true})
	for _, c := range []struct{ method, path string }{{"POST", "/v1/uploads"}, {"OPTIONS", "/v1/uploads"},
		{"HEAD", "/v1/uploads/abc"}, {"PATCH", "/v1/uploads/abc"}, {"DELETE", "/v1/uploads/abc"}} {
		rec := oaTus(h, c.method, c.path, nil, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}
}

func TestWellFormedUploadID(t *testing.T) {
	for id, ok := range map[string]bool{"0123abcdef": true, "abc+Zm9v-bar_baz.x=": true, "": false, ".info": false, "..": false,
		"a/b": false, "a b": false, "a\x00": false, "ä": false, strings.Repeat("a", 513): false} {
		if wellFormedUploadID(id) != ok {
			t.Errorf("wellFormedUploadID(%q) = %v", id, !ok)
		}
	}
}

// failingCreation is a store whose uploads cannot be created.
type failingCreation struct{ tusd.DataStore }

func (failingCreation) NewUpload(context.Context, tusd.FileInfo) (tusd.Upload, error) {
	return nil, errors.New("the disk is full")
}

// A store that fails after the hook reserved the part: the part is free
// again, for a PUT as for another resumable upload.
func TestResumable_a_creation_the_store_refuses_frees_the_part(t *testing.T) {
	good := oaResumable(t)
	failing := &Resumable{Store: failingCreation{good.Store}, List: good.List, Lifetime: time.Hour, Compose: func(c *tusd.StoreComposer) {
		good.Compose(c)
		c.UseCore(failingCreation{good.Store})
	}}
	h := oaServer(t, oaServerOpts{resumable: failing})
	asset := oaNewAsset(t, h)
	if rec := oaCreateUpload(h, asset, 10); rec.Code != http.StatusInternalServerError {
		t.Fatalf("creation on a full disk: %d %s", rec.Code, rec.Body)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPut, "/v1/assets/"+asset+"/source", strings.NewReader("media"))
	req.Header.Set("Authorization", "Bearer "+oaKey)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Errorf("PUT after the failed creation: %d %s", rec.Code, rec.Body)
	}
}

// failingPut is a blob store that stores nothing.
type failingPut struct{}

func (failingPut) Put(context.Context, string, io.Reader, int64) (int64, error) {
	return 0, errors.New("the bucket is gone")
}
func (failingPut) Delete(context.Context, string) error { return nil }

// The last byte arrives but the blob store refuses it: renderd's 500 in its
// own format, the upload removed, the part free again.
func TestResumable_a_completion_the_blob_store_refuses_is_a_500_and_frees_the_part(t *testing.T) {
	r := oaResumable(t)
	h := oaServer(t, oaServerOpts{resumable: r, blobs: failingPut{}})
	asset := oaNewAsset(t, h)
	created := oaCreateUpload(h, asset, 5)
	if created.Code != http.StatusCreated {
		t.Fatalf("creation: %d %s", created.Code, created.Body)
	}
	url := created.Header().Get("Location")
	rec := oaTus(h, http.MethodPatch, url, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, strings.NewReader("12345"))
	var body errorBody
	if rec.Code != http.StatusInternalServerError || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != "internal" {
		t.Fatalf("last PATCH: %d %s", rec.Code, rec.Body)
	}
	if ids, err := r.List(t.Context()); err != nil || len(ids) != 0 {
		t.Errorf("uploads left: %v, %v", ids, err)
	}
	if again := oaCreateUpload(h, asset, 5); again.Code != http.StatusCreated {
		t.Errorf("a new upload of the part: %d %s", again.Code, again.Body)
	}
}

func oaTus(h http.Handler, method, url string, header map[string]string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, url, body)
	req.Header.Set("Authorization", "Bearer "+oaKey)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func oaCreateUpload(h http.Handler, asset string, size int) *httptest.ResponseRecorder {
	b64 := func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
	return oaTus(h, http.MethodPost, "/v1/uploads", map[string]string{"Upload-Length": strconv.Itoa(size),
		"Upload-Metadata": "asset_id " + b64(asset) + ",part " + b64("source")}, nil)
}

// oaNewAsset creates a video asset in oaServer's store.
func oaNewAsset(t *testing.T, h http.Handler) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/assets", strings.NewReader(`{"kind":"video","name":"v"}`))
	req.Header.Set("Authorization", "Bearer "+oaKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a struct{ ID string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &a) != nil || a.ID == "" {
		t.Fatalf("create asset: %d %s", rec.Code, rec.Body)
	}
	return a.ID
}

// Past its Upload-Expires an upload is gone for its owner too, before the
// sweep (SweepUploads, cmd/renderd's tests) removes its bytes.
func TestResumable_an_expired_upload_is_404_before_its_bytes_are_removed(t *testing.T) {
	r := oaResumable(t)
	r.Lifetime = time.Nanosecond
	h := oaServer(t, oaServerOpts{resumable: r})
	asset := oaNewAsset(t, h)
	created := oaCreateUpload(h, asset, 5)
	if created.Code != http.StatusCreated {
		t.Fatalf("creation: %d %s", created.Code, created.Body)
	}
	url := created.Header().Get("Location")
	for _, method := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
		rec := oaTus(h, method, url, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, strings.NewReader("1"))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s of an expired upload: %d %s", method, rec.Code, rec.Body)
		}
	}
	if ids, err := r.List(t.Context()); err != nil || len(ids) != 1 {
		t.Fatalf("stored before expiry: %v, %v", ids, err)
	}
}
