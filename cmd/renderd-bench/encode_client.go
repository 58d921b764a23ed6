package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

type encodeRequest struct {
	asset  string
	output domain.OutputSpec
}

func (r encodeRequest) body() ([]byte, error) {
	o := map[string]any{"format": r.output.Format}
	if r.output.Resolution != "" {
		o["resolution"] = r.output.Resolution
	}
	if r.output.VideoBitrate != 0 {
		o["video_bitrate"] = r.output.VideoBitrate
	}
	if r.output.AudioBitrate != 0 {
		o["audio_bitrate"] = r.output.AudioBitrate
	}
	return json.Marshal(map[string]any{"asset_id": r.asset, "output": o})
}

// upload creates a video asset and PUTs the source.
func (b *encodeBench) upload(ctx context.Context) (string, error) {
	var a struct {
		ID string `json:"id"`
	}
	status, raw, err := b.call(ctx, http.MethodPost, "/v1/assets", []byte(`{"kind":"video","name":"bench 1080p"}`), &a)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/assets answered %d: %s", status, raw)
	}
	f, err := os.Open(b.source)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.base+"/v1/assets/"+a.ID+"/source", f)
	if err != nil {
		return "", err
	}
	req.ContentLength = st.Size()
	status, raw, err = b.do(req, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusAccepted {
		return "", fmt.Errorf("PUT /v1/assets/%s/source answered %d: %s", a.ID, status, raw)
	}
	return a.ID, nil
}

func (b *encodeBench) waitAsset(ctx context.Context, id string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var v struct {
			State string `json:"state"`
		}
		status, raw, err := b.call(ctx, http.MethodGet, "/v1/assets/"+id, nil, &v)
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusOK && v.State == "ready":
			return nil
		case status == http.StatusOK && v.State == "failed":
			return fmt.Errorf("asset %s failed: %s", id, raw)
		case time.Now().After(deadline):
			return fmt.Errorf("asset %s not ready after 2 min: %d %s", id, status, raw)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// call sends a JSON request with the account's key and decodes a 2xx
// answer into v (when not nil).
func (b *encodeBench) call(ctx context.Context, method, path string, body []byte, v any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return b.do(req, v)
}

func (b *encodeBench) do(req *http.Request, v any) (int, []byte, error) {
	req.Header.Set("Authorization", "Bearer "+b.key)
	res, err := b.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	if v != nil && res.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, v); err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w: %s", req.Method, req.URL.Path, err, raw)
		}
	}
	return res.StatusCode, raw, nil
}

// post requests a render; each request of the benchmark is a new one.
func (b *encodeBench) post(ctx context.Context, r encodeRequest) (string, error) {
	body, err := r.body()
	if err != nil {
		return "", err
	}
	var v struct {
		ID string `json:"id"`
	}
	status, raw, err := b.call(ctx, http.MethodPost, "/v1/renders", body, &v)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/renders %s answered %d (want 201, a new render): %s", body, status, raw)
	}
	return v.ID, nil
}

// waitCompleted polls the render every 50 ms until it is completed.
func (b *encodeBench) waitCompleted(ctx context.Context, id string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var v struct {
			State string `json:"state"`
		}
		status, raw, err := b.call(ctx, http.MethodGet, "/v1/renders/"+id, nil, &v)
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusOK && v.State == "completed":
			return nil
		case status == http.StatusOK && (v.State == "failed" || v.State == "cancelled"):
			return fmt.Errorf("render %s is %s: %s", id, v.State, raw)
		case status != http.StatusOK && status != http.StatusNotFound:
			return fmt.Errorf("GET /v1/renders/%s answered %d: %s", id, status, raw)
		case time.Now().After(deadline):
			return fmt.Errorf("render %s not completed after 5 min: %s", id, raw)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// serviceRun is a completed render as its events record it.
type serviceRun struct {
	id                 string
	started, completed time.Time // render.started, render.completed
	encodeSeconds      float64   // render.completed's own figure: claim → completion
	fastPath           bool
	attempts           int
	// Where the time went, when the benchmark watched the render's ffmpeg:
	// its start and its exit as seen in /proc.
	ffmpegStart, ffmpegExit time.Time
}

func (r serviceRun) took() time.Duration { return r.completed.Sub(r.started) }

// phases: render.started → ffmpeg running, ffmpeg's run, ffmpeg gone →
// render.completed.
func (r serviceRun) phases() (before, run, after time.Duration) {
	return r.ffmpegStart.Sub(r.started), r.ffmpegExit.Sub(r.ffmpegStart), r.completed.Sub(r.ffmpegExit)
}

// render requests a render, waits for its completion and reads its times
// from the event store.
func (b *encodeBench) render(ctx context.Context, r encodeRequest) (serviceRun, error) {
	id, err := b.post(ctx, r)
	if err != nil {
		return serviceRun{}, err
	}
	if err := b.waitCompleted(ctx, id); err != nil {
		return serviceRun{}, err
	}
	return b.history(ctx, id)
}

func (b *encodeBench) history(ctx context.Context, id string) (serviceRun, error) {
	run := serviceRun{id: id}
	rows, err := b.e.pool.Query(ctx, `SELECT event_type, occurred_at, data FROM events WHERE stream_id = $1 ORDER BY stream_version`, id)
	if err != nil {
		return run, err
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var typ string
		var at time.Time
		var data []byte
		if err := rows.Scan(&typ, &at, &data); err != nil {
			return run, err
		}
		types = append(types, typ)
		switch typ {
		case eventschema.RenderStartedV1:
			run.started = at
			run.attempts++
		case eventschema.RenderCompletedV1:
			run.completed = at
			var c struct {
				EncodeSeconds float64 `json:"encode_seconds"`
				FastPath      bool    `json:"fast_path"`
			}
			if err := json.Unmarshal(data, &c); err != nil {
				return run, fmt.Errorf("render.completed of %s: %w", id, err)
			}
			run.encodeSeconds, run.fastPath = c.EncodeSeconds, c.FastPath
		}
	}
	if err := rows.Err(); err != nil {
		return run, err
	}
	if run.started.IsZero() || run.completed.IsZero() {
		return run, fmt.Errorf("render %s: no render.started or render.completed in %v", id, types)
	}
	return run, nil
}
