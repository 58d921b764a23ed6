package eventschema

import "github.com/renderd/renderd/domain"

// asset.created.v1
type assetCreatedV1 struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func assetCreatedToWire(e domain.AssetCreated) assetCreatedV1 {
	return assetCreatedV1{Kind: string(e.Kind), Name: e.Name}
}

func (w assetCreatedV1) toDomain() (domain.Event, error) {
	return domain.AssetCreated{Kind: domain.AssetKind(w.Kind), Name: w.Name}, nil
}

// asset.source_uploaded.v1
type assetSourceUploadedV1 struct {
	BlobKey   string `json:"blob_key"`
	SizeBytes int64  `json:"size_bytes"`
}

func assetSourceUploadedToWire(e domain.AssetSourceUploaded) assetSourceUploadedV1 {
	return assetSourceUploadedV1{BlobKey: e.BlobKey, SizeBytes: e.SizeBytes}
}

func (w assetSourceUploadedV1) toDomain() (domain.Event, error) {
	return domain.AssetSourceUploaded{BlobKey: w.BlobKey, SizeBytes: w.SizeBytes}, nil
}

// asset.audio_uploaded.v1
type assetAudioUploadedV1 struct {
	BlobKey   string `json:"blob_key"`
	SizeBytes int64  `json:"size_bytes"`
}

func assetAudioUploadedToWire(e domain.AssetAudioUploaded) assetAudioUploadedV1 {
	return assetAudioUploadedV1{BlobKey: e.BlobKey, SizeBytes: e.SizeBytes}
}

func (w assetAudioUploadedV1) toDomain() (domain.Event, error) {
	return domain.AssetAudioUploaded{BlobKey: w.BlobKey, SizeBytes: w.SizeBytes}, nil
}

// asset.probed.v1
type assetProbedV1 struct {
	Part  string      `json:"part"`
	Media mediaInfoV1 `json:"media"`
}

// mediaInfoV1 omits the fields ffprobe may not know (zero means unknown in
// the domain), so consumers never mistake "unknown" for a measured zero.
type mediaInfoV1 struct {
	Container         string  `json:"container"`
	DurationSeconds   float64 `json:"duration_seconds"`
	SizeBytes         int64   `json:"size_bytes"`
	HasVideo          bool    `json:"has_video"`
	HasAudio          bool    `json:"has_audio"`
	VideoCodec        string  `json:"video_codec,omitempty"`
	Width             int     `json:"width,omitempty"`
	Height            int     `json:"height,omitempty"`
	RotationDegrees   int     `json:"rotation_degrees,omitempty"`
	FrameRate         string  `json:"frame_rate,omitempty"`
	PixelFormat       string  `json:"pixel_format,omitempty"`
	VideoBitrateBPS   int64   `json:"video_bitrate_bps,omitempty"`
	AudioCodec        string  `json:"audio_codec,omitempty"`
	AudioBitrateBPS   int64   `json:"audio_bitrate_bps,omitempty"`
	AudioChannels     int     `json:"audio_channels,omitempty"`
	AudioSampleRateHz int     `json:"audio_sample_rate_hz,omitempty"`
}

func assetProbedToWire(e domain.AssetProbed) assetProbedV1 {
	m := e.Media
	return assetProbedV1{
		Part: string(e.Part),
		Media: mediaInfoV1{
			Container:         m.Container,
			DurationSeconds:   secondsFromDuration(m.Duration),
			SizeBytes:         m.SizeBytes,
			HasVideo:          m.HasVideo,
			HasAudio:          m.HasAudio,
			VideoCodec:        m.VideoCodec,
			Width:             m.Width,
			Height:            m.Height,
			RotationDegrees:   m.Rotation,
			FrameRate:         m.FrameRate,
			PixelFormat:       m.PixelFormat,
			VideoBitrateBPS:   m.VideoBitrate,
			AudioCodec:        m.AudioCodec,
			AudioBitrateBPS:   m.AudioBitrate,
			AudioChannels:     m.AudioChannels,
			AudioSampleRateHz: m.AudioSampleRate,
		},
	}
}

func (w assetProbedV1) toDomain() (domain.Event, error) {
	m := w.Media
	duration, err := durationFromSeconds("media.duration_seconds", m.DurationSeconds)
	if err != nil {
		return nil, err
	}
	return domain.AssetProbed{
		Part: domain.AssetPart(w.Part),
		Media: domain.MediaInfo{
			Container:       m.Container,
			Duration:        duration,
			SizeBytes:       m.SizeBytes,
			HasVideo:        m.HasVideo,
			HasAudio:        m.HasAudio,
			VideoCodec:      m.VideoCodec,
			Width:           m.Width,
			Height:          m.Height,
			Rotation:        m.RotationDegrees,
			FrameRate:       m.FrameRate,
			PixelFormat:     m.PixelFormat,
			VideoBitrate:    m.VideoBitrateBPS,
			AudioCodec:      m.AudioCodec,
			AudioBitrate:    m.AudioBitrateBPS,
			AudioChannels:   m.AudioChannels,
			AudioSampleRate: m.AudioSampleRateHz,
		},
	}, nil
}

// asset.payment_required.v1
type assetPaymentRequiredV1 struct {
	RequiredSeconds  int64 `json:"required_seconds"`
	AvailableSeconds int64 `json:"available_seconds"`
}

func assetPaymentRequiredToWire(e domain.AssetPaymentRequired) assetPaymentRequiredV1 {
	return assetPaymentRequiredV1{RequiredSeconds: e.RequiredSeconds, AvailableSeconds: e.AvailableSeconds}
}

func (w assetPaymentRequiredV1) toDomain() (domain.Event, error) {
	return domain.AssetPaymentRequired{RequiredSeconds: w.RequiredSeconds, AvailableSeconds: w.AvailableSeconds}, nil
}

// asset.charged.v1
type assetChargedV1 struct {
	Seconds       int64  `json:"seconds"`
	LedgerEntryID string `json:"ledger_entry_id"`
}

func assetChargedToWire(e domain.AssetCharged) assetChargedV1 {
	return assetChargedV1{Seconds: e.Seconds, LedgerEntryID: e.LedgerEntryID}
}

func (w assetChargedV1) toDomain() (domain.Event, error) {
	return domain.AssetCharged{Seconds: w.Seconds, LedgerEntryID: w.LedgerEntryID}, nil
}

// asset.ready.v1 carries no data: the metadata says which asset and when.
type assetReadyV1 struct{}

func assetReadyToWire(domain.AssetReady) assetReadyV1 { return assetReadyV1{} }

func (assetReadyV1) toDomain() (domain.Event, error) { return domain.AssetReady{}, nil }

// asset.failed.v1
type assetFailedV1 struct {
	Part    string `json:"part,omitempty"` // omitted when the failure is not tied to one part
	Code    string `json:"code"`
	Message string `json:"message"`
}

func assetFailedToWire(e domain.AssetFailed) assetFailedV1 {
	return assetFailedV1{Part: string(e.Part), Code: e.Code, Message: e.Message}
}

func (w assetFailedV1) toDomain() (domain.Event, error) {
	return domain.AssetFailed{Part: domain.AssetPart(w.Part), Code: w.Code, Message: w.Message}, nil
}

// asset.part_refused.v1
type assetPartRefusedV1 struct {
	Part    string `json:"part"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func assetPartRefusedToWire(e domain.AssetPartRefused) assetPartRefusedV1 {
	return assetPartRefusedV1{Part: string(e.Part), Code: e.Code, Message: e.Message}
}

func (w assetPartRefusedV1) toDomain() (domain.Event, error) {
	return domain.AssetPartRefused{Part: domain.AssetPart(w.Part), Code: w.Code, Message: w.Message}, nil
}

// asset.deleted.v1: no data; the CloudEvents attributes name the asset.
type assetDeletedV1 struct{}

func (assetDeletedV1) toDomain() (domain.Event, error) { return domain.AssetDeleted{}, nil }
