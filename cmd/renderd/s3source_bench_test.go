package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// BenchmarkS3SourceRead weighs the two ways an encoder can read a source
// kept on S3, for a 30 s 1080p H.264 source rendered to 720p mp4 with the
// worker's own command (each render's whole wall time, the median of the
// iterations, s/render; and ffmpeg's CPU time):
//
//   - scratch: Fetch copies the object into the scratch folder, ffmpeg
//     reads the file (what renderd does);
//   - presigned: ffmpeg reads a presigned GET itself, its protocols opened
//     to http,https,tcp,tls for that input only.
//
// Both run ffmpeg outside the media sandbox, which gives ffmpeg no network
// at all: the presigned way would need its network layers lifted.
//
//	go test -run '^$' -bench S3SourceRead -benchtime 3x ./cmd/renderd/
func BenchmarkS3SourceRead(b *testing.B) {
	ctx := b.Context()
	store, err := openBlobs(ctx, Config{BlobURL: testenv.S3URL(b), ScratchDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()

	src := mediatest.Generate(b, "source_1080p_30s.mp4", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "16M",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2")
	prober := ffmpeg.NewProber("", time.Minute, ffmpeg.Limits{})
	media, err := prober.Probe(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	const key = "assets/ast_bench/source"
	size, err := store.Put(ctx, key, f, 1<<30)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	if info, err := store.Stat(ctx, key); err != nil || info.Size != size {
		b.Fatalf("the stored source: %+v, %v", info, err)
	}
	b.Logf("source: %.1f MB, %s, %dx%d", float64(size)/1e6, media.Duration, media.Width, media.Height)
	plan, err := domain.PlanOutput(domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p}, media, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "out.mp4")
	command := func(input []string) []string {
		cmd, err := encoders.BuildCommand(encoders.Job{Format: domain.FormatMP4, Plan: plan, Source: media, Input: input, Output: out})
		if err != nil {
			b.Fatal(err)
		}
		return cmd.Args
	}

	// The two ways alternate, each iteration running both, so that a
	// shared machine's load weighs on them alike.
	scratch := func() (wall, copied, cpu time.Duration) {
		start := time.Now()
		path, release, err := store.Fetch(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		copied = time.Since(start)
		defer release()
		input, err := prober.InputArgs(path, media.Container)
		if err != nil {
			b.Fatal(err)
		}
		if cpu, err = runFFmpeg(ctx, command(input)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), copied, cpu
	}
	presigned := func() (wall, cpu time.Duration) {
		start := time.Now()
		url, ok, err := store.DownloadURL(ctx, key, blob.Attachment{Filename: "source.mp4"}, time.Now().Add(15*time.Minute))
		if err != nil || !ok {
			b.Fatalf("presign: %v (ok %v)", err, ok)
		}
		input, err := prober.InputArgs("/source", media.Container)
		if err != nil {
			b.Fatal(err)
		}
		if cpu, err = runFFmpeg(ctx, overNetwork(b, command(input), "file:/source", url)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), cpu
	}
	var sWall, sCopy, sCPU, pWall, pCPU []time.Duration
	for i := 0; b.Loop(); i++ {
		if i%2 == 1 {
			w, c := presigned()
			pWall, pCPU = append(pWall, w), append(pCPU, c)
		}
		w, copied, c := scratch()
		sWall, sCopy, sCPU = append(sWall, w), append(sCopy, copied), append(sCPU, c)
		if i%2 == 0 {
			w, c := presigned()
			pWall, pCPU = append(pWall, w), append(pCPU, c)
		}
	}
	b.ReportMetric(0, "ns/op") // an iteration renders twice: the metrics below are per render
	b.ReportMetric(median(sWall).Seconds(), "scratch-s/render")
	b.ReportMetric(median(sCopy).Seconds(), "scratch-copy-s")
	b.ReportMetric(median(pWall).Seconds(), "presigned-s/render")
	b.ReportMetric(median(sCPU).Seconds(), "scratch-ffmpeg-cpu-s")
	b.ReportMetric(median(pCPU).Seconds(), "presigned-ffmpeg-cpu-s")
	b.Logf("scratch: wall %v, copy %v, ffmpeg cpu %v", sWall, sCopy, sCPU)
	b.Logf("presigned: wall %v, ffmpeg cpu %v", pWall, pCPU)
}

// overNetwork turns the worker's command reading the file input into the
// same command reading url: the input's protocols are http,https,tcp,tls
// instead of file, everything else (container and codec allowlists, the
// picture cap) stays.
func overNetwork(b *testing.B, args []string, input, url string) []string {
	out := slices.Clone(args)
	i, j := slices.Index(out, "-protocol_whitelist"), slices.Index(out, input)
	if i < 0 || i+1 >= len(out) || out[i+1] != "file" || j < 1 || out[j-1] != "-i" {
		b.Fatalf("unexpected ffmpeg arguments %q", args)
	}
	out[i+1], out[j] = "http,https,tcp,tls", url
	return out
}

// runFFmpeg runs ffmpeg as the worker does, unconfined, and returns the
// CPU time it used (user and system), which a shared machine's load does
// not inflate as it does the wall time.
func runFFmpeg(ctx context.Context, args []string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ffmpeg: %w: %s", err, stderr.Bytes())
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}
