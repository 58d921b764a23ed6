package testenv

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	s3Once sync.Once
	s3URL  string
	s3Err  error
)

// S3URL returns the S3 blob store of the stack (RENDERD_BLOB_URL,
// s3://bucket/prefix?endpoint=…) with a prefix of the test's own below
// the configured one, so that tests sharing the bucket never see each
// other's objects. The URL and the AWS credentials come from the
// environment, else from .data/stack.env or .data/s3.env (deployments/
// local/up), whose AWS_* variables are then set for the whole process, as
// the AWS SDK reads them from there. Without an s3:// URL the test is
// skipped, or fails when RENDERD_REQUIRE_STACK=1.
func S3URL(t testing.TB) string {
	t.Helper()
	s3Once.Do(func() { s3URL, s3Err = locateS3() })
	if s3Err != nil {
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("no S3 blob store for integration tests: %v", s3Err)
		}
		t.Skipf("S3 integration test skipped: %v (run `make test`, or deployments/local/up with RENDERD_LOCAL_S3=1)", s3Err)
	}
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + path.Join(strings.Trim(u.Path, "/"), "test-"+RandomSuffix())
	return u.String()
}

var awsVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"}

func locateS3() (string, error) {
	env := map[string]string{"RENDERD_BLOB_URL": os.Getenv("RENDERD_BLOB_URL")}
	for _, k := range awsVars {
		env[k] = os.Getenv(k)
	}
	if !strings.HasPrefix(env["RENDERD_BLOB_URL"], "s3://") {
		env["RENDERD_BLOB_URL"] = ""
		if file, err := stackEnvFile(); err == nil {
			for _, f := range []string{file, filepath.Join(filepath.Dir(file), "s3.env")} {
				if err := readEnvFile(f, env); err != nil && !errors.Is(err, os.ErrNotExist) {
					return "", err
				}
			}
		}
		for _, k := range awsVars {
			if os.Getenv(k) == "" && env[k] != "" {
				if err := os.Setenv(k, env[k]); err != nil {
					return "", err
				}
			}
		}
	}
	raw := env["RENDERD_BLOB_URL"]
	if !strings.HasPrefix(raw, "s3://") {
		return "", fmt.Errorf("RENDERD_BLOB_URL is %q, not an s3:// URL", raw)
	}
	return raw, nil
}
