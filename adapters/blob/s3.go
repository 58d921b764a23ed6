//lint:file-ignore SA1019 the upload manager (feature/s3/manager) is deprecated for feature/s3/transfermanager, which is still v0; S3's doc says why it stays.

package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

const (
	// s3PartSize and s3Concurrency bound the memory of one Put: the upload
	// manager holds at most s3Concurrency+1 parts of a streamed body, plus
	// the first part while it decides between one PutObject and a multipart
	// upload, so about 20 MiB per upload in flight whatever the body's
	// size. 5 MiB is the smallest part S3 accepts; on the local SeaweedFS
	// one, two or four parts in flight upload alike, the server being the
	// bound (s3_bench_test.go), and each part more costs 5 MiB per
	// concurrent upload.
	s3PartSize    = manager.MinUploadPartSize
	s3Concurrency = 2
	// S3WriteUnit is how many bytes an upload to S3 takes between two
	// moves of its unfinished upload's age (Temps): one part. A sweep must
	// allow a live upload that long to write it, at the slowest rate
	// uploads may go.
	S3WriteUnit = s3PartSize
	// maxPresignTTL is the longest a SigV4-presigned URL may live (7 days).
	maxPresignTTL = 7 * 24 * time.Hour
	// cleanupTimeout bounds the calls made after the caller's context
	// ended (aborting a failed upload) or without one (RemoveTemp).
	cleanupTimeout = 30 * time.Second
)

// S3Config says where an S3 store keeps its blobs (Open builds it from
// RENDERD_BLOB_URL). Credentials come from the standard AWS environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, a shared profile, a role).
type S3Config struct {
	Bucket string
	// Prefix is prepended, with a slash, to every key ("" for none).
	Prefix string
	// Endpoint is the server's base URL ("" for AWS itself); Region is
	// required, from here or the AWS environment (AWS_REGION).
	Endpoint  string
	Region    string
	PathStyle bool
	// ScratchDir is this process's own folder for Fetch's copies and
	// CreateTemp's files; it must not be shared with another process.
	ScratchDir string
}

// S3 is a blob store in an S3 bucket (AWS, or any S3-compatible server),
// shared by processes on many hosts (docs/architecture.md, adapters).
//
// Multipart uploads go through the SDK's upload manager
// (feature/s3/manager), deprecated for feature/s3/transfermanager: the
// manager's v1 API is stable and still released with the SDK, reads a
// file part by part in place (Commit), and its one flaw here, aborting a
// failed upload with the caller's context, Put works around. The
// successor is v0, free to change at any release; move once it is v1.
//
// Writes publish atomically: an object appears only when its PutObject or
// CompleteMultipartUpload succeeds, so a failed or cancelled Put leaves
// nothing visible and a previous blob untouched; its multipart upload, if
// it had begun one, is aborted, and one a crash left behind is what Temps
// lists. Programs that take file names get local copies (Fetch) and write
// local files (CreateTemp) in the process's scratch folder.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ending in "/"

	scratchDir string   // absolute
	scratch    *os.Root // scratchDir
	// writes keeps CreateTemp's files under scratchDir/writes, named as
	// Local names its temporary files, so that Temps can say whose they are.
	writes *Local
}

// Scratch subfolders: CreateTemp's files, Fetch's copies.
const (
	scratchWrites = "writes"
	scratchFetch  = "fetch"
)

// NewS3 opens the store and checks that its bucket answers (HeadBucket),
// so that a misconfigured process fails at start rather than at its first
// upload.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	if c.Bucket == "" {
		return nil, errors.New("s3 blob store: no bucket")
	}
	if c.ScratchDir == "" {
		return nil, errors.New("s3 blob store: no scratch folder")
	}
	client, err := newS3Client(ctx, c)
	if err != nil {
		return nil, err
	}
	s := &S3{
		client:  client,
		presign: s3.NewPresignClient(client),
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = s3PartSize
			u.Concurrency = s3Concurrency
			// Put aborts a failed upload itself, also once ctx has ended
			// (the manager would abort with the ended ctx, and fail to).
			u.LeavePartsOnError = true
		}),
		bucket: c.Bucket,
	}
	if c.Prefix != "" {
		if err := ValidateKey(c.Prefix); err != nil {
			return nil, fmt.Errorf("s3 blob store: prefix: %w", err)
		}
		s.prefix = c.Prefix + "/"
	}
	if s.scratchDir, err = filepath.Abs(c.ScratchDir); err != nil {
		return nil, fmt.Errorf("s3 blob store: scratch folder: %w", err)
	}
	for _, dir := range []string{scratchWrites, scratchFetch} {
		if err := os.MkdirAll(filepath.Join(s.scratchDir, dir), 0o750); err != nil {
			return nil, fmt.Errorf("s3 blob store: scratch folder: %w", err)
		}
	}
	if s.scratch, err = os.OpenRoot(s.scratchDir); err != nil {
		return nil, fmt.Errorf("s3 blob store: scratch folder: %w", err)
	}
	if s.writes, err = NewLocal(filepath.Join(s.scratchDir, scratchWrites)); err != nil {
		_ = s.scratch.Close()
		return nil, fmt.Errorf("s3 blob store: scratch folder: %w", err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("s3 blob store: bucket %q: %w", s.bucket, err)
	}
	return s, nil
}

// newS3Client is the client of the S3 server c names.
func newS3Client(ctx context.Context, c S3Config) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("s3 blob store: no region (region= in the URL, or AWS_REGION)")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		// A ranged GET, or an object uploaded in parts, has no whole-body
		// checksum to validate: routine, not a warning for the log.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return client, nil
}

// Close releases the scratch folder.
func (s *S3) Close() error {
	return errors.Join(s.writes.Close(), s.scratch.Close())
}

func (s *S3) objectKey(key string) *string { return aws.String(s.prefix + key) }

// Put streams r into key through the upload manager: one PutObject for a
// body shorter than a part, a multipart upload otherwise, holding a
// bounded number of parts in memory (s3PartSize). Nothing is visible until
// the upload completes; a body longer than maxBytes (one byte past it is
// enough to tell), an error of r's or ctx's, or a failed request aborts
// it. The one gap: a ctx ending while CompleteMultipartUpload is on the
// wire may leave the new blob in place with an error returned (a retried
// Put replaces it).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	if maxBytes <= 0 {
		return 0, fmt.Errorf("put %s: a positive size limit is required", key)
	}
	// body hides any io.Seeker or io.ReaderAt of r's: the manager must
	// stream it, through the limit.
	body := &limitedReader{ctx: ctx, r: r, limit: maxBytes}
	if err := s.upload(ctx, key, body); err != nil {
		if body.tooLarge {
			return 0, fmt.Errorf("put %s: %w (limit %d bytes)", key, ErrTooLarge, maxBytes)
		}
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return body.n, nil
}

// upload runs the manager and aborts a multipart upload it left behind.
func (s *S3) upload(ctx context.Context, key string, body io.Reader) error {
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: s.objectKey(key), Body: body})
	var failed manager.MultiUploadFailure
	if errors.As(err, &failed) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if aerr := s.abort(actx, *s.objectKey(key), failed.UploadID()); aerr != nil {
			return errors.Join(err, fmt.Errorf("abort the multipart upload (left for the sweep): %w", aerr))
		}
	}
	return err
}

func (s *S3) abort(ctx context.Context, objectKey, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &s.bucket, Key: &objectKey, UploadId: &uploadID,
	})
	if isCode(err, "NoSuchUpload") {
		return nil
	}
	return err
}

// limitedReader reads r until limit bytes and fails on the byte after, or
// once ctx has ended.
type limitedReader struct {
	ctx      context.Context
	r        io.Reader
	limit, n int64
	tooLarge bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if rest := l.limit + 1 - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	k, err := l.r.Read(p)
	l.n += int64(k)
	if l.n > l.limit {
		l.tooLarge = true
		return k, ErrTooLarge
	}
	return k, err
}

// Stat describes a blob (HeadObject).
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)})
	if err != nil {
		return Info{}, requestError("stat", key, err)
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Read opens length bytes of a blob from offset with a ranged GET.
func (s *S3) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("read %s: negative offset %d", key, offset)
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)}
	switch {
	case length == 0:
		// No range names zero bytes: the blob need only exist.
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case length > 0 && length <= math.MaxInt64-offset:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0: // to the end
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	switch {
	case isCode(err, "InvalidRange"):
		// The range starts at or past the end of a blob that exists (a
		// missing one answers 404 first).
		return io.NopCloser(strings.NewReader("")), nil
	case err != nil:
		return nil, requestError("read", key, err)
	}
	return out.Body, nil
}

// Delete removes a blob; S3 answers a missing one like any other.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List lists the blobs whose keys start with prefix, in key order (S3
// lists in UTF-8 byte order, which for keys is Go's string order). Objects
// under the store's prefix whose names are not valid keys are left out.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if prefix != "" {
		// A prefix is a key, or one cut short (ending in '/' or within a
		// segment).
		if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
			return nil, err
		}
	}
	var out []Info
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if ValidateKey(key) != nil {
				continue
			}
			out = append(out, Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// Fetch downloads a blob into the scratch folder, under a name of its own
// that keeps the key's extension (ffmpeg reads formats by it), and returns
// its absolute path; release removes it. The copy is written under a
// hidden name first, so a name without a dot is always a whole copy.
func (s *S3) Fetch(ctx context.Context, key string) (string, func(), error) {
	if err := ValidateKey(key); err != nil {
		return "", nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)})
	if err != nil {
		return "", nil, requestError("fetch", key, err)
	}
	defer out.Body.Close()
	name := path.Join(scratchFetch, randomHex()+"-"+path.Base(key))
	part := path.Join(scratchFetch, "."+path.Base(name))
	f, err := s.scratch.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	_, err = io.Copy(f, out.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.scratch.Rename(part, name)
	}
	if err != nil {
		_ = s.scratch.Remove(part)
		return "", nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	release := func() { _ = s.scratch.Remove(name) }
	return filepath.Join(s.scratchDir, filepath.FromSlash(name)), release, nil
}

// CreateTemp creates a new, empty file for key in the scratch folder,
// named so that Temps can tell whose write it is, and returns its absolute
// path. Commit uploads it; Discard removes it.
func (s *S3) CreateTemp(key string) (string, error) {
	return s.writes.CreateTemp(key)
}

// Commit uploads the finished file at tmpPath (from CreateTemp for the
// same key) as the blob key, through the upload manager (multipart, read
// from the file in place), then removes the file. On an error the file is
// left for the caller to retry or Discard.
func (s *S3) Commit(ctx context.Context, tmpPath, key string) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	rel, err := filepath.Rel(filepath.Join(s.scratchDir, scratchWrites), tmpPath)
	rel = filepath.ToSlash(rel)
	if err != nil || path.Dir(rel) != path.Dir(key) || !strings.HasPrefix(path.Base(rel), tempPrefix) {
		return 0, fmt.Errorf("commit %s: %s is not a temporary file for it", key, tmpPath)
	}
	f, err := s.scratch.Open(path.Join(scratchWrites, rel))
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	// An *os.File is read in place, part by part (io.ReaderAt): nothing
	// is buffered.
	if err := s.upload(ctx, key, f); err != nil {
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	if err := s.Discard(tmpPath); err != nil {
		return st.Size(), fmt.Errorf("commit %s: %w", key, err)
	}
	return st.Size(), nil
}

// Discard removes a file from CreateTemp; a missing one is fine.
func (s *S3) Discard(tmpPath string) error {
	return s.writes.Discard(tmpPath)
}

// uploadTemp marks a Temp that is a multipart upload rather than a file:
// its name is uploadTemp + upload id + NUL + object key.
const uploadTemp = "\x00upload\x00"

// Temps lists the writes begun but neither committed nor discarded: the
// files CreateTemp left in the scratch folder, and the unfinished
// multipart uploads under the store's prefix, of this process or any
// other (Put's, Commit's), with the size of their parts and, as ModTime,
// their last part's upload (or the upload's start, before any part).
//
// An upload's ModTime moves once per part, not per write as a file's
// does: a live Put at the slowest rate renderd lets an upload go
// (RENDERD_TRANSFER_MIN_RATE, 8 KiB/s by default) fills a 5 MiB part in
// about 11 minutes, so a sweep must wait longer than that before it takes
// an upload for abandoned.
func (s *S3) Temps(ctx context.Context) ([]Temp, error) {
	out, err := s.writes.Temps(ctx)
	errs := []error{err}
	pages := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix)}
	for {
		page, err := s.client.ListMultipartUploads(ctx, pages)
		if err != nil {
			errs = append(errs, fmt.Errorf("unfinished uploads: %w", err))
			break
		}
		for _, u := range page.Uploads {
			objectKey, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
			if strings.HasPrefix(objectKey, s.prefix+resumablePrefix+"/") {
				continue // a resumable upload's, which expires by its own rule (OpenResumable)
			}
			size, last, err := s.parts(ctx, objectKey, id)
			switch {
			case isCode(err, "NoSuchUpload"):
				continue // completed or aborted since
			case err != nil:
				errs = append(errs, fmt.Errorf("unfinished upload of %s: %w", objectKey, err))
				continue
			}
			t := Temp{Size: size, ModTime: aws.ToTime(u.Initiated), name: uploadTemp + id + "\x00" + objectKey}
			if last.After(t.ModTime) {
				t.ModTime = last
			}
			if key := strings.TrimPrefix(objectKey, s.prefix); ValidateKey(key) == nil {
				t.Key = key
			}
			out = append(out, t)
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		pages.KeyMarker, pages.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	return out, errors.Join(errs...)
}

// parts sums an upload's parts and finds the last one's upload time.
func (s *S3) parts(ctx context.Context, objectKey, uploadID string) (size int64, last time.Time, err error) {
	pages := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.bucket, Key: &objectKey, UploadId: &uploadID})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, time.Time{}, err
		}
		for _, p := range page.Parts {
			size += aws.ToInt64(p.Size)
			if m := aws.ToTime(p.LastModified); m.After(last) {
				last = m
			}
		}
	}
	return size, last, nil
}

// RemoveTemp removes a file or aborts an upload Temps listed, unless it
// was written since (a part uploaded after t.ModTime: its writer is alive)
// or is gone already; removed says whether this call removed it. A part
// arriving between that check and the abort is lost with the upload, and
// its Put fails: nothing is ever published half.
func (s *S3) RemoveTemp(t Temp) (removed bool, err error) {
	rest, ok := strings.CutPrefix(t.name, uploadTemp)
	if !ok {
		return s.writes.RemoveTemp(t)
	}
	id, objectKey, ok := strings.Cut(rest, "\x00")
	if !ok {
		return false, errors.New("remove temporary upload: malformed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, last, err := s.parts(ctx, objectKey, id)
	switch {
	case isCode(err, "NoSuchUpload"):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("remove unfinished upload of %s: %w", objectKey, err)
	case last.After(t.ModTime):
		return false, nil
	}
	_, err = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &objectKey, UploadId: &id})
	switch {
	case err == nil:
		return true, nil
	case isCode(err, "NoSuchUpload"):
		return false, nil
	default:
		return false, fmt.Errorf("remove unfinished upload of %s: %w", objectKey, err)
	}
}

// DownloadURL presigns a GET of the blob that answers it as the attachment
// as describes (its name made safe as Signer.Sign does) until expires,
// capped at the 7 days SigV4 allows, through the response-* overrides S3
// offers: Content-Disposition, Content-Type and Cache-Control. It has no
// override for X-Content-Type-Options: the store's answer goes without
// nosniff, its Content-Type stated instead. The URL is only as good as the
// credentials that signed it: temporary ones (a role's) end it when they
// expire.
func (s *S3) DownloadURL(ctx context.Context, key string, as Attachment, expires time.Time) (string, bool, error) {
	if err := ValidateKey(key); err != nil {
		return "", false, err
	}
	ttl := time.Until(expires)
	if ttl <= 0 {
		return "", false, fmt.Errorf("download url %s: expiry %s has passed", key, expires.Format(time.RFC3339))
	}
	ttl = min(ttl.Round(time.Second), maxPresignTTL)
	in := &s3.GetObjectInput{
		Bucket:                     &s.bucket,
		Key:                        s.objectKey(key),
		ResponseContentDisposition: aws.String(`attachment; filename="` + safeFilename(as.Filename) + `"`),
		ResponseCacheControl:       aws.String(fmt.Sprintf("private, max-age=%d", int64(max(ttl, time.Second).Seconds()))),
	}
	if as.ContentType != "" {
		in.ResponseContentType = aws.String(as.ContentType)
	}
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(max(ttl, time.Second)))
	if err != nil {
		return "", false, fmt.Errorf("download url %s: %w", key, err)
	}
	if req.Method != http.MethodGet {
		return "", false, fmt.Errorf("download url %s: presigned %s, not GET", key, req.Method)
	}
	return req.URL, true, nil
}

// requestError wraps a failed request on key, as an error matching
// fs.ErrNotExist when the object is missing.
func requestError(op, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s %s: %w", op, key, fs.ErrNotExist)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// isNotFound tells a missing object (GetObject's NoSuchKey, HeadObject's
// bodiless 404) from every other failure, a missing bucket included.
func isNotFound(err error) bool {
	var nf *types.NotFound
	var nk *types.NoSuchKey
	return errors.As(err, &nf) || errors.As(err, &nk) || isCode(err, "NoSuchKey") || isCode(err, "NotFound")
}

func isCode(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

func randomHex() string {
	b := make([]byte, tempRandLen/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
