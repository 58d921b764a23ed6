package blob_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/testenv"
)

// beginUpload starts a resumable upload of 10 bytes in r's store and writes
// 4 of them.
func beginUpload(t *testing.T, r *blob.Resumable) string {
	t.Helper()
	up, err := r.Store.NewUpload(t.Context(), handler.FileInfo{Size: 10, MetaData: handler.MetaData{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.WriteChunk(t.Context(), 0, strings.NewReader("0123")); err != nil {
		t.Fatal(err)
	}
	info, err := up.GetInfo(t.Context())
	if err != nil || info.Offset != 4 {
		t.Fatalf("info %+v, %v", info, err)
	}
	return info.ID
}

func TestResumable_local_lists_its_uploads_out_of_the_blob_stores_sight(t *testing.T) {
	dir := t.TempDir()
	r, err := blob.OpenResumable(t.Context(), "file:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	id := beginUpload(t, r)
	ids, err := r.List(t.Context())
	if err != nil || !slices.Equal(ids, []string{id}) {
		t.Fatalf("List: %v, %v; want [%s]", ids, err, id)
	}
	store, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if infos, err := store.List(t.Context(), ""); err != nil || len(infos) != 0 {
		t.Errorf("the blob store lists %+v, %v", infos, err)
	}
	if temps, err := store.Temps(t.Context()); err != nil || len(temps) != 0 {
		t.Errorf("the blob store's temps: %+v, %v", temps, err)
	}
}

func TestResumable_refuses_a_URL_no_store_takes(t *testing.T) {
	if _, err := blob.OpenResumable(t.Context(), "ftp://x/y"); err == nil {
		t.Error("an ftp URL was taken")
	}
}

func TestS3_resumable_uploads_are_listed_and_left_to_their_expiry_by_Temps(t *testing.T) {
	raw := testenv.S3URL(t) // a prefix of the test's own
	store, err := blob.Open(t.Context(), raw, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r, err := blob.OpenResumable(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	id := beginUpload(t, r)
	ids, err := r.List(t.Context())
	if err != nil || !slices.Contains(ids, id) {
		t.Fatalf("List: %v, %v; want %s among them", ids, err, id)
	}
	temps, err := store.Temps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tmp := range temps {
		if strings.Contains(tmp.Key, "Uploads") || tmp.Key == "" {
			t.Errorf("Temps lists %+v", tmp)
		}
	}
	if infos, err := store.List(t.Context(), ""); err != nil || len(infos) != 0 {
		t.Errorf("the blob store lists %+v, %v", infos, err)
	}
	up, err := r.Store.GetUpload(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.(handler.TerminatableUpload).Terminate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ids, err := r.List(t.Context()); err != nil || slices.Contains(ids, id) {
		t.Errorf("after Terminate List: %v, %v", ids, err)
	}
}
