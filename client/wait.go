package client

import (
	"context"
	"fmt"
	"time"
)

// PollPolicy paces WaitRender and WaitAsset.
type PollPolicy struct {
	// MinInterval is the shortest wait between two GETs (zero: 500 ms).
	MinInterval time.Duration
	// MaxInterval is the longest (zero: 10 s).
	MaxInterval time.Duration
}

func (p PollPolicy) withDefaults() PollPolicy {
	if p.MinInterval <= 0 {
		p.MinInterval = 500 * time.Millisecond
	}
	if p.MaxInterval < p.MinInterval {
		p.MaxInterval = max(10*time.Second, p.MinInterval)
	}
	return p
}

// next is the wait after a poll that waited last: half the server's
// estimate of the time left when it gives one (eta_seconds of a running
// render), so a poll lands near the end without overshooting it by much;
// else 1.5 times the last wait. Both within [MinInterval, MaxInterval].
func (p PollPolicy) next(last time.Duration, eta *float64) time.Duration {
	d := last * 3 / 2
	if eta != nil {
		d = time.Duration(*eta * float64(time.Second) / 2)
	}
	return min(max(d, p.MinInterval), p.MaxInterval)
}

// WaitRender polls GET /v1/renders/{id} until the render is completed,
// failed or cancelled, and returns it in that state: a failed render is no
// error (its Failure says why). It returns early with ctx's error, or with
// the first error of a GET (429 and 503 are retried inside the GET).
// onPoll, when not nil, sees each answer, for progress: Progress and
// ETASeconds.
func (c *Client) WaitRender(ctx context.Context, id string, onPoll ...func(*Render)) (*Render, error) {
	wait := time.Duration(0)
	for {
		r, err := c.GetRender(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, f := range onPoll {
			f(r)
		}
		if r.Terminal() {
			return r, nil
		}
		var eta *float64
		if r.State == RenderRunning {
			eta = r.ETASeconds
		}
		wait = c.poll.next(wait, eta)
		if err := c.sleep(ctx, wait); err != nil {
			return r, fmt.Errorf("renderd client: waiting for render %s (%s, %d%%): %w", id, r.State, r.Progress, err)
		}
	}
}

// WaitAsset polls GET /v1/assets/{id} until its upload has been probed:
// the asset is ready, failed or payment_required (processing resumes once
// credits are granted), or an uploaded part was refused (Refusal). It
// returns the asset in that state, or early with ctx's error or a GET's.
func (c *Client) WaitAsset(ctx context.Context, id string) (*Asset, error) {
	wait := time.Duration(0)
	for {
		a, err := c.GetAsset(ctx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case a.State == AssetReady, a.State == AssetFailed, a.State == AssetPaymentRequired, a.Refusal != nil:
			return a, nil
		}
		wait = c.poll.next(wait, nil)
		if err := c.sleep(ctx, wait); err != nil {
			return a, fmt.Errorf("renderd client: waiting for asset %s (%s): %w", id, a.State, err)
		}
	}
}
