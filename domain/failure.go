package domain

import "strings"

// Failure codes say why an asset's part, an automatic cut or a render
// failed. They travel in asset.failed, asset.part_refused, cut.failed and
// render.failed events and in the API, so they are part of the public
// contract (docs/events.md): never rename one. The media adapter, the
// encoders and the cut's own plan checks report with these constants.
const (
	// FailureSourceUnreadable: the file is empty, corrupt or not media
	// ffmpeg can decode; for a render, its asset's input is gone.
	FailureSourceUnreadable = "source_unreadable"
	// FailureContainerNotAllowed: the file is a container outside the
	// media allowlist (a playlist, a concat list, an image, ...).
	FailureContainerNotAllowed = "container_not_allowed"
	// FailureCodecNotAllowed: a stream of the file (audio, video or
	// subtitles) is in a codec outside the media allowlist.
	FailureCodecNotAllowed = "codec_not_allowed"
	// FailureNoMediaStreams: the container holds no audio and no video
	// (cover art does not count).
	FailureNoMediaStreams = "no_media_streams"
	// FailureNoAudio: silence detection was asked of a file without audio.
	FailureNoAudio = "no_audio"
	// FailureNoVideoStream: a video asset's source has no video.
	FailureNoVideoStream = "no_video_stream"
	// FailureNoAudioStream: an audio asset's file, or a video's extracted
	// audio, has no audio.
	FailureNoAudioStream = "no_audio_stream"
	// FailureSourceTooLarge: the file is beyond the operator's limits
	// (picture size, frame rate, duration), or reading it needed more
	// memory than the media tools may map. Retrying cannot help.
	FailureSourceTooLarge = "source_too_large"
	// FailureMediaTimeout: ffprobe or ffmpeg ran past the media adapter's
	// own time limit.
	FailureMediaTimeout = "media_timeout"
	// FailureOutOfRange: a cut's segments end after its asset's real
	// duration.
	FailureOutOfRange = "segments_out_of_range"
	// FailureNothingKept: silence detection kept nothing of the asset.
	FailureNothingKept = "nothing_kept"
	// FailureMediaCrashed: working on the file (probing a part, detecting
	// a cut's silences) stopped the media worker MaxCrashedAttempts times.
	// It fails an asset's part as well as an automatic cut.
	FailureMediaCrashed = "media_crashed"
	// RefusalDurationMismatch: the video source and the client-extracted
	// audio describe the same media, so their durations must agree within
	// DurationTolerance (asset.part_refused).
	RefusalDurationMismatch = "source_duration_mismatch"

	// FailureEncodeFailed: ffmpeg exited with an error, or the pipeline
	// could not build its command.
	FailureEncodeFailed = "encode_failed"
	// FailureEncodeTimeout: the encode stalled or ran past its time limit.
	FailureEncodeTimeout = "timeout"
	// FailureOutputInvalid: ffmpeg finished, but its output is not what the
	// render planned.
	FailureOutputInvalid = "output_invalid"
	// FailureMemoryLimitExceeded: ffmpeg needed more memory than the cap
	// allows. The same source fails the same way on every attempt.
	FailureMemoryLimitExceeded = "memory_limit_exceeded"
	// FailureEncoderCrashed: MaxCrashedAttempts attempts of the render
	// lost their lease (LoseLease).
	FailureEncoderCrashed = "encoder_crashed"
)

// renderFailureMessages are the public messages of the render failure
// codes that have one of their own.
var renderFailureMessages = map[string]string{
	FailureSourceUnreadable: "the render failed: the source media could not be read",
	FailureEncodeFailed:     "the render failed: ffmpeg could not encode the source; a retry may succeed",
	FailureOutputInvalid:    "the render failed: the encoded file did not match the plan when verified",
	FailureEncodeTimeout:    "the render failed: encoding took longer than allowed for the media's duration",
	FailureEncoderCrashed:   "the render failed: the encoder stopped responding during three attempts",
}

// RenderFailureMessage is the message clients see for a render's failure
// code: its own for the codes above, else one spelled from the code.
//
// The encoder's own message is not shown: it is free text that may quote
// ffmpeg's stderr, and with it file paths and worker details
// (docs/renders.md, "What clients see of a failure"). Telling a harmless
// message from a leaking one after the fact is guesswork, so the message is
// derived from the code alone, which is the stable, public part.
func RenderFailureMessage(code string) string {
	if m, ok := renderFailureMessages[code]; ok {
		return m
	}
	if code == "" {
		return "the render failed"
	}
	return "the render failed: " + strings.ReplaceAll(code, "_", " ")
}
