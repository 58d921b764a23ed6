package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// BenchmarkS3SourceRead weighs the two ways an encoder can read a source
// kept on S3, for a 30 s 1080p H.264 source rendered to 720p mp4 with the
// worker's own command (each run's whole wall time, reported as the median
// of the runs, s/render):
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
	if errors.Is(err, errNoS3Store) {
		b.Skip("this build opens no S3 store (openBlobs)")
	}
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

	b.Run("scratch", func(b *testing.B) {
		var took, fetched []time.Duration
		for b.Loop() {
			start := time.Now()
			path, release, err := store.Fetch(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			fetched = append(fetched, time.Since(start))
			input, err := prober.InputArgs(path, media.Container)
			if err == nil {
				err = runFFmpeg(ctx, command(input))
			}
			release()
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		b.Logf("of which the copy into the scratch folder: %v", fetched)
		reportMedian(b, took)
	})
	b.Run("presigned", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			url, ok, err := store.DownloadURL(ctx, key, "source.mp4", time.Now().Add(15*time.Minute))
			if err != nil || !ok {
				b.Fatalf("presign: %v (ok %v)", err, ok)
			}
			input, err := prober.InputArgs("/source", media.Container)
			if err != nil {
				b.Fatal(err)
			}
			if err := runFFmpeg(ctx, overNetwork(b, command(input), "file:/source", url)); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		reportMedian(b, took)
	})
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

// runFFmpeg runs ffmpeg as the worker does, unconfined.
func runFFmpeg(ctx context.Context, args []string) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, stderr.Bytes())
	}
	return nil
}

func reportMedian(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(took[len(took)/2].Seconds(), "s/render")
	b.ReportMetric(0, "ns/op") // each run's time is the metric above
	b.Logf("runs: %v", took)
}
