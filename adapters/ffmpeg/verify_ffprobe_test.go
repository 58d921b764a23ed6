package ffmpeg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// ffprobeOutput is what the former Verify read of an output by running
// ffprobe: the MediaInfo and the picked streams' durations, the reference
// the Go reader (outputmedia.go) is cross-checked against
// (verify_crosscheck_test.go) and benchmarked with.
func ffprobeOutput(ctx context.Context, p *Prober, path string) (outputMedia, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return outputMedia{}, &EncodeError{Code: domain.FailureOutputInvalid, Message: "ffmpeg wrote no output file", Err: err}
	}
	raw, err := p.probeJSON(ctx, path)
	if err != nil {
		return outputMedia{}, outputProbeFailure(err)
	}
	info, err := parseProbe(raw)
	if err != nil {
		return outputMedia{}, outputProbeFailure(err)
	}
	var out probeOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return outputMedia{}, fmt.Errorf("ffprobe output: %w", err)
	}
	got := outputMedia{info: info}
	video, audio, _ := pickStreams(out.Streams)
	if video != nil {
		got.videoDuration = streamDuration(*video)
	}
	if audio != nil {
		got.audioDuration = streamDuration(*audio)
	}
	return got, nil
}

// ffprobeVerify is the former Verify: ffprobe's view of the output under
// the same checks (outputProblems).
func ffprobeVerify(ctx context.Context, p *Prober, path string, want encoders.Expect) (domain.MediaInfo, error) {
	got, err := ffprobeOutput(ctx, p, path)
	if err != nil {
		return domain.MediaInfo{}, err
	}
	if problems := outputProblems(got.info, got.videoDuration, got.audioDuration, want); len(problems) > 0 {
		return domain.MediaInfo{}, &EncodeError{Code: domain.FailureOutputInvalid,
			Message: "the output does not match the plan: " + strings.Join(problems, "; ")}
	}
	return got.info, nil
}

// outputProbeFailure classifies a failed probe of an output: the output's
// fault is output_invalid, anything else stays the worker's.
func outputProbeFailure(err error) error {
	var pe *ProbeError
	if errors.As(err, &pe) {
		return &EncodeError{Code: domain.FailureOutputInvalid, Message: "the output cannot be probed: " + pe.Message, Err: err}
	}
	return err
}
