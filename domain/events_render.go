package domain

import "time"

// Format is a deliverable's container and codec stack.
type Format string

const (
	FormatMP4 Format = "mp4"
	FormatMOV Format = "mov"
	FormatM4A Format = "m4a"
	FormatMP3 Format = "mp3"
)

// Resolution is an aspect-preserving tier on the shorter displayed edge.
type Resolution string

const (
	Resolution720p  Resolution = "720p"
	Resolution1080p Resolution = "1080p"
	Resolution4K    Resolution = "4k"
)

// OutputSpec is the output a client asked for. Zero values mean "omitted"
// (Auto for bitrates, source size for resolution).
type OutputSpec struct {
	Format       Format
	Resolution   Resolution
	VideoBitrate int // Mbps, on the ladder 5/10/20/50
	AudioBitrate int // kbps, on the ladder 128/192/256/320
}

// RenderPlan is the output resolved against the source: what the encoder
// produces. Width and Height are zero for audio formats; bitrates are bits per
// second; Segments is empty for a full-source render.
type RenderPlan struct {
	Width        int
	Height       int
	VideoBitrate int64
	AudioBitrate int64
	Segments     []Segment
	Duration     time.Duration
}

// RenderRequested opens a render's stream.
type RenderRequested struct {
	AssetID   string
	CutID     string // empty: the full source
	Output    OutputSpec
	Plan      RenderPlan
	Signature string // the content signature the render is idempotent on
	Replaces  string // the failed or cancelled render this one replaces
}

// RenderStarted records that a worker claimed an attempt under a lease.
type RenderStarted struct {
	Attempt    int
	WorkerID   string
	LeaseUntil time.Time
}

// RenderProgressed records encode progress within an attempt.
type RenderProgressed struct {
	Attempt  int
	Percent  int // 0-99; 100 is reached only by RenderCompleted
	ETA      time.Duration
	Position time.Duration // output time encoded so far
}

// RenderCompleted records the verified, committed deliverable.
type RenderCompleted struct {
	Attempt      int
	BlobKey      string
	SizeBytes    int64
	Duration     time.Duration
	Width        int
	Height       int
	VideoBitrate int64
	AudioBitrate int64
	EncodeTime   time.Duration
	FastPath     bool // remuxed without re-encoding
}

// RenderFailed records a terminal failure of the render.
type RenderFailed struct {
	Attempt   int
	Code      string
	Message   string
	Retryable bool
}

// RenderCancelled records that the client cancelled the render.
type RenderCancelled struct {
	Attempt int // the attempt running when cancelled; 0 if none started
}

// RenderRetried records that an attempt was abandoned (lost lease, graceful
// hand-back) and the render is pending again for attempt Attempt.
type RenderRetried struct {
	Attempt int
	Reason  string
}

// RenderOutputExpired records that a completed render's output passed the
// retention period and is removed from the blob store. The render stays
// completed; a new request with its signature replaces it.
type RenderOutputExpired struct {
	Attempt int    // the attempt whose output it was
	BlobKey string // the output removed
}

// RenderDeleted records that the render went with its deleted asset. An
// in-flight render is cancelled first (RenderCancelled), so its encoder
// stops as it does for a client's cancel.
type RenderDeleted struct{}

func (RenderRequested) AggregateType() AggregateType     { return AggregateRender }
func (RenderStarted) AggregateType() AggregateType       { return AggregateRender }
func (RenderProgressed) AggregateType() AggregateType    { return AggregateRender }
func (RenderCompleted) AggregateType() AggregateType     { return AggregateRender }
func (RenderFailed) AggregateType() AggregateType        { return AggregateRender }
func (RenderCancelled) AggregateType() AggregateType     { return AggregateRender }
func (RenderRetried) AggregateType() AggregateType       { return AggregateRender }
func (RenderOutputExpired) AggregateType() AggregateType { return AggregateRender }
func (RenderDeleted) AggregateType() AggregateType       { return AggregateRender }

func (RenderRequested) isEvent()     {}
func (RenderStarted) isEvent()       {}
func (RenderProgressed) isEvent()    {}
func (RenderCompleted) isEvent()     {}
func (RenderFailed) isEvent()        {}
func (RenderCancelled) isEvent()     {}
func (RenderRetried) isEvent()       {}
func (RenderOutputExpired) isEvent() {}
func (RenderDeleted) isEvent()       {}
