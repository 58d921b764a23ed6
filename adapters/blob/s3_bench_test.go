//lint:file-ignore SA1019 the benchmark measures the upload manager S3 uses (see S3).

package blob_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The S3 store's throughput on the stack's server, next to the AWS upload
// manager's own upload of the same file (its defaults: 5 MiB parts, five
// in flight, read from the file in place): go test -run '^$' -bench S3
// ./adapters/blob.

const benchSize = 100 << 20

// benchFile writes a benchSize file of varied bytes.
func benchFile(b *testing.B) *os.File {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "source.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	if _, err := io.Copy(f, io.LimitReader(&counting{}, benchSize)); err != nil {
		b.Fatal(err)
	}
	return f
}

// streamOnly hides the file's io.Seeker and io.ReaderAt: an upload as the
// API receives it, a stream of unknown length.
type streamOnly struct{ io.Reader }

func BenchmarkS3_put_100MB_streamed(b *testing.B) {
	s := openS3(b).store
	f := benchFile(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Put(b.Context(), "assets/ast_bench/source", streamOnly{f}, benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkS3_upload_manager_100MB_file(b *testing.B) {
	bucket := openS3(b)
	f := benchFile(b)
	up := manager.NewUploader(bucket.client)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if _, err := up.Upload(b.Context(), &s3.PutObjectInput{
			Bucket: &bucket.bucket, Key: aws.String(bucket.prefix + "assets/ast_bench/source"), Body: f,
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := bucket.store.Delete(b.Context(), "assets/ast_bench/source"); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkS3_fetch_100MB(b *testing.B) {
	s := openS3(b).store
	if _, err := s.Put(b.Context(), "assets/ast_bench/source", io.LimitReader(&counting{}, benchSize), benchSize); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		_, release, err := s.Fetch(b.Context(), "assets/ast_bench/source")
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}
