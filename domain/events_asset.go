package domain

import "time"

// AssetKind is what the client declared the source to be.
type AssetKind string

const (
	AssetKindVideo AssetKind = "video"
	AssetKindAudio AssetKind = "audio"
)

// AssetPart is one uploaded part of an asset: the source itself, or the audio
// a client extracted from a video source before uploading the video.
type AssetPart string

const (
	AssetPartSource AssetPart = "source"
	AssetPartAudio  AssetPart = "audio"
)

// MediaInfo is what ffprobe found in one uploaded part. Width and Height are
// the displayed size, after rotation metadata. Bitrates are bits per second;
// zero means unknown.
type MediaInfo struct {
	Container       string
	Duration        time.Duration
	SizeBytes       int64
	HasVideo        bool
	HasAudio        bool
	VideoCodec      string
	Width           int
	Height          int
	Rotation        int // degrees, as found in the display matrix
	FrameRate       string
	PixelFormat     string
	VideoBitrate    int64
	AudioCodec      string
	AudioBitrate    int64
	AudioChannels   int
	AudioSampleRate int
}

// AssetCreated opens an asset's stream.
type AssetCreated struct {
	Kind AssetKind
	Name string
}

// AssetSourceUploaded records that the source media arrived in the blob store.
type AssetSourceUploaded struct {
	BlobKey   string
	SizeBytes int64
}

// AssetAudioUploaded records that client-extracted audio of a video arrived.
type AssetAudioUploaded struct {
	BlobKey   string
	SizeBytes int64
}

// AssetProbed records what ffprobe found in one part.
type AssetProbed struct {
	Part  AssetPart
	Media MediaInfo
}

// AssetPaymentRequired records that the account lacked the credits to process
// the asset; processing resumes once credits are granted.
type AssetPaymentRequired struct {
	RequiredSeconds  int64
	AvailableSeconds int64
}

// AssetCharged records the debit of the asset's duration from the account.
type AssetCharged struct {
	Seconds       int64
	LedgerEntryID string
}

// AssetReady records that the full source is processed and paid for.
type AssetReady struct{}

// AssetPartRefused records that an uploaded part cannot serve the asset
// beside the part it already has (their durations disagree): the part is
// dropped, the asset keeps what it had, and the client may upload the part
// again.
type AssetPartRefused struct {
	Part    AssetPart
	Code    string
	Message string
}

// AssetDeleted records that the account deleted the asset, and with it
// everything derived from it (its cuts and renders, each deleted on its own
// stream in the same transaction). It carries nothing: the deletion keeps
// only ids in the log (docs/events.md, "Erasure").
type AssetDeleted struct{}

// AssetFailed records that the asset cannot be processed.
type AssetFailed struct {
	Part    AssetPart
	Code    string
	Message string
}

func (AssetCreated) AggregateType() AggregateType         { return AggregateAsset }
func (AssetSourceUploaded) AggregateType() AggregateType  { return AggregateAsset }
func (AssetAudioUploaded) AggregateType() AggregateType   { return AggregateAsset }
func (AssetProbed) AggregateType() AggregateType          { return AggregateAsset }
func (AssetPaymentRequired) AggregateType() AggregateType { return AggregateAsset }
func (AssetCharged) AggregateType() AggregateType         { return AggregateAsset }
func (AssetReady) AggregateType() AggregateType           { return AggregateAsset }
func (AssetPartRefused) AggregateType() AggregateType     { return AggregateAsset }
func (AssetFailed) AggregateType() AggregateType          { return AggregateAsset }
func (AssetDeleted) AggregateType() AggregateType         { return AggregateAsset }

func (AssetCreated) isEvent()         {}
func (AssetSourceUploaded) isEvent()  {}
func (AssetAudioUploaded) isEvent()   {}
func (AssetProbed) isEvent()          {}
func (AssetPaymentRequired) isEvent() {}
func (AssetCharged) isEvent()         {}
func (AssetReady) isEvent()           {}
func (AssetPartRefused) isEvent()     {}
func (AssetFailed) isEvent()          {}
func (AssetDeleted) isEvent()         {}
