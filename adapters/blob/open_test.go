package blob

import (
	"context"
	"strings"
	"testing"
)

func TestParseStoreURL_reads_every_accepted_spelling(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want storeLocation
	}{
		{"file:///var/lib/renderd/blobs", storeLocation{dir: "/var/lib/renderd/blobs"}},
		{"file://localhost/var/blobs", storeLocation{dir: "/var/blobs"}},
		{"file:.data/blobs", storeLocation{dir: ".data/blobs"}},
		{"file:blobs%20x", storeLocation{dir: "blobs x"}},
		{".data/blobs", storeLocation{dir: ".data/blobs"}},
		{"/srv/blobs", storeLocation{dir: "/srv/blobs"}},
		{"s3://renderd", storeLocation{s3: &S3Config{Bucket: "renderd"}}},
		{"s3://renderd/", storeLocation{s3: &S3Config{Bucket: "renderd"}}},
		{"s3://renderd/prod/media/", storeLocation{s3: &S3Config{Bucket: "renderd", Prefix: "prod/media"}}},
		{"s3://my.bucket-1/p?region=eu-west-1", storeLocation{s3: &S3Config{Bucket: "my.bucket-1", Prefix: "p", Region: "eu-west-1"}}},
		{
			"s3://renderd/dev?endpoint=http://127.0.0.1:8333&region=us-east-1&path_style=true",
			storeLocation{s3: &S3Config{Bucket: "renderd", Prefix: "dev", Endpoint: "http://127.0.0.1:8333", Region: "us-east-1", PathStyle: true}},
		},
		{"s3://renderd?endpoint=https%3A%2F%2Fs3.example.com%2F&path_style=false", storeLocation{s3: &S3Config{Bucket: "renderd", Endpoint: "https://s3.example.com/"}}},
	} {
		got, err := parseStoreURL(c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if got.dir != c.want.dir || (got.s3 == nil) != (c.want.s3 == nil) || got.s3 != nil && *got.s3 != *c.want.s3 {
			t.Errorf("%s = %+v %+v, want %+v %+v", c.raw, got, got.s3, c.want, c.want.s3)
		}
	}
}

func TestParseStoreURL_refuses_what_it_cannot_mean_and_says_why(t *testing.T) {
	for _, c := range []struct{ raw, says string }{
		{"", "empty"},
		{"gs://bucket/x", `unknown scheme "gs"`},
		{"http://127.0.0.1:8333/renderd", `unknown scheme "http"`},
		{"file://otherhost/blobs", "names no host"},
		{"file://", "no path"},
		{"file:///blobs?sync=1", "no query parameters"},
		{"file:///blobs#x", "no fragment"},
		{"s3://", "no bucket"},
		{"s3:renderd", "no bucket"},
		{"s3:///prefix", "no bucket"},
		{"s3://Renderd", `bucket "Renderd"`},
		{"s3://ab", `bucket "ab"`},
		{"s3://-renderd", `bucket "-renderd"`},
		{"s3://renderd:9000/x", "bucket"},
		{"s3://key:secret@renderd", "credentials come from the AWS environment"},
		{"s3://renderd/Prod", "prefix"},
		{"s3://renderd/a/../b", "prefix"},
		{"s3://renderd/a//b", "prefix"},
		{"s3://renderd?endpont=http://x", `unknown query parameter "endpont"`},
		{"s3://renderd?bucket=other", `unknown query parameter "bucket"`},
		{"s3://renderd?endpoint=127.0.0.1:8333", "endpoint"},
		{"s3://renderd?endpoint=ftp://host", "endpoint"},
		{"s3://renderd?endpoint=http://", "endpoint"},
		{"s3://renderd?endpoint=http://host/path", "endpoint"},
		{"s3://renderd?endpoint=http://u:p@host", "endpoint"},
		{"s3://renderd?region=", "empty region"},
		{"s3://renderd?region=a&region=b", `"region" given 2 times`},
		{"s3://renderd?path_style=yes", "path_style"},
		{"s3://renderd?region=%zz", "query"},
	} {
		_, err := parseStoreURL(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: %v, want an error saying %q", c.raw, err, c.says)
		}
	}
}

func TestOpen_an_s3_url_needs_a_scratch_folder(t *testing.T) {
	_, err := Open(context.Background(), "s3://renderd?region=us-east-1", "")
	if err == nil || !strings.Contains(err.Error(), "scratch") {
		t.Fatalf("open = %v, want an error asking for a scratch folder", err)
	}
}

func TestOpen_a_bad_url_opens_nothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), "s3://renderd?x=1", dir); err == nil {
		t.Fatal("opened a store from a bad URL")
	}
	if _, err := Open(context.Background(), "file:///dev/null/blobs", dir); err == nil {
		t.Fatal("opened a local store where no folder can be")
	}
}

func TestNewS3_refuses_an_incomplete_configuration_before_any_request(t *testing.T) {
	// No region anywhere in the AWS environment either.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	scratch := t.TempDir()
	for _, c := range []struct {
		config S3Config
		says   string
	}{
		{S3Config{ScratchDir: scratch, Region: "us-east-1"}, "no bucket"},
		{S3Config{Bucket: "renderd", Region: "us-east-1"}, "no scratch folder"},
		{S3Config{Bucket: "renderd", ScratchDir: scratch}, "no region"},
		{S3Config{Bucket: "renderd", ScratchDir: scratch, Region: "us-east-1", Prefix: "../up"}, "prefix"},
	} {
		if _, err := NewS3(t.Context(), c.config); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want an error saying %q", c.config, err, c.says)
		}
	}
}
