package commands

import (
	"context"
	"time"

	"github.com/renderd/renderd/domain"
)

// MediaQueue is the media workers' durable work list: the probes of
// uploaded parts and the silence detections of automatic cuts, changed in
// the same transaction as the events that make or settle the work. A Kafka
// message is only a hint to claim now; the workers claim from this list
// (fair across accounts), hold a lease while a job runs, and a job whose
// worker vanished is claimed again. Every write is a held write (Tx).
type MediaQueue interface {
	// QueueMediaJob adds a job; a job with the same id that is queued
	// already stays as it is.
	QueueMediaJob(ctx context.Context, job MediaJob) error
	// FinishMediaJob removes a job: its work is decided.
	FinishMediaJob(ctx context.Context, jobID string) error
	// ParkMediaJob ends a job's claim without counting it as an attempt
	// and leaves the job waiting for its asset (WakeMediaJobs).
	ParkMediaJob(ctx context.Context, jobID string) error
	// WakeMediaJobs makes the asset's waiting jobs claimable: the asset
	// became cuttable (or failed). The transaction holds the asset's lock,
	// as every transaction that parks or queues a waiting job of it does,
	// so a job cannot be parked after the wake that was meant for it.
	WakeMediaJobs(ctx context.Context, assetID string) error
}

// MediaJobKind is what a media job runs.
type MediaJobKind string

const (
	MediaJobProbe   MediaJobKind = "probe"   // ffprobe of an uploaded part (ProbeAsset)
	MediaJobSilence MediaJobKind = "silence" // silencedetect of an automatic cut (CompleteCut)
)

// MediaJobState is where a job is in the MediaQueue.
type MediaJobState string

const (
	MediaJobPending MediaJobState = "pending" // claimable
	MediaJobRunning MediaJobState = "running" // claimed: a worker holds its lease
	MediaJobWaiting MediaJobState = "waiting" // an automatic cut's, until its asset is cuttable
)

// MediaJob is one job of the MediaQueue.
type MediaJob struct {
	JobID     string // ProbeJobID or SilenceJobID
	Kind      MediaJobKind
	AccountID string
	AssetID   string
	CutID     string           // silence jobs
	Part      domain.AssetPart // probe jobs
	State     MediaJobState
	// Attempts counts the claims that did not end by the job's own
	// command or a hand-back: the running one, and those whose worker
	// vanished (its lease ran out).
	Attempts int
	WorkerID string    // running only
	Since    time.Time // when the job was queued
	// CorrelationID and CausationID are those of the events the job's
	// command appends: the request's correlation id, and the event that
	// queued the job (the upload, the cut request).
	CorrelationID string
	CausationID   string
}

// ProbeJobID is the id of the job that probes an asset's part. A part
// uploaded again after a refusal reuses it: the refusal finished the job.
func ProbeJobID(assetID string, part domain.AssetPart) string {
	return "probe:" + assetID + ":" + string(part)
}

// SilenceJobID is the id of the job that detects an automatic cut's
// silences.
func SilenceJobID(cutID string) string { return "silence:" + cutID }

// probeJob is the probe of a part that w uploaded.
func probeJob(a *domain.Asset, part domain.AssetPart, c Caller, w Written, now time.Time) MediaJob {
	return MediaJob{JobID: ProbeJobID(a.ID(), part), Kind: MediaJobProbe, AccountID: a.AccountID(), AssetID: a.ID(),
		Part: part, State: MediaJobPending, Since: now, CorrelationID: c.CorrelationID, CausationID: lastEventID(w)}
}

// silenceJob is the job of an automatic cut that w requested: claimable
// once its asset is cuttable, waiting until then.
func silenceJob(cut *domain.Cut, cuttable bool, c Caller, w Written, now time.Time) MediaJob {
	state := MediaJobWaiting
	if cuttable {
		state = MediaJobPending
	}
	return MediaJob{JobID: SilenceJobID(cut.ID()), Kind: MediaJobSilence, AccountID: cut.AccountID(), AssetID: cut.AssetID(),
		CutID: cut.ID(), State: state, Since: now, CorrelationID: c.CorrelationID, CausationID: lastEventID(w)}
}

func lastEventID(w Written) string {
	if len(w.Events) == 0 {
		return ""
	}
	return w.Events[len(w.Events)-1].ID
}
