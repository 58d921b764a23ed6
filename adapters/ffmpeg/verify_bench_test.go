package ffmpeg

import (
	"context"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
)

// BenchmarkVerify compares Verify's Go reader with the former ffprobe check
// on two renders of a 30 s 1080p source made as the worker makes them
// (encoders.BuildCommand): an mp4 at 720p and an m4a. docs/renders.md
// ("How an output is verified") has the figures.
func BenchmarkVerify(b *testing.B) {
	ffmpegBin := mediatest.FFmpeg(b)
	prober := NewProber(mediatest.FFprobe(b), time.Minute, Limits{})
	src := mediatest.Generate(b, "source_1080p_30s.mp4",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-c:a", "aac", "-b:a", "128k", "-ac", "2")
	media, err := prober.Probe(context.Background(), src)
	if err != nil {
		b.Fatal(err)
	}
	encoder := NewEncoder(ffmpegBin, 0, EncodeLimits{}, prober)
	for _, spec := range []string{"mp4@720p", "m4a"} {
		out, want := render(b, ffmpegBin, prober, src, media, spec, nil)
		b.Run(spec+"/go", func(b *testing.B) {
			for b.Loop() {
				if _, err := encoder.Verify(context.Background(), out, want); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(spec+"/ffprobe", func(b *testing.B) {
			for b.Loop() {
				if _, err := ffprobeVerify(context.Background(), prober, out, want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
