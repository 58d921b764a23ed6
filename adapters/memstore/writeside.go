package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// writeSide holds the in-memory write-side tables. A transaction works on a
// copy and merges what it added back on commit; the stream locks a command
// holds (its asset, its account's ledger) keep concurrent copies from
// touching the same rows.
type writeSide struct {
	ledger   []entry
	awaiting []awaiting
	// cleared are the assets whose wait a transaction's debit ended.
	cleared    []string
	cuts       []indexedCut // in the order indexed
	signatures []signature
	jobs       map[string]commands.RenderJob
	// jobWrites are a transaction's writes to jobs, nil for a removal.
	jobWrites map[string]*commands.RenderJob
	// stored is what each account stores; storedDelta, a transaction's
	// changes to it.
	stored, storedDelta map[string]int64
	uploads             map[string]commands.UploadReservation // by asset/part
	uploadWrites        map[string]*commands.UploadReservation
	media               map[string]commands.MediaJob
	// mediaWrites are a transaction's writes to media, nil for a removal.
	mediaWrites map[string]*commands.MediaJob
	// removals are the queued blob removals (commands.Erasure), by key.
	removals map[string]string
	// redacted are the assets whose name a transaction erased.
	redacted []string
	next     int
}

// indexedCut is a cut's row in the cut index.
type indexedCut struct {
	asset, cut, account string
	auto, processing    bool
}

type entry struct {
	id, account, asset string
	delta              int64
}

type awaiting struct {
	account, asset string
	seconds        int64
}

func newWriteSide() writeSide {
	return writeSide{jobs: map[string]commands.RenderJob{}, media: map[string]commands.MediaJob{}, stored: map[string]int64{},
		uploads: map[string]commands.UploadReservation{}, removals: map[string]string{}}
}

func (w *writeSide) clone() *writeSide {
	return &writeSide{ledger: slices.Clone(w.ledger), awaiting: slices.Clone(w.awaiting), cuts: slices.Clone(w.cuts),
		signatures: slices.Clone(w.signatures), jobs: maps.Clone(w.jobs), jobWrites: map[string]*commands.RenderJob{},
		media: maps.Clone(w.media), mediaWrites: map[string]*commands.MediaJob{}, next: w.next,
		stored: maps.Clone(w.stored), storedDelta: map[string]int64{},
		uploads: maps.Clone(w.uploads), uploadWrites: map[string]*commands.UploadReservation{},
		removals: maps.Clone(w.removals)}
}

// merge applies what tx added (entries, waits, cut index rows) and removed
// (waits cleared by debits).
func (w *writeSide) merge(tx *writeSide) {
	for _, e := range tx.ledger {
		if !slices.ContainsFunc(w.ledger, func(x entry) bool { return x.id == e.id }) {
			w.ledger = append(w.ledger, e)
		}
	}
	w.awaiting = slices.DeleteFunc(w.awaiting, func(a awaiting) bool { return slices.Contains(tx.cleared, a.asset) })
	for _, a := range tx.awaiting {
		if !slices.ContainsFunc(w.awaiting, func(x awaiting) bool { return x.asset == a.asset }) {
			w.awaiting = append(w.awaiting, a)
		}
	}
	for _, c := range tx.cuts { // the cut's locks keep two transactions off one row
		if i := slices.IndexFunc(w.cuts, func(x indexedCut) bool { return x.cut == c.cut }); i >= 0 {
			w.cuts[i] = c
		} else {
			w.cuts = append(w.cuts, c)
		}
	}
	for _, sig := range tx.signatures {
		i := slices.IndexFunc(w.signatures, func(x signature) bool { return x.render == sig.render })
		if i < 0 {
			w.signatures = append(w.signatures, sig)
		} else {
			w.signatures[i].live = sig.live
		}
	}
	for id, j := range tx.jobWrites {
		if j == nil {
			delete(w.jobs, id)
		} else {
			w.jobs[id] = *j
		}
	}
	for acc, d := range tx.storedDelta {
		w.stored[acc] += d
	}
	for k, u := range tx.uploadWrites {
		if u == nil {
			delete(w.uploads, k)
		} else {
			w.uploads[k] = *u
		}
	}
	for id, j := range tx.mediaWrites {
		if j == nil {
			delete(w.media, id)
		} else {
			w.media[id] = *j
		}
	}
	maps.Copy(w.removals, tx.removals)
	w.next = max(w.next, tx.next)
}

func uploadKey(asset string, part domain.AssetPart) string { return asset + "/" + string(part) }

func (w *writeSide) StorageUsed(_ context.Context, account string, now time.Time) (int64, error) {
	used := w.stored[account]
	for _, u := range w.uploads {
		if u.AccountID == account && u.Expires.After(now) {
			used += u.Bytes
		}
	}
	return used, nil
}

// WillNeedStorageUsed does nothing: StorageUsed costs no round trip here.
func (w *writeSide) WillNeedStorageUsed(string, time.Time) {}

func (w *writeSide) ReserveUpload(_ context.Context, r commands.UploadReservation, now time.Time) ([]string, error) {
	if u, ok := w.uploads[uploadKey(r.AssetID, r.Part)]; ok && u.Expires.After(now) {
		return nil, commands.ErrUploadInProgress
	}
	var stale []string
	for k, u := range w.uploads {
		if u.AccountID == r.AccountID && !u.Expires.After(now) {
			stale = append(stale, u.BlobKey)
			delete(w.uploads, k)
			w.uploadWrites[k] = nil
		}
	}
	k := uploadKey(r.AssetID, r.Part)
	w.uploads[k] = r
	w.uploadWrites[k] = &r
	return stale, nil
}

func (w *writeSide) UploadInProgress(_ context.Context, asset string, part domain.AssetPart, now time.Time) (bool, error) {
	u, ok := w.uploads[uploadKey(asset, part)]
	return ok && u.Expires.After(now), nil
}

func (w *writeSide) EndUpload(_ context.Context, asset string, part domain.AssetPart) error {
	k := uploadKey(asset, part)
	delete(w.uploads, k)
	w.uploadWrites[k] = nil
	return nil
}

func (w *writeSide) ExtendUpload(_ context.Context, asset string, part domain.AssetPart, blobKey string, until time.Time) (bool, error) {
	k := uploadKey(asset, part)
	u, ok := w.uploads[k]
	if !ok || u.BlobKey != blobKey {
		return false, nil
	}
	u.Expires = until
	w.uploads[k] = u
	w.uploadWrites[k] = &u
	return true, nil
}

func (w *writeSide) AddStorage(_ context.Context, account string, delta int64) error {
	w.stored[account] += delta
	w.storedDelta[account] += delta
	return nil
}

func (w *writeSide) CreditBalance(_ context.Context, account string) (int64, error) {
	var sum int64
	for _, e := range w.ledger {
		if e.account == account {
			sum += e.delta
		}
	}
	return sum, nil
}

func (w *writeSide) add(account, asset string, delta int64) string {
	w.next++
	id := fmt.Sprintf("led_%d", w.next)
	w.ledger = append(w.ledger, entry{id: id, account: account, asset: asset, delta: delta})
	return id
}

func (w *writeSide) DebitCredits(_ context.Context, account, asset string, seconds int64) (string, error) {
	w.awaiting = slices.DeleteFunc(w.awaiting, func(a awaiting) bool { return a.asset == asset })
	w.cleared = append(w.cleared, asset)
	return w.add(account, asset, -seconds), nil
}

func (w *writeSide) GrantCredits(_ context.Context, account string, seconds int64) (string, error) {
	if seconds <= 0 {
		return "", domain.Invalid("seconds", "a grant must be positive")
	}
	return w.add(account, "", seconds), nil
}

func (w *writeSide) AwaitPayment(_ context.Context, account, asset string, seconds int64) error {
	if !slices.ContainsFunc(w.awaiting, func(a awaiting) bool { return a.asset == asset }) {
		w.awaiting = append(w.awaiting, awaiting{account: account, asset: asset, seconds: seconds})
	}
	return nil
}

func (w *writeSide) AwaitingPayment(_ context.Context, account string) ([]string, error) {
	var out []string
	for _, a := range w.awaiting {
		if a.account == account {
			out = append(out, a.asset)
		}
	}
	return out, nil
}

func (w *writeSide) IndexCut(_ context.Context, cut *domain.Cut) error {
	row := indexedCut{asset: cut.AssetID(), cut: cut.ID(), account: cut.AccountID(), auto: cut.Auto() != nil,
		processing: cut.State() == domain.CutStateProcessing && !cut.Deleted()}
	if i := slices.IndexFunc(w.cuts, func(x indexedCut) bool { return x.cut == row.cut }); i >= 0 {
		w.cuts[i].processing = row.processing
		return nil
	}
	w.cuts = append(w.cuts, row)
	return nil
}

func (w *writeSide) CutsInFlight(_ context.Context, asset string) ([]string, error) {
	var out []string
	for _, c := range w.cuts {
		if c.asset == asset && c.processing {
			out = append(out, c.cut)
		}
	}
	return out, nil
}

// CutsInFlight lists an asset's processing cuts for the media worker
// (encoders.InFlightCuts), holding the asset's stream lock as the Postgres
// store does.
func (s *Store) CutsInFlight(ctx context.Context, asset string) ([]string, error) {
	var cuts []string
	err := s.Transact(ctx, []string{asset}, func(ctx context.Context, tx commands.Tx) (err error) {
		cuts, err = tx.CutsInFlight(ctx, asset)
		return err
	})
	return cuts, err
}

func (w *writeSide) AutoCutsInFlight(_ context.Context, account string) (int, error) {
	n := 0
	for _, c := range w.cuts {
		if c.account == account && c.auto && c.processing {
			n++
		}
	}
	return n, nil
}

func (w *writeSide) setMedia(j commands.MediaJob) {
	w.media[j.JobID] = j
	w.mediaWrites[j.JobID] = &j
}

func (w *writeSide) QueueMediaJob(_ context.Context, j commands.MediaJob) error {
	if _, ok := w.media[j.JobID]; !ok {
		w.setMedia(j)
	}
	return nil
}

func (w *writeSide) FinishMediaJob(_ context.Context, id string) error {
	delete(w.media, id)
	w.mediaWrites[id] = nil
	return nil
}

func (w *writeSide) ParkMediaJob(_ context.Context, id string) error {
	j, ok := w.media[id]
	if !ok {
		return nil
	}
	if j.State == commands.MediaJobRunning {
		j.Attempts = max(j.Attempts-1, 0)
	}
	j.State, j.WorkerID = commands.MediaJobWaiting, ""
	w.setMedia(j)
	return nil
}

func (w *writeSide) WakeMediaJobs(_ context.Context, asset string) error {
	for _, j := range w.media {
		if j.AssetID == asset && j.State == commands.MediaJobWaiting {
			j.State = commands.MediaJobPending
			w.setMedia(j)
		}
	}
	return nil
}

type signature struct {
	account, signature, render string
	live                       bool
}

func (w *writeSide) NewestRender(_ context.Context, account, sig string) (string, bool, error) {
	newest := ""
	for _, s := range w.signatures {
		if s.account == account && s.signature == sig {
			if s.live {
				return s.render, true, nil
			}
			newest = s.render
		}
	}
	return newest, false, nil
}

// WillNeedNewestRender does nothing: NewestRender costs no round trip here.
func (w *writeSide) WillNeedNewestRender(string, string) {}

func (w *writeSide) ReserveSignature(ctx context.Context, account, sig, render string) error {
	if _, live, _ := w.NewestRender(ctx, account, sig); live {
		return domain.Conflict("signature_taken", "a live render with this signature exists")
	}
	w.signatures = append(w.signatures, signature{account: account, signature: sig, render: render, live: true})
	return nil
}

func (w *writeSide) ReleaseSignature(_ context.Context, render string) error {
	for i := range w.signatures {
		if w.signatures[i].render == render {
			w.signatures[i].live = false
		}
	}
	return nil
}

func (w *writeSide) SetRenderJob(_ context.Context, j commands.RenderJob) error {
	if j.State == domain.RenderStatePending || j.State == domain.RenderStateRunning {
		w.jobs[j.RenderID] = j
		w.jobWrites[j.RenderID] = &j
		return nil
	}
	delete(w.jobs, j.RenderID)
	w.jobWrites[j.RenderID] = nil
	return nil
}

// TakeRenderSlot counts the account's queued renders: the in-memory store
// serves tests, whose transactions do not race for the last place.
func (w *writeSide) TakeRenderSlot(_ context.Context, account, render string, max int) error {
	n := 0
	for id, j := range w.jobs {
		if j.AccountID == account && id != render {
			n++
		}
	}
	if n >= max {
		return commands.ErrQueueFull
	}
	return nil
}

func (w *writeSide) RunningRenders(_ context.Context, account string) (int, error) {
	n := 0
	for _, j := range w.jobs {
		if j.AccountID == account && j.State == domain.RenderStateRunning {
			n++
		}
	}
	return n, nil
}

func (w *writeSide) RenderJob(_ context.Context, id string) (commands.RenderJob, bool, error) {
	j, ok := w.jobs[id]
	return j, ok, nil
}

func (w *writeSide) QueueBlobRemovals(_ context.Context, account string, keys ...string) error {
	for _, k := range keys {
		w.removals[k] = account
	}
	return nil
}

func (w *writeSide) RedactAssetName(_ context.Context, asset string) error {
	w.redacted = append(w.redacted, asset)
	return nil
}
