package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
)

// storageRuns is how many times each compared measurement runs, the two
// sides alternating.
const storageRuns = 3

// storageS3URL is the S3 store the storage benchmark runs on: the stack's
// (RENDERD_TEST_BLOB_URL, written by deployments/local/up when its S3
// server runs; make bench starts it), else RENDERD_BLOB_URL.
func storageS3URL() (string, error) {
	for _, k := range []string{"RENDERD_TEST_BLOB_URL", "RENDERD_BLOB_URL"} {
		if v := os.Getenv(k); strings.HasPrefix(v, "s3://") {
			return v, nil
		}
	}
	return "", errors.New("the storage benchmark needs an S3 store: neither RENDERD_TEST_BLOB_URL nor RENDERD_BLOB_URL is an s3:// URL " +
		"(make bench starts the stack's S3 server; by hand, start the stack with RENDERD_LOCAL_S3=1 and source .data/stack.env, " +
		"or leave storage out with -only)")
}

// benchStorage compares renderd on the S3 store with the store itself and
// with the local store, on a ~100 MB 1080p source:
//
//   - the upload through PUT /v1/assets/{id}/source of a renderd on S3
//     against a plain PUT of the same file straight to the bucket (one
//     PutObject of the AWS SDK, the file's length known: what a client
//     holding the file would send without renderd), with the store's own
//     Put (the streamed multipart upload the API does) beside them, to
//     tell the HTTP hop from the multipart upload;
//   - the api process's peak RSS during each API upload;
//   - a 720p mp4 render on the S3 store against the same render on the
//     local store (file:).
//
// Each store has its renderd pair (api, relay and projector; encoder), its
// own database and topics, and a scratch folder per process, as separate
// hosts would (docs/operations.md). Everything written to S3 lies under a
// prefix of the run's own, removed at the end.
func benchStorage(ctx context.Context, e *env, _ time.Duration) (rs []result, err error) {
	raw, err := storageS3URL()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + path.Join(strings.Trim(u.Path, "/"), "bench-"+randomSuffix())
	s3URL := u.String()
	if err := blob.CheckURL(s3URL); err != nil {
		return nil, err
	}
	bucket, err := newPlainBucket(ctx, u)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := bucket.empty(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the run's objects under s3://%s/%s: %w", bucket.bucket, bucket.prefix, cerr))
		}
	}()

	dir, err := os.MkdirTemp("", "renderd-bench-storage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e.log.Debug("storage: the source")
	source, err := storageSource(ctx)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(source)
	if err != nil {
		return nil, err
	}
	size := st.Size()

	localEnv, err := newEnv(ctx, e.adminDSN, e.brokers, e.log)
	if err != nil {
		return nil, err
	}
	defer localEnv.close()
	var onS3, onLocal *encodeBench
	defer func() {
		for _, b := range []*encodeBench{onS3, onLocal} {
			if b != nil {
				b.stop()
				if err != nil {
					b.dumpLogs()
				}
			}
		}
	}()
	if onS3, err = startStorageRenderd(ctx, e, "s3", s3URL, dir, source); err != nil {
		return nil, err
	}
	if onLocal, err = startStorageRenderd(ctx, localEnv, "local", "file:"+filepath.Join(dir, "blobs"), dir, source); err != nil {
		return nil, err
	}
	store, err := blob.Open(ctx, s3URL, filepath.Join(dir, "store-scratch"))
	if err != nil {
		return nil, err
	}
	defer store.Close()

	e.log.Debug("storage: uploads")
	var up uploadRuns
	var s3Assets []string
	for i := range storageRuns {
		// The three ways in turn, each round starting one further on.
		for k := range 3 {
			switch (i + k) % 3 {
			case 0:
				id, took, rss, err := onS3.timedUpload(ctx)
				if err != nil {
					return nil, fmt.Errorf("upload through the API: %w", err)
				}
				s3Assets = append(s3Assets, id)
				up.api, up.rss = append(up.api, took), append(up.rss, rss)
			case 1:
				took, err := bucket.put(ctx, "plain/source-"+strconv.Itoa(i), source, size)
				if err != nil {
					return nil, fmt.Errorf("plain PUT: %w", err)
				}
				up.plain = append(up.plain, took)
			case 2:
				took, err := storePut(ctx, store, "store/source-"+strconv.Itoa(i), source, size)
				if err != nil {
					return nil, fmt.Errorf("the store's Put: %w", err)
				}
				up.store = append(up.store, took)
			}
		}
	}

	e.log.Debug("storage: the local store's asset")
	localAsset, localUpload, _, err := onLocal.timedUpload(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload to the local store: %w", err)
	}
	e.log.Debug("storage: renders")
	var s3Runs, localRuns []storageRender
	for i := range storageRuns {
		// The same plan on both stores; the audio bitrates above the
		// source's 128 kb/s are capped to it, as Auto is, so each run is a
		// new signature with the same ffmpeg command.
		o := domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p, AudioBitrate: []int{0, 192, 256}[i]}
		for k := range 2 {
			if (i+k)%2 == 0 {
				r, err := onS3.timedRender(ctx, encodeRequest{s3Assets[0], o})
				if err != nil {
					return nil, fmt.Errorf("render on S3: %w", err)
				}
				s3Runs = append(s3Runs, r)
			} else {
				r, err := onLocal.timedRender(ctx, encodeRequest{localAsset, o})
				if err != nil {
					return nil, fmt.Errorf("render on the local store: %w", err)
				}
				localRuns = append(localRuns, r)
			}
		}
	}
	return storageResults(size, up, localUpload, s3Runs, localRuns), nil
}

// storageSource makes the benchmark's source once and keeps it in the
// temporary folder for later runs: 20 s of 1920×1080 30 fps testsrc2 in
// H.264 (ultrafast, 1 s GOP) at a constant 42 Mb/s, with 48 kHz stereo AAC
// at 128 kb/s, in mp4 with its index first: about 100 MB.
func storageSource(ctx context.Context) (string, error) {
	cache := filepath.Join(os.TempDir(), "renderd-bench-cache")
	file := filepath.Join(cache, "storage-source-1080p-20s-42M-v1.mp4")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	if err := os.MkdirAll(cache, 0o750); err != nil {
		return "", err
	}
	tmp := file + ".tmp-" + randomSuffix() + ".mp4"
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=20",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=20",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30",
		"-b:v", "42M", "-minrate", "42M", "-maxrate", "42M", "-bufsize", "42M",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", "file:"+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("making the source with ffmpeg: %w: %s", err, out)
	}
	return file, os.Rename(tmp, file)
}

// startStorageRenderd starts a store's renderd pair, each process with a
// scratch folder of its own, and its benchmark account.
func startStorageRenderd(ctx context.Context, e *env, name, blobURL, dir, source string) (*encodeBench, error) {
	b := &encodeBench{e: e, dir: dir, source: source, store: postgres.NewEventStore(e.pool, e.codec, nil),
		hc: &http.Client{Timeout: 5 * time.Minute}}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	common := []string{"RENDERD_BLOB_URL=" + blobURL, "RENDERD_MAX_UPLOAD_BYTES=200000000"}
	scratch := func(role string) string { return "RENDERD_SCRATCH_DIR=" + filepath.Join(dir, name+"-"+role+"-scratch") }
	if b.api, err = startServe(e, name+" api", "api,relay,projector", append(common, scratch("api"),
		"RENDERD_HTTP_ADDR="+addr, "RENDERD_DOWNLOAD_SECRET="+base64.StdEncoding.EncodeToString(secret))...); err != nil {
		return nil, err
	}
	if b.encoder, err = startServe(e, name+" encoder", "encoder", append(common, scratch("encoder"),
		"RENDERD_ENCODER_CONCURRENCY=1", "RENDERD_LOG_LEVEL=info")...); err != nil {
		b.stop()
		return nil, err
	}
	b.base = "http://" + addr
	if err := waitReady(ctx, b.base, b.api, b.encoder); err != nil {
		b.stop()
		return nil, err
	}
	acc, err := postgres.NewAccounts(e.pool).Create(ctx, "bench-storage-"+name, 600*60)
	if err != nil {
		b.stop()
		return nil, err
	}
	b.key = acc.APIKey
	return b, nil
}

// timedUpload creates an asset, times the PUT of the source (sent → 202)
// and waits for the asset to be probed, so that the next measurement runs
// on an idle renderd. peak is the api process's VmHWM over the PUT, in
// KiB: the kernel's peak is reset just before it (/proc/<pid>/clear_refs).
func (b *encodeBench) timedUpload(ctx context.Context) (id string, took time.Duration, rss rssOver, err error) {
	var a struct {
		ID string `json:"id"`
	}
	status, raw, err := b.call(ctx, http.MethodPost, "/v1/assets", []byte(`{"kind":"video","name":"bench storage"}`), &a)
	if err != nil {
		return "", 0, rssOver{}, err
	}
	if status != http.StatusCreated {
		return "", 0, rssOver{}, fmt.Errorf("POST /v1/assets answered %d: %s", status, raw)
	}
	f, err := os.Open(b.source)
	if err != nil {
		return "", 0, rssOver{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, rssOver{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.base+"/v1/assets/"+a.ID+"/source", f)
	if err != nil {
		return "", 0, rssOver{}, err
	}
	req.ContentLength = st.Size()
	pid := b.api.cmd.Process.Pid
	rss.before = procStatusKiB(pid, "VmRSS")
	// Without the reset (a kernel or sandbox refusing it) the peak is the
	// process's whole life's, and the row says so.
	rss.reset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	start := time.Now()
	status, raw, err = b.do(req, nil)
	took = time.Since(start)
	rss.peak = procStatusKiB(pid, "VmHWM")
	if err != nil {
		return "", 0, rssOver{}, err
	}
	if status != http.StatusAccepted {
		return "", 0, rssOver{}, fmt.Errorf("PUT /v1/assets/%s/source answered %d: %s", a.ID, status, raw)
	}
	if err := b.waitAsset(ctx, a.ID); err != nil {
		return "", 0, rssOver{}, err
	}
	return a.ID, took, rss, b.waitIdleAPI(ctx)
}

// rssOver is a process's memory over a measurement, in KiB: its resident
// set just before, and its peak.
type rssOver struct {
	before, peak int64
	reset        bool // the peak was reset before the measurement
}

// waitIdleAPI waits until the api process runs no child (the probe's
// ffprobe) and drops its scratch copies.
func (b *encodeBench) waitIdleAPI(ctx context.Context) error {
	return waitChildless(ctx, b.api, "the api")
}

// procStatusKiB reads one "kB" field of /proc/<pid>/status (0 if absent).
func procStatusKiB(pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// storageRender is one render: render.started → render.completed (as the
// encode benchmark times a render), and POST sent → completed seen.
type storageRender struct {
	run  serviceRun
	wall time.Duration
}

// timedRender posts a render on an idle encoder and waits for it, watching
// the encoder's ffmpeg child (the only new one: its concurrency is 1) to
// tell where the time went: on S3, fetching the source before ffmpeg and
// uploading the output after it.
func (b *encodeBench) timedRender(ctx context.Context, r encodeRequest) (storageRender, error) {
	if err := b.waitIdle(ctx); err != nil {
		return storageRender{}, err
	}
	known := pids()
	type rendered struct {
		run serviceRun
		err error
	}
	done := make(chan rendered, 1)
	sent := time.Now()
	go func() {
		run, err := b.render(ctx, r)
		done <- rendered{run, err}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	pid := 0
	var start, exit time.Time
	for {
		select {
		case res := <-done:
			res.run.ffmpegStart, res.run.ffmpegExit = start, exit
			return storageRender{run: res.run, wall: time.Since(sent)}, res.err
		case <-tick.C:
		}
		if pid == 0 {
			for _, kid := range childrenOf(b.encoder.cmd.Process.Pid) {
				raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", kid))
				if !known[kid] && filepath.Base(strings.Split(string(raw), "\x00")[0]) == "ffmpeg" {
					pid, start = kid, time.Now()
				}
			}
		} else if exit.IsZero() && processGone(pid) {
			exit = time.Now()
		}
	}
}

// phases are the medians of renders' phases (serviceRun.phases), when the
// benchmark saw each render's ffmpeg start and exit.
func phases(rs []storageRender) string {
	var before, run, after []time.Duration
	for _, r := range rs {
		if r.run.ffmpegStart.IsZero() || r.run.ffmpegExit.IsZero() {
			return "phases not seen"
		}
		b, f, a := r.run.phases()
		before, run, after = append(before, b), append(run, f), append(after, a)
	}
	mid := func(ds []time.Duration) float64 { return pct(slices.Sorted(slices.Values(ds)), 0.5).Seconds() }
	return fmt.Sprintf("medians: started → ffmpeg %.2f s, ffmpeg %.2f s, ffmpeg exit → completed %.2f s", mid(before), mid(run), mid(after))
}

// plainBucket is the benchmark's own client of the S3 store, for the plain
// PUT and the clean-up.
type plainBucket struct {
	client         *s3.Client
	bucket, prefix string // prefix ends in "/"
}

func newPlainBucket(ctx context.Context, u *url.URL) (*plainBucket, error) {
	q := u.Query()
	var opts []func(*config.LoadOptions) error
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if e := q.Get("endpoint"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = q.Get("path_style") == "true"
	})
	return &plainBucket{client: client, bucket: u.Host, prefix: strings.Trim(u.Path, "/") + "/"}, nil
}

// put times one PutObject of the file, its length known.
func (p *plainBucket) put(ctx context.Context, key, file string, size int64) (time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	_, err = p.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &p.bucket, Key: aws.String(p.prefix + key), Body: f, ContentLength: &size})
	return time.Since(start), err
}

// storePut times the store's Put of the file as the API calls it: a stream
// of unknown length (its io.Seeker hidden).
func storePut(ctx context.Context, s blob.Store, key, file string, size int64) (time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	_, err = s.Put(ctx, key, struct{ io.Reader }{f}, size+1)
	return time.Since(start), err
}

// empty removes every object and unfinished multipart upload under the
// run's prefix.
func (p *plainBucket) empty(ctx context.Context) error {
	var errs []error
	pages := s3.NewListObjectsV2Paginator(p.client, &s3.ListObjectsV2Input{Bucket: &p.bucket, Prefix: &p.prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, o := range page.Contents {
			if _, err := p.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &p.bucket, Key: o.Key}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	ups, err := p.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &p.bucket, Prefix: &p.prefix})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, up := range ups.Uploads {
		if _, err := p.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &p.bucket, Key: up.Key, UploadId: up.UploadId}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// uploadRuns are the upload times, in run order.
type uploadRuns struct {
	api, plain, store []time.Duration
	rss               []rssOver // the api's over each API upload
}

func storageResults(size int64, up uploadRuns, localUpload time.Duration, s3Runs, localRuns []storageRender) []result {
	mid := func(ds []time.Duration) time.Duration { return pct(slices.Sorted(slices.Values(ds)), 0.5) }
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
	list := func(ds []time.Duration, f func(time.Duration) string) string {
		var out []string
		for _, d := range ds {
			out = append(out, f(d))
		}
		return strings.Join(out, ", ")
	}
	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f", mbps(d)) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	mb := float64(size) / 1e6
	api, plain, store := mid(up.api), mid(up.plain), mid(up.store)
	upRatio := plain.Seconds() / api.Seconds()

	mib := func(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }
	var peaks []int64
	var rssRuns []string
	peakOf := "VmHWM, reset before each PUT"
	for _, r := range up.rss {
		peaks = append(peaks, r.peak)
		rssRuns = append(rssRuns, mib(r.before)+" → "+mib(r.peak))
		if !r.reset {
			peakOf = "VmHWM since the process started (/proc/<pid>/clear_refs refused its reset)"
		}
	}
	slices.Sort(peaks)

	took := func(rs []storageRender) (started, wall []time.Duration) {
		for _, r := range rs {
			started, wall = append(started, r.run.took()), append(wall, r.wall)
		}
		return started, wall
	}
	s3Took, s3Wall := took(s3Runs)
	localTook, localWall := took(localRuns)
	s3Mid, localMid := mid(s3Took), mid(localTook)
	renderRatio := s3Mid.Seconds() / localMid.Seconds()
	// Each pair's own ratio: alternation cancels the machine's slow drifts
	// within a pair.
	var pairs []string
	for i := range min(len(s3Took), len(localTook)) {
		pairs = append(pairs, fmt.Sprintf("%.2f", s3Took[i].Seconds()/localTook[i].Seconds()))
	}

	return []result{{
		name: fmt.Sprintf("upload of a %.0f MB 1080p source to S3 through PUT /v1/assets/{id}/source (sent → 202), median of %d, alternating with the plain PUT", mb, len(up.api)),
		value: fmt.Sprintf("%.0f MB/s (%s s; runs %s MB/s); the store's own Put of the same stream, no HTTP hop: %.0f MB/s (runs %s); the local store through the API: %.0f MB/s",
			mbps(api), secs(api), list(up.api, rate), mbps(store), list(up.store, rate), mbps(localUpload)),
		baseline: fmt.Sprintf("%.0f MB/s plain PUT: one PutObject of the file with the AWS SDK, straight to the bucket (runs %s MB/s)", mbps(plain), list(up.plain, rate)),
		ratio:    ratio(upRatio),
		target:   "≥ 0.8 × the plain PUT",
		ok:       upRatio >= 0.8,
	}, {
		name: fmt.Sprintf("peak RSS of `renderd serve --roles api,relay,projector` during each API upload to S3 (%d)", len(up.rss)),
		value: fmt.Sprintf("%s: median %s MiB (each run, VmRSS before → VmHWM: %s MiB)",
			peakOf, mib(peaks[len(peaks)/2]), strings.Join(rssRuns, ", ")),
		target: "reported (a streamed Put holds ~20 MiB of parts)",
		ok:     true,
	}, {
		name: fmt.Sprintf("%.0f MB 20 s 1080p → 720p mp4 on S3: render.started → render.completed, median of %d, alternating with the local store", mb, len(s3Took)),
		value: fmt.Sprintf("%s s (runs %s s; POST → completed seen %s s; %s); S3/local per pair %s",
			secs(s3Mid), list(s3Took, secs), list(s3Wall, secs), phases(s3Runs), strings.Join(pairs, ", ")),
		baseline: fmt.Sprintf("%s s on the local store, file: (runs %s s; POST → completed seen %s s; %s)",
			secs(localMid), list(localTook, secs), list(localWall, secs), phases(localRuns)),
		ratio:  ratio(renderRatio),
		target: "≤ 1.05 × the local store",
		ok:     renderRatio <= 1.05,
	}}
}
