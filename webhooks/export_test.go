package webhooks

import "context"

// ClaimSecrets claims up to n due deliveries and returns, for each, the
// secrets that would sign it, or why they did not open.
func ClaimSecrets(ctx context.Context, d *Dispatcher, n int) ([][]string, []error, error) {
	batch, err := d.claim(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	var secrets [][]string
	var errs []error
	for _, c := range batch {
		secrets = append(secrets, c.endpoint.Secrets(d.now()))
		errs = append(errs, c.secretErr)
	}
	return secrets, errs, nil
}

// ClaimAndAttempt claims up to n due deliveries and makes each one's attempt,
// as the dispatcher's loop does; it returns how many it claimed.
func ClaimAndAttempt(ctx context.Context, d *Dispatcher, n int) (int, error) {
	batch, err := d.claim(ctx, n)
	for _, c := range batch {
		d.attempt(ctx, c)
	}
	return len(batch), err
}

// FoldedViews is how many render views p keeps folded.
func FoldedViews(p *Projector) int { return p.views.size() }

// ClaimEndpoints claims up to n due deliveries and returns each one's
// endpoint, in claim order; the claims are given back.
func ClaimEndpoints(ctx context.Context, d *Dispatcher, n int) ([]string, error) {
	batch, err := d.claim(ctx, n)
	var eps []string
	for _, c := range batch {
		eps = append(eps, c.endpointID)
		d.putOff(ctx, c, 0)
	}
	return eps, err
}

// ClaimAndAttemptLate claims up to n due deliveries and attempts each as
// a claim that waited for its turn until d's clock said so.
func ClaimAndAttemptLate(ctx context.Context, d *Dispatcher, n int, advance func()) (int, error) {
	batch, err := d.claim(ctx, n)
	advance()
	for _, c := range batch {
		d.attemptClaimed(ctx, c)
	}
	return len(batch), err
}
