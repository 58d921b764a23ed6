package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/renderd/renderd/adapters/blob"
)

// The fleet runs as on separate hosts (docs/operations.md, "Topology"):
// every process shares the S3 store of the suite's stack and Postgres and
// Kafka, and no folder; each has a scratch folder of its own.

// runBlobURL is the stack's S3 store (deployments/local/up writes it into
// the stack's env as RENDERD_BLOB_URL when RENDERD_LOCAL_S3=1, as make
// chaos asks) with a prefix of the run's own below its prefix, so that a
// run sees only its own objects and unfinished uploads.
func runBlobURL(stackURL string, now time.Time) (string, error) {
	if !strings.HasPrefix(stackURL, "s3://") {
		return "", fmt.Errorf("RENDERD_BLOB_URL=%q: the suite runs its fleet on the stack's S3 store (make chaos starts one: RENDERD_LOCAL_S3=1)", stackURL)
	}
	u, err := url.Parse(stackURL)
	if err != nil {
		return "", fmt.Errorf("RENDERD_BLOB_URL: %w", err)
	}
	u.Path = "/" + path.Join(strings.Trim(u.Path, "/"), "chaos-"+now.UTC().Format("20060102-150405")+"-"+strings.ToLower(rand.Text()[:6]))
	out := u.String()
	if err := blob.CheckURL(out); err != nil {
		return "", err
	}
	return out, nil
}

// envValue is the value of key in env as a process started with it sees
// it: the last one (os/exec keeps the last of duplicates).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// checkNoSharedFolder refuses a fleet whose processes would share a
// folder, as processes on separate hosts cannot: each must keep its blobs
// in an S3 store, and its scratch folder must be its own, neither another
// one's nor inside or around another one's (nor one of others, the
// harness's own folders).
func (f *fleet) checkNoSharedFolder(others map[string]string) error {
	folders := map[string]string{} // name → folder
	for name, dir := range others {
		folders[name] = dir
	}
	for _, p := range f.procs {
		if raw := envValue(p.env, "RENDERD_BLOB_URL"); !strings.HasPrefix(raw, "s3://") {
			if dir, local := blob.LocalDir(cmpOr(raw, "file:.data/blobs")); local {
				return fmt.Errorf("%s would keep its blobs in the folder %s, which every process shares: the fleet runs on an S3 store", p.name, dir)
			}
			return fmt.Errorf("%s: RENDERD_BLOB_URL %q is no S3 store", p.name, raw)
		}
		dir := envValue(p.env, "RENDERD_SCRATCH_DIR")
		if dir == "" || !filepath.IsAbs(dir) {
			return fmt.Errorf("%s: RENDERD_SCRATCH_DIR %q: want an absolute folder of its own", p.name, dir)
		}
		if dir != p.scratch {
			return fmt.Errorf("%s: RENDERD_SCRATCH_DIR %s is not the folder the suite checks (%s)", p.name, dir, p.scratch)
		}
		folders[p.name] = dir
	}
	names := make([]string, 0, len(folders))
	for n := range folders {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, a := range names {
		for _, b := range names[i+1:] {
			if overlap(folders[a], folders[b]) {
				return fmt.Errorf("%s and %s would share a folder (%s, %s): every process gets a scratch folder of its own", a, b, folders[a], folders[b])
			}
		}
	}
	return nil
}

// overlap reports whether two folders are one, or one lies inside the other.
func overlap(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	inside := func(x, y string) bool { return strings.HasPrefix(x, y+string(filepath.Separator)) || y == "/" }
	return a == b || inside(a, b) || inside(b, a)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// downloadsAtOnce is how many downloads run at once: the outputs are
// small, and renderd limits downloads per client address
// (RENDERD_RATE_ANONYMOUS, 20 a second after a burst of 100, per api
// process).
const downloadsAtOnce = 4

// checkDownloads downloads every completed render of the account as a
// client does: GET the render for its download_url, GET that (renderd
// answers 302 to a presigned URL of the S3 store, not the bytes) and
// follow the redirect; the body must be the output: size_bytes long and
// starting as its format does.
func (h *harness) checkDownloads(ctx context.Context, t *tenant) (checked int, problems []string) {
	rows, err := h.pool.Query(ctx, `SELECT DISTINCT stream_id FROM events WHERE account_id = $1 AND event_type = $2`, t.accountID, evCompleted)
	if err != nil {
		return 0, []string{"completed renders: " + err.Error()}
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, []string{"completed renders: " + err.Error()}
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return 0, []string{"completed renders: " + err.Error()}
	}
	apis := h.fleet.apis()
	var (
		mu   sync.Mutex
		bad  []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, downloadsAtOnce)
		good int
	)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := h.download(ctx, apis[i%len(apis)].httpAddr, t.key, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad = append(bad, id+": "+err.Error())
			} else {
				good++
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		slices.Sort(bad)
		problems = append(problems, fmt.Sprintf("%d of %d completed renders do not download: %s", len(bad), len(ids), strings.Join(first(bad, 3), "; ")))
	}
	return good, problems
}

// noRedirect answers a redirect rather than following it.
var noRedirect = &http.Client{Timeout: 20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (h *harness) download(ctx context.Context, api, key, id string) error {
	var (
		st   int
		body map[string]any
		err  error
	)
	// A read refused for its rate (429) is asked again.
	for try := 0; try < 5; try++ {
		if st, body, err = h.api.do(ctx, api, key, http.MethodGet, "/v1/renders/"+id, nil); err != nil || st != http.StatusTooManyRequests {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("GET render: %d %v", st, err)
	}
	link, _ := body["download_url"].(string)
	size, ok := body["size_bytes"].(float64)
	output, _ := body["output"].(map[string]any)
	format, _ := output["format"].(string)
	if body["state"] != "completed" || link == "" || !ok || size <= 0 {
		return fmt.Errorf("render %v, download_url %q, size_bytes %v", body["state"], link, body["size_bytes"])
	}
	var resp *http.Response
	for try := 0; try < 5; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
		if err != nil {
			return err
		}
		if resp, err = noRedirect.Do(req); err != nil {
			return fmt.Errorf("GET download_url: %w", err)
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			break
		}
		resp.Body.Close()
		time.Sleep(time.Second)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || location == "" {
		return fmt.Errorf("download_url answered %d (Location %q), want 302 to the S3 store", resp.StatusCode, location)
	}
	if strings.HasPrefix(location, "http://"+api) {
		return fmt.Errorf("download_url redirects to renderd itself (%s), not the S3 store", location)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return err
	}
	got, err := noRedirect.Do(req)
	if err != nil {
		return fmt.Errorf("GET the presigned URL: %w", err)
	}
	defer got.Body.Close()
	data, err := io.ReadAll(io.LimitReader(got.Body, int64(size)+1))
	if err != nil {
		return fmt.Errorf("reading the presigned URL: %w", err)
	}
	if got.StatusCode != http.StatusOK {
		return fmt.Errorf("the presigned URL answered %d", got.StatusCode)
	}
	if int64(len(data)) != int64(size) {
		return fmt.Errorf("downloaded %d bytes, size_bytes says %d", len(data), int64(size))
	}
	if !looksLike(format, data) {
		return fmt.Errorf("the %d bytes downloaded do not start as %s does: % x", len(data), format, data[:min(12, len(data))])
	}
	return nil
}

// looksLike reports whether data starts as a file of the output format
// does: an ISO media file (mp4, m4a, mov) with its ftyp box, an mp3 with
// an ID3 tag or a frame header.
func looksLike(format string, data []byte) bool {
	switch format {
	case "mp4", "m4a", "mov":
		return len(data) >= 8 && string(data[4:8]) == "ftyp"
	case "mp3":
		return bytes.HasPrefix(data, []byte("ID3")) || len(data) >= 2 && data[0] == 0xff && data[1]&0xe0 == 0xe0
	}
	return false
}

// killedEncoder is what kill-encoder did: which process it killed, when,
// and the renders that process held.
type killedEncoder struct {
	name string
	pid  int
	at   time.Time
	held []string
}

// takeover says who completed the renders the killed encoder held: the
// worker of each one's last render.started before its render.completed,
// named by its process (the default worker id is host-pid-suffix). None
// may be the killed process, unless it completed the render before the
// kill.
func (h *harness) takeover(ctx context.Context, k *killedEncoder) (summary string, problems []string) {
	rows, err := h.pool.Query(ctx, `
		SELECT c.stream_id, c.recorded_at, coalesce(s.data->>'worker_id', '')
		FROM events c LEFT JOIN LATERAL (
			SELECT data FROM events e WHERE e.stream_id = c.stream_id AND e.event_type = 'render.started.v1'
			AND e.stream_version < c.stream_version ORDER BY e.stream_version DESC LIMIT 1) s ON true
		WHERE c.stream_id = ANY($1) AND c.event_type = $2`, k.held, evCompleted)
	if err != nil {
		return "", []string{"takeover: " + err.Error()}
	}
	by := map[string]int{}
	done := map[string]bool{}
	for rows.Next() {
		var (
			id, worker string
			at         time.Time
		)
		if err := rows.Scan(&id, &at, &worker); err != nil {
			return "", []string{"takeover: " + err.Error()}
		}
		done[id] = true
		who := h.workerName(worker, k)
		switch {
		case who == "killed" && !at.After(k.at):
			by[k.name+" before the kill"]++
		case who == "killed":
			problems = append(problems, fmt.Sprintf("render %s completed by the killed %s (%s) after the kill", id, k.name, worker))
		default:
			by[who]++
		}
	}
	if err := rows.Err(); err != nil {
		return "", []string{"takeover: " + err.Error()}
	}
	for _, id := range k.held {
		if !done[id] {
			problems = append(problems, fmt.Sprintf("render %s that %s held did not complete", id, k.name))
		}
	}
	var parts []string
	for who, n := range by {
		parts = append(parts, fmt.Sprintf("%d by %s", n, who))
	}
	slices.Sort(parts)
	return fmt.Sprintf("the %d renders %s held completed: %s", len(k.held), k.name, strings.Join(parts, ", ")), problems
}

// workerName names the process a worker id belongs to: "killed" for the
// killed one, "encoder-1 restarted" for a later start of it.
func (h *harness) workerName(worker string, k *killedEncoder) string {
	fields := strings.Split(worker, "-")
	if len(fields) < 3 {
		return "worker " + worker
	}
	pid, err := strconv.Atoi(fields[len(fields)-2])
	if err != nil {
		return "worker " + worker
	}
	if pid == k.pid {
		return "killed"
	}
	for _, p := range h.fleet.procs {
		if slices.Contains(p.startedPIDs(), pid) {
			if p.name == k.name {
				return p.name + " restarted"
			}
			return p.name
		}
	}
	return "worker " + worker
}

// afterSuite checks what the run left once every render ended: no file in
// the scratch folder of any process (nothing is in flight), and no
// unfinished multipart upload under the run's prefix. The sweep of the api
// and encoder roles removes what a kill -9 left of writes (sweepEvery
// after their last write, on S3 the unfinished uploads): it is given that
// long and a margin. What a killed process left in its own scratch folder
// (copies of sources it fetched, filter scripts) its restart removes
// (cmd/renderd/scratch.go), so a file of a killed process fails too.
func (h *harness) afterSuite(ctx context.Context) row {
	r := row{fault: "after the suite: scratch folders, unfinished uploads", recovery: "-", bound: "-"}
	var (
		files   map[string][]string
		uploads []blob.Temp
		listErr error
	)
	killed := func(name string) bool { return h.fleet.byName(name).killCount() > 0 }
	_, werr := waitUntil(ctx, 3*sweepEvery+15*time.Second, time.Second, func() bool {
		files, listErr = h.scratchFiles()
		if listErr != nil {
			return false
		}
		if uploads, listErr = h.blobs.Temps(ctx); listErr != nil || len(uploads) > 0 {
			return false
		}
		return len(files) == 0
	})
	var left, crashed []string
	for _, p := range h.fleet.procs {
		fs := files[p.name]
		if len(fs) == 0 {
			continue
		}
		slices.Sort(fs)
		s := fmt.Sprintf("%s: %d (%s)", p.name, len(fs), strings.Join(first(fs, 6), " "))
		if killed(p.name) {
			crashed = append(crashed, s)
		} else {
			left = append(left, s)
		}
	}
	var up []string
	for _, u := range uploads {
		up = append(up, fmt.Sprintf("%s (%d bytes, last part %s)", cmpOr(u.Key, "?"), u.Size, u.ModTime.UTC().Format(time.RFC3339)))
	}
	r.renders = fmt.Sprintf("%d scratch folders, %d with files of processes never killed; %d unfinished uploads under the run's prefix", len(h.fleet.procs), len(left), len(uploads))
	if len(crashed) > 0 {
		r.renders += "; left by a kill -9: " + strings.Join(crashed, "; ")
	}
	switch {
	case listErr != nil:
		r.problems = append(r.problems, listErr.Error())
	case werr != nil:
		if len(left) > 0 {
			r.problems = append(r.problems, "files left in scratch folders: "+strings.Join(left, "; "))
		}
		if len(crashed) > 0 {
			r.problems = append(r.problems, "files a killed process left, not removed by its restart: "+strings.Join(crashed, "; "))
		}
		if len(up) > 0 {
			r.problems = append(r.problems, "unfinished multipart uploads: "+strings.Join(first(up, 5), "; "))
		}
	}
	r.ok = len(r.problems) == 0
	return r
}

// scratchFiles lists the regular files in every process's scratch folder
// (relative to it), by process; processes with none are absent.
func (h *harness) scratchFiles() (map[string][]string, error) {
	out := map[string][]string{}
	var errs []error
	for _, p := range h.fleet.procs {
		err := filepath.WalkDir(p.scratch, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // never made (no blob role), or gone during the walk
				}
				return err
			}
			// Not the lock a running process holds on its own folder
			// (cmd/renderd/scratch.go).
			if !d.IsDir() && d.Name() != ".lock" {
				rel, _ := filepath.Rel(p.scratch, name)
				out[p.name] = append(out[p.name], rel)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// startedPIDs are the pids of every start of the process.
func (p *proc) startedPIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pids)
}

// killCount is how many times the suite killed the process.
func (p *proc) killCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills
}
