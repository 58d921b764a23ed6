package eventschema

import (
	"time"

	"github.com/renderd/renderd/domain"
)

// allDomainEvents lists one zero value of every domain event. The test
// domain_event_list_matches_the_domain_package keeps it complete by reading
// the domain's source, so a new event cannot be added without a wire name,
// a schema and a golden file.
func allDomainEvents() []domain.Event {
	return []domain.Event{
		domain.AssetCreated{},
		domain.AssetSourceUploaded{},
		domain.AssetAudioUploaded{},
		domain.AssetProbed{},
		domain.AssetPaymentRequired{},
		domain.AssetCharged{},
		domain.AssetReady{},
		domain.AssetFailed{},
		domain.AssetPartRefused{},
		domain.AssetDeleted{},
		domain.CutRequested{},
		domain.CutCompleted{},
		domain.CutFailed{},
		domain.CutDeleted{},
		domain.RenderRequested{},
		domain.RenderStarted{},
		domain.RenderProgressed{},
		domain.RenderCompleted{},
		domain.RenderFailed{},
		domain.RenderCancelled{},
		domain.RenderRetried{},
		domain.RenderOutputExpired{},
		domain.RenderDeleted{},
	}
}

const (
	exampleAssetID  = "5c1e2a4b-8d7f-4e0a-9b3c-6f2d1e0a7b94"
	exampleCutID    = "a3f9c2d1-6b4e-4f8a-8c7d-2e1b0f9a3c55"
	exampleRenderID = "e7d4b1a2-3c5f-4a6e-9d8b-0f1c2e3a4b5d"
)

func exampleSegments() []domain.Segment {
	return []domain.Segment{
		{Start: 1500 * time.Millisecond, End: 9 * time.Second},
		{Start: 12250 * time.Millisecond, End: 47800 * time.Millisecond},
	}
}

// exampleEvents holds one realistic event per wire name, with every optional
// field populated where the domain allows it. Times are UTC and durations are
// whole microseconds, as the wire keeps them.
func exampleEvents() map[string]domain.Event {
	return map[string]domain.Event{
		AssetCreatedV1: domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "Interview with Dr. Okafor (raw, take 2).mov"},
		AssetSourceUploadedV1: domain.AssetSourceUploaded{
			BlobKey:   "assets/" + exampleAssetID + "/source",
			SizeBytes: 734_003_200,
		},
		AssetAudioUploadedV1: domain.AssetAudioUploaded{
			BlobKey:   "assets/" + exampleAssetID + "/audio",
			SizeBytes: 5_478_912,
		},
		AssetProbedV1: domain.AssetProbed{
			Part: domain.AssetPartSource,
			Media: domain.MediaInfo{
				Container:       "mov,mp4,m4a,3gp,3g2,mj2",
				Duration:        5*time.Minute + 42*time.Second + 115*time.Millisecond,
				SizeBytes:       734_003_200,
				HasVideo:        true,
				HasAudio:        true,
				VideoCodec:      "hevc",
				Width:           1080,
				Height:          1920,
				Rotation:        -90,
				FrameRate:       "30000/1001",
				PixelFormat:     "yuv420p10le",
				VideoBitrate:    16_843_000,
				AudioCodec:      "aac",
				AudioBitrate:    256_000,
				AudioChannels:   2,
				AudioSampleRate: 48_000,
			},
		},
		AssetPaymentRequiredV1: domain.AssetPaymentRequired{RequiredSeconds: 343, AvailableSeconds: 120},
		AssetChargedV1:         domain.AssetCharged{Seconds: 343, LedgerEntryID: "7b2e9f40-1c3d-4a5b-8e6f-9a0b1c2d3e4f"},
		AssetReadyV1:           domain.AssetReady{},
		AssetDeletedV1:         domain.AssetDeleted{},
		CutDeletedV1:           domain.CutDeleted{},
		RenderDeletedV1:        domain.RenderDeleted{},
		RenderOutputExpiredV1:  domain.RenderOutputExpired{Attempt: 1, BlobKey: "renders/" + exampleRenderID + "/attempt-1.mp4"},
		AssetFailedV1: domain.AssetFailed{
			Part:    domain.AssetPartAudio,
			Code:    "unsupported_media",
			Message: "no decodable audio stream in the uploaded file",
		},
		AssetPartRefusedV1: domain.AssetPartRefused{
			Part:    domain.AssetPartSource,
			Code:    "source_duration_mismatch",
			Message: "the uploaded source lasts 20.000 s but the audio lasts 1.000 s; upload a source of the same media",
		},
		CutRequestedV1: domain.CutRequested{AssetID: exampleAssetID, Segments: exampleSegments()},
		CutCompletedV1: domain.CutCompleted{Segments: exampleSegments(), Duration: 43050 * time.Millisecond},
		CutFailedV1: domain.CutFailed{
			Code:    "segments_out_of_range",
			Message: "segment 2 ends at 47.8s, after the asset ends at 42.0s",
		},
		RenderRequestedV1: domain.RenderRequested{
			AssetID: exampleAssetID,
			CutID:   exampleCutID,
			Output: domain.OutputSpec{
				Format:       domain.FormatMP4,
				Resolution:   domain.Resolution720p,
				VideoBitrate: 5,
				AudioBitrate: 192,
			},
			Plan: domain.RenderPlan{
				Width:        720,
				Height:       1280,
				VideoBitrate: 5_000_000,
				AudioBitrate: 192_000,
				Segments:     exampleSegments(),
				Duration:     43050 * time.Millisecond,
			},
			Signature: "sha256:9f2c4e1a7b3d5f60a8c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5",
			Replaces:  "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
		},
		RenderStartedV1: domain.RenderStarted{
			Attempt:    2,
			WorkerID:   "encoder-7f9c4d-2",
			LeaseUntil: time.Date(2025, 11, 27, 3, 41, 7, 250_000_000, time.UTC),
		},
		RenderProgressedV1: domain.RenderProgressed{
			Attempt:  2,
			Percent:  42,
			ETA:      12400 * time.Millisecond,
			Position: 18081 * time.Millisecond,
		},
		RenderCompletedV1: domain.RenderCompleted{
			Attempt:      2,
			BlobKey:      "renders/" + exampleRenderID + "/output.mp4",
			SizeBytes:    27_398_112,
			Duration:     43076 * time.Millisecond,
			Width:        720,
			Height:       1280,
			VideoBitrate: 4_981_233,
			AudioBitrate: 191_874,
			EncodeTime:   21337 * time.Millisecond,
			FastPath:     false,
		},
		RenderFailedV1: domain.RenderFailed{
			Attempt:   3,
			Code:      "encode_failed",
			Message:   "ffmpeg exited with status 1 <no output written>",
			Retryable: true,
		},
		RenderCancelledV1: domain.RenderCancelled{Attempt: 1},
		RenderRetriedV1:   domain.RenderRetried{Attempt: 3, Reason: "lease_expired"},
	}
}

// exampleRecorded is a fully populated recorded event for the CloudEvents
// tests.
func exampleRecorded() domain.Recorded {
	return domain.Recorded{
		ID:            "0b5e6f0e-2a1d-4c3b-9e8f-7a6b5c4d3e2f",
		StreamID:      exampleRenderID,
		StreamType:    domain.AggregateRender,
		StreamVersion: 4,
		Position:      918_273,
		Metadata: domain.Metadata{
			AccountID:     "acc_3d9f1b27",
			CorrelationID: "req_01JDX6Q4M3ZC9T8B7A6V5N4K2H",
			CausationID:   "6c5d4e3f-2a1b-4c0d-9e8f-1a2b3c4d5e6f",
			OccurredAt:    time.Date(2025, 11, 27, 3, 40, 12, 345_678_000, time.UTC),
		},
		Event: exampleEvents()[RenderCompletedV1],
	}
}
