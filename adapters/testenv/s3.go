package testenv

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"
)

// S3URL returns the stack's S3 blob store (RENDERD_BLOB_URL,
// s3://bucket/prefix?endpoint=…, with the AWS credentials in the
// environment, as deployments/local/up writes them) with a prefix of the
// test's own below the configured one, so that tests sharing the bucket
// never see each other's objects. Without an s3:// URL the test is
// skipped, or fails when RENDERD_REQUIRE_STACK=1.
func S3URL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("RENDERD_BLOB_URL")
	if !strings.HasPrefix(raw, "s3://") {
		why := fmt.Sprintf("RENDERD_BLOB_URL is %q, not an s3:// URL", raw)
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("no S3 blob store for integration tests: %s", why)
		}
		t.Skipf("S3 integration test skipped: %s (deployments/local/up with RENDERD_LOCAL_S3=1 writes one)", why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("RENDERD_BLOB_URL: %v", err)
	}
	u.Path = "/" + path.Join(strings.Trim(u.Path, "/"), "test-"+RandomSuffix())
	return u.String()
}
