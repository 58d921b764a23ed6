package domain

import (
	"fmt"
	"time"
)

// AssetState is where an asset is in its lifecycle.
type AssetState string

const (
	AssetStateUploading       AssetState = "uploading"
	AssetStateProcessing      AssetState = "processing"
	AssetStatePaymentRequired AssetState = "payment_required"
	AssetStateReady           AssetState = "ready"
	AssetStateFailed          AssetState = "failed"
)

// Asset is a source a client uploads: a video or an audio file, and for a
// video optionally its audio extracted client-side, which makes the asset
// cuttable (and audio-renderable) before the video has arrived.
//
// Processing a part means probing it. The source and the client-extracted
// audio describe the same media: the second part probed must last as long
// as the first (DurationTolerance), or it is refused and the asset keeps
// what it had. The asset is charged for the longer of its probed parts,
// rounded up to the second: the first part's duration, then the difference
// if the second is longer. An asset whose account lacks the credits waits in
// payment_required until charged.
type Asset struct {
	id        string
	accountID string
	kind      AssetKind
	name      string
	createdAt time.Time
	version   int64

	source, audio partState
	// charged is the seconds debited so far; waived, what an asset made
	// ready before billing covered both parts was never charged (see apply
	// of AssetReady).
	charged, waived int64
	paymentDue      bool
	ready           bool
	failure         *Failure
	refusal         *Refusal
	deleted         bool

	changes []Event
}

// Refusal says why an uploaded part was refused; it stays until that part
// is uploaded again.
type Refusal struct {
	Part    AssetPart
	Code    string
	Message string
}

// DurationTolerance is how far the durations of the source and the
// client-extracted audio may differ: half a second, or 1 % of the longer
// one for media longer than 50 s (containers round and pad differently,
// and AAC primes a few frames).
func DurationTolerance(a, b time.Duration) time.Duration {
	return max(500*time.Millisecond, max(a, b)/100)
}

// SourceLimits bound what a probed part may be; beyond them the asset fails
// with source_too_large. Zero fields are no limit. The edges are of the
// displayed picture, orientation-free: a vertical 2304×4096 source fits
// 4096×2304.
type SourceLimits struct {
	MaxLongEdge, MaxShortEdge int
	MaxFrameRate              float64
	MaxDuration               time.Duration
}

// exceeded names the first limit m breaks, or "".
func (l SourceLimits) exceeded(m MediaInfo) string {
	if l.MaxDuration > 0 && m.Duration > l.MaxDuration {
		return fmt.Sprintf("it lasts %s; the limit is %s", roundDuration(m.Duration), l.MaxDuration)
	}
	if !m.HasVideo {
		return ""
	}
	long, short := max(m.Width, m.Height), min(m.Width, m.Height)
	if (l.MaxLongEdge > 0 && long > l.MaxLongEdge) || (l.MaxShortEdge > 0 && short > l.MaxShortEdge) {
		return fmt.Sprintf("its picture is %d×%d; the limit is %d×%d", m.Width, m.Height, l.MaxLongEdge, l.MaxShortEdge)
	}
	if fps, ok := frameRateValue(m.FrameRate); ok && l.MaxFrameRate > 0 && fps > l.MaxFrameRate {
		return fmt.Sprintf("it plays %.3g frames per second; the limit is %g", fps, l.MaxFrameRate)
	}
	return ""
}

// frameRateValue reads a "num/den" frame rate (MediaInfo.FrameRate).
func frameRateValue(r string) (float64, bool) {
	var num, den int64
	if n, err := fmt.Sscanf(r, "%d/%d", &num, &den); err != nil || n != 2 || num <= 0 || den <= 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

func roundDuration(d time.Duration) time.Duration { return d.Round(time.Second) }

type partState struct {
	uploaded bool
	blobKey  string
	size     int64 // bytes stored
	probed   bool
	media    MediaInfo
	// dropped: the asset failed on this part, whose blob was deleted and
	// its bytes given back then.
	dropped bool
}

// Failure says why something failed, with a stable code.
type Failure struct {
	Code    string
	Message string
}

// CreateAsset starts a new asset.
func CreateAsset(id, accountID string, kind AssetKind, name string, now time.Time) (*Asset, error) {
	if kind != AssetKindVideo && kind != AssetKindAudio {
		return nil, Invalid("kind", "must be video or audio")
	}
	if len(name) > 255 {
		return nil, Invalid("name", "must be at most 255 bytes")
	}
	a := &Asset{id: id, accountID: accountID}
	a.record(AssetCreated{Kind: kind, Name: name}, now)
	return a, nil
}

// RebuildAsset replays an asset's history. It is the only way to load one.
func RebuildAsset(history []Recorded) (*Asset, error) {
	if len(history) == 0 {
		return nil, fmt.Errorf("asset: %w", ErrNotFound)
	}
	a := &Asset{id: history[0].StreamID, accountID: history[0].AccountID}
	for _, r := range history {
		if err := a.apply(r.Event, r.OccurredAt); err != nil {
			return nil, fmt.Errorf("asset %s v%d: %w", a.id, r.StreamVersion, err)
		}
		a.version = r.StreamVersion
	}
	return a, nil
}

func (a *Asset) ID() string            { return a.id }
func (a *Asset) AccountID() string     { return a.accountID }
func (a *Asset) Kind() AssetKind       { return a.kind }
func (a *Asset) Version() int64        { return a.version }
func (a *Asset) Failure() *Failure     { return a.failure }
func (a *Asset) Changes() []Event      { return a.changes }
func (a *Asset) SourceUploaded() bool  { return a.source.uploaded }
func (a *Asset) AudioUploaded() bool   { return a.audio.uploaded }
func (a *Asset) Charged() bool         { return a.charged > 0 }
func (a *Asset) ChargedSeconds() int64 { return a.charged }
func (a *Asset) Refusal() *Refusal     { return a.refusal }
func (a *Asset) CreatedAt() time.Time  { return a.createdAt }
func (a *Asset) SourceBlobKey() string { return a.source.blobKey }
func (a *Asset) AudioBlobKey() string  { return a.audio.blobKey }

// Deleted reports whether the account deleted the asset.
func (a *Asset) Deleted() bool { return a.deleted }

// Delete records that the account deleted the asset. Deleting a deleted
// asset changes nothing: the request is idempotent.
func (a *Asset) Delete(now time.Time) {
	if !a.deleted {
		a.record(AssetDeleted{}, now)
	}
}

// StoredBytes is what the asset's uploaded parts count against its
// account's storage.
func (a *Asset) StoredBytes() int64 {
	var n int64
	for _, p := range []*partState{&a.source, &a.audio} {
		if !p.dropped {
			n += p.size
		}
	}
	return n
}

// PartBlob is where an uploaded part is stored and its size in bytes.
func (a *Asset) PartBlob(p AssetPart) (key string, size int64) {
	if s := a.part(p); s != nil {
		return s.blobKey, s.size
	}
	return "", 0
}

// State is the asset's lifecycle state.
func (a *Asset) State() AssetState {
	switch {
	case a.failure != nil:
		return AssetStateFailed
	case a.paymentDue:
		return AssetStatePaymentRequired
	case a.ready:
		return AssetStateReady
	case a.source.uploaded:
		return AssetStateProcessing
	default:
		return AssetStateUploading
	}
}

// Cuttable reports whether the asset's audio (or, for a video without any
// audio, its timeline) is processed and paid for: cuts can complete and
// audio renders can start.
func (a *Asset) Cuttable() bool {
	m, ok := a.AudioMedia()
	return ok && a.failure == nil && a.paidFor(m.Duration)
}

// paidFor reports whether the charges so far cover media lasting d.
func (a *Asset) paidFor(d time.Duration) bool {
	return a.charged > 0 && ceilSeconds(d) <= a.charged+a.waived
}

// Media returns what was probed of the source, if it was.
func (a *Asset) Media() (MediaInfo, bool) { return a.source.media, a.source.probed }

// AudioMedia returns the probed audio a cut or audio render reads: the
// client-extracted audio if there is one, else the source's. A source paid
// for goes before client audio still waiting for the top-up of its extra
// seconds, so an asset that was cuttable stays so.
func (a *Asset) AudioMedia() (MediaInfo, bool) {
	p := a.audioPart()
	return p.media, p.probed
}

// AudioSource returns the blob and probe that AudioMedia describes: the
// file an audio render or a cut reads.
func (a *Asset) AudioSource() (blobKey string, media MediaInfo, ok bool) {
	p := a.audioPart()
	return p.blobKey, p.media, p.probed
}

func (a *Asset) audioPart() *partState {
	switch {
	case a.audio.probed && a.paidFor(a.audio.media.Duration):
		return &a.audio
	case a.source.probed && a.paidFor(a.source.media.Duration):
		return &a.source
	case a.audio.probed:
		return &a.audio
	}
	return &a.source
}

// Duration is the duration of the probed timeline, zero until probed.
func (a *Asset) Duration() time.Duration {
	if m, ok := a.AudioMedia(); ok {
		return m.Duration
	}
	return 0
}

// UploadSource records that the source media is in the blob store.
func (a *Asset) UploadSource(blobKey string, size int64, now time.Time) error {
	if a.failure != nil {
		return Conflict("asset_failed", "the asset failed: %s", a.failure.Message)
	}
	if a.source.uploaded {
		return Conflict("source_already_uploaded", "the source of this asset was already uploaded")
	}
	a.record(AssetSourceUploaded{BlobKey: blobKey, SizeBytes: size}, now)
	return nil
}

// UploadAudio records client-extracted audio of a video asset.
func (a *Asset) UploadAudio(blobKey string, size int64, now time.Time) error {
	switch {
	case a.kind != AssetKindVideo:
		return Conflict("audio_not_applicable", "only a video asset takes a separately uploaded audio track")
	case a.failure != nil:
		return Conflict("asset_failed", "the asset failed: %s", a.failure.Message)
	case a.audio.uploaded:
		return Conflict("audio_already_uploaded", "the audio of this asset was already uploaded")
	case a.source.probed:
		return Conflict("source_already_processed", "the source is processed already; its audio is used")
	}
	a.record(AssetAudioUploaded{BlobKey: blobKey, SizeBytes: size}, now)
	return nil
}

// RecordProbe records what probing a part found. A part beyond limits, or
// one that cannot serve the asset (a video asset's source without video,
// audio without audio), fails the asset; a part whose duration disagrees
// with the part probed before it is refused instead (the asset keeps that
// one). The caller charges the asset afterwards if NeedsCharge.
func (a *Asset) RecordProbe(part AssetPart, media MediaInfo, limits SourceLimits, now time.Time) error {
	p := a.part(part)
	if p == nil || !p.uploaded {
		return fmt.Errorf("probe of %s: %w", part, Conflict("part_not_uploaded", "no %s was uploaded", part))
	}
	if p.probed || a.failure != nil {
		return nil // a redelivered probe: already decided
	}
	if why := limits.exceeded(media); why != "" {
		a.record(AssetFailed{Part: part, Code: FailureSourceTooLarge, Message: "the uploaded " + string(part) + " is too large: " + why}, now)
		return nil
	}
	if other := a.otherPart(part); other.probed {
		if d, o := media.Duration, other.media.Duration; absDuration(d-o) > DurationTolerance(d, o) {
			a.record(AssetPartRefused{Part: part, Code: RefusalDurationMismatch, Message: fmt.Sprintf(
				"the uploaded %s lasts %.3f s but the %s lasts %.3f s; upload a %s of the same media",
				part, d.Seconds(), otherPartName(part), o.Seconds(), part)}, now)
			return nil
		}
	}
	a.record(AssetProbed{Part: part, Media: media}, now)
	switch {
	case a.kind == AssetKindVideo && part == AssetPartSource && !media.HasVideo:
		a.record(AssetFailed{Part: part, Code: FailureNoVideoStream, Message: "the uploaded source has no video stream"}, now)
	case (a.kind == AssetKindAudio || part == AssetPartAudio) && !media.HasAudio:
		a.record(AssetFailed{Part: part, Code: FailureNoAudioStream, Message: "the uploaded " + string(part) + " has no audio stream"}, now)
	default:
		a.readyIfSettled(now) // paid for already with the other part
	}
	return nil
}

func absDuration(d time.Duration) time.Duration { return max(d, -d) }

func (a *Asset) otherPart(p AssetPart) *partState {
	if p == AssetPartSource {
		return &a.audio
	}
	return &a.source
}

func otherPartName(p AssetPart) string {
	if p == AssetPartSource {
		return "audio"
	}
	return "source"
}

// readyIfSettled records that the asset is ready once its source is probed
// and every probed second is paid for.
func (a *Asset) readyIfSettled(now time.Time) {
	if _, due := a.NeedsCharge(); !a.ready && a.failure == nil && a.source.probed && !due {
		a.record(AssetReady{}, now)
	}
}

// FailProbe records that an uploaded part could not be probed at all. A
// part probed already (a repeated probe) or not uploaded changes nothing.
func (a *Asset) FailProbe(part AssetPart, code, message string, now time.Time) {
	if p := a.part(part); p != nil && p.uploaded && !p.probed && a.failure == nil {
		a.record(AssetFailed{Part: part, Code: code, Message: message}, now)
	}
}

// NeedsCharge reports whether probed media waits to be paid for, and how
// many seconds to charge: the longer probed part's duration rounded up to
// the second, less what was charged (or waived) before.
func (a *Asset) NeedsCharge() (seconds int64, ok bool) {
	if a.failure != nil {
		return 0, false
	}
	due := a.billable() - a.charged - a.waived
	return max(due, 0), due > 0
}

// billable is the seconds the asset's probed parts are charged for.
func (a *Asset) billable() int64 {
	var d time.Duration
	if a.source.probed {
		d = a.source.media.Duration
	}
	if a.audio.probed {
		d = max(d, a.audio.media.Duration)
	}
	return ceilSeconds(d)
}

// Charge records a debit of what NeedsCharge asked for.
func (a *Asset) Charge(seconds int64, ledgerEntryID string, now time.Time) error {
	if _, ok := a.NeedsCharge(); !ok {
		return Conflict("nothing_to_charge", "the asset has nothing waiting to be charged")
	}
	a.record(AssetCharged{Seconds: seconds, LedgerEntryID: ledgerEntryID}, now)
	a.readyIfSettled(now)
	return nil
}

// RequirePayment records that the account could not pay; recorded once per
// wait, not again on every retry.
func (a *Asset) RequirePayment(required, available int64, now time.Time) {
	if !a.paymentDue {
		a.record(AssetPaymentRequired{RequiredSeconds: required, AvailableSeconds: available}, now)
	}
}

func ceilSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

func (a *Asset) clearRefusal(p AssetPart) {
	if a.refusal != nil && a.refusal.Part == p {
		a.refusal = nil
	}
}

func (a *Asset) part(p AssetPart) *partState {
	switch p {
	case AssetPartSource:
		return &a.source
	case AssetPartAudio:
		return &a.audio
	}
	return nil
}

// record applies and keeps a new event. The events recorded in this file are
// valid by construction (their part is checked first), so apply cannot fail.
func (a *Asset) record(e Event, now time.Time) {
	_ = a.apply(e, now)
	a.version++
	a.changes = append(a.changes, e)
}

func (a *Asset) apply(e Event, at time.Time) error {
	switch e := e.(type) {
	case AssetCreated:
		a.kind, a.name, a.createdAt = e.Kind, e.Name, at
	case AssetSourceUploaded:
		a.source.uploaded, a.source.blobKey, a.source.size = true, e.BlobKey, e.SizeBytes
		a.clearRefusal(AssetPartSource)
	case AssetAudioUploaded:
		a.audio.uploaded, a.audio.blobKey, a.audio.size = true, e.BlobKey, e.SizeBytes
		a.clearRefusal(AssetPartAudio)
	case AssetProbed:
		p := a.part(e.Part)
		if p == nil {
			return fmt.Errorf("probe of unknown part %q", e.Part)
		}
		p.probed, p.media = true, e.Media
	case AssetPartRefused:
		p := a.part(e.Part)
		if p == nil {
			return fmt.Errorf("refusal of unknown part %q", e.Part)
		}
		*p = partState{}
		a.refusal = &Refusal{Part: e.Part, Code: e.Code, Message: e.Message}
	case AssetPaymentRequired:
		a.paymentDue = true
	case AssetCharged:
		a.charged += e.Seconds
		a.paymentDue = false
	case AssetReady:
		// Before a second part's duration was billed, an asset became ready
		// once its first part was paid for: what it did not pay then is
		// waived, never charged in hindsight. An asset made ready since has
		// nothing due at this point.
		a.ready = true
		a.waived = max(a.billable()-a.charged, 0)
	case AssetFailed:
		a.failure = &Failure{Code: e.Code, Message: e.Message}
		if p := a.part(e.Part); p != nil {
			p.dropped = true
		}
	case AssetDeleted:
		a.deleted = true
	default:
		return fmt.Errorf("not an asset event: %T", e)
	}
	return nil
}
