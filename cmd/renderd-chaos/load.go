package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// outputs are the deliverables the load asks for in turn: each render also
// gets a cut of its own, so every request is a new signature, a new render.
var outputs = []map[string]any{{"format": "mp4"}, {"format": "m4a"}, {"format": "mov"}, {"format": "mp3"}}

// tenant is one fault's account: its renders, webhook endpoint and counts
// are apart from every other fault's.
type tenant struct {
	accountID, key, assetID string
}

// client calls the API of the suite's api processes.
type client struct {
	hc *http.Client
}

func (c *client) do(ctx context.Context, base, key, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if _, ok := body.([]byte); !ok && body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// newTenant creates an account with the operator's command, uploads the
// clip, waits until it is ready and registers the receiver for it.
func (h *harness) newTenant(ctx context.Context, name string) (*tenant, error) {
	cmd := exec.CommandContext(ctx, renderdBin, "accounts", "create", "--name", "chaos-"+name)
	cmd.Env = h.env
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("accounts create: %w", err)
	}
	var acc struct {
		AccountID string `json:"account_id"`
		APIKey    string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &acc); err != nil {
		return nil, fmt.Errorf("accounts create printed %q: %w", out, err)
	}
	t := &tenant{accountID: acc.AccountID, key: acc.APIKey}
	api := h.fleet.apis()[0].httpAddr
	st, body, err := h.api.do(ctx, api, t.key, http.MethodPost, "/v1/assets", map[string]string{"kind": "video", "name": "chaos " + name})
	if err != nil || st != http.StatusCreated {
		return nil, fmt.Errorf("create asset: %d %v %v", st, body, err)
	}
	t.assetID, _ = body["id"].(string)
	clip, err := os.ReadFile(h.clip)
	if err != nil {
		return nil, err
	}
	if st, body, err := h.api.do(ctx, api, t.key, http.MethodPut, "/v1/assets/"+t.assetID+"/source", clip); err != nil || st != http.StatusAccepted {
		return nil, fmt.Errorf("upload source: %d %v %v", st, body, err)
	}
	if _, err := waitUntil(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
		st, body, err := h.api.do(ctx, api, t.key, http.MethodGet, "/v1/assets/"+t.assetID, nil)
		return err == nil && st == http.StatusOK && body["state"] == "ready"
	}); err != nil {
		return nil, fmt.Errorf("asset %s ready: %w", t.assetID, err)
	}
	hook := map[string]any{"url": "http://" + h.recv.addr + "/hooks/" + name, "events": []string{"render.completed", "render.failed"}}
	if st, body, err := h.api.do(ctx, api, t.key, http.MethodPost, "/v1/webhook-endpoints", hook); err != nil || st != http.StatusCreated {
		return nil, fmt.Errorf("webhook endpoint: %d %v %v", st, body, err)
	}
	return t, nil
}

// load requests renders at a steady rate, alternating between the api
// processes, each request in its own goroutine so that a stuck one never
// slows the flow.
type load struct {
	t      *tenant
	api    *client
	addrs  []string
	n      atomic.Int64
	wg     sync.WaitGroup
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	accepted []string               // render ids answered 201
	okAt     map[string][]time.Time // api address → when it answered each 201
	failures map[string]int         // "POST renders 503", "POST cuts: connection refused", …
}

func (h *harness) startLoad(ctx context.Context, t *tenant, perSecond float64) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{t: t, api: h.api, cancel: cancel, done: make(chan struct{}), okAt: map[string][]time.Time{}, failures: map[string]int{}}
	for _, p := range h.fleet.apis() {
		l.addrs = append(l.addrs, p.httpAddr)
	}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n := l.n.Add(1)
			l.wg.Add(1)
			go func() { defer l.wg.Done(); l.one(context.WithoutCancel(ctx), n) }()
		}
	}()
	return l
}

// one requests render n: a cut of its own (distinct segments), then the render.
func (l *load) one(ctx context.Context, n int64) {
	addr := l.addrs[n%int64(len(l.addrs))]
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, body, err := l.api.do(ctx, addr, l.t.key, http.MethodPost, "/v1/assets/"+l.t.assetID+"/cuts", cutRequest(n))
	if err != nil || st != http.StatusCreated {
		l.fail("POST cuts", st, err)
		return
	}
	cutID, _ := body["id"].(string)
	req := map[string]any{"asset_id": l.t.assetID, "cut_id": cutID, "output": outputs[n%int64(len(outputs))]}
	st, body, err = l.api.do(ctx, addr, l.t.key, http.MethodPost, "/v1/renders", req)
	if err != nil || st != http.StatusCreated {
		l.fail("POST renders", st, err)
		return
	}
	id, _ := body["id"].(string)
	l.mu.Lock()
	l.accepted = append(l.accepted, id)
	l.okAt[addr] = append(l.okAt[addr], time.Now())
	l.mu.Unlock()
}

// cutRequest is the n-th cut: one second of the 3 s clip, starting n ms in
// (modulo 1.5 s), so that a fault's renders differ in more than their id.
func cutRequest(n int64) map[string]any {
	start := float64(n%1500) / 1000
	return map[string]any{"segments": []map[string]float64{{"start": start, "end": start + 1}}}
}

func (l *load) fail(what string, status int, err error) {
	key := fmt.Sprintf("%s %d", what, status)
	if err != nil {
		key = what + ": " + shortErr(err)
	}
	l.mu.Lock()
	l.failures[key]++
	l.mu.Unlock()
}

// halt ends the flow; requests in flight go on.
func (l *load) halt() { l.cancel() }

// wait returns once the flow was halted and the requests in flight answered.
func (l *load) wait() {
	<-l.done
	l.wg.Wait()
}

// servedSince is the first 201 the api at addr answered after t.
func (l *load) servedSince(addr string, t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.okAt[addr] {
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

func (l *load) summary() (requested int64, accepted []string, failures string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for k, v := range l.failures {
		parts = append(parts, fmt.Sprintf("%d× %s", v, k))
	}
	return l.n.Load(), append([]string(nil), l.accepted...), strings.Join(parts, ", ")
}

// shortErr keeps the end of a transport error ("connection refused").
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
