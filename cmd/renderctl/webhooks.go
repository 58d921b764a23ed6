package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/renderd/renderd/client"
)

func webhooksCmd(a *app) *cobra.Command {
	var addr string
	var events []string
	listen := &cobra.Command{
		Use:   "listen",
		Short: "Register a local receiver as a webhook endpoint and print each verified delivery",
		Long: `Start a receiver on --addr, register it as a webhook endpoint of the account
for --events, and print each delivery once its Standard Webhooks signature
verified against the endpoint's secret (one JSON line each with --json). A
delivery whose signature does not verify is answered 400 and reported on
stderr. Ctrl-C or SIGTERM deletes the endpoint and exits 0.

The API must be allowed to deliver to this machine over http: make run
allows loopback (RENDERD_WEBHOOK_ALLOW, RENDERD_WEBHOOK_ALLOW_HTTP).`,
		Example: "  renderctl webhooks listen\n  renderctl webhooks listen --addr 127.0.0.1:9000 --events render.failed --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			evs, err := parseEvents(events)
			if err != nil {
				return usageErr("%v", err)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return usageErr("--addr %q: want host:port (port 0: any free one)", addr)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.listen(cmd.Context(), c, addr, evs)
		},
	}
	listen.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "the receiver's address, host:port (port 0: any free one)")
	listen.Flags().StringSliceVar(&events, "events", []string{"render.completed", "render.failed"}, "the events to receive, comma-separated")
	return a.group("webhooks", "Receive the account's webhooks locally", listen)
}

// parseEvents checks the --events list: names, none empty, each once.
func parseEvents(events []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, fmt.Errorf("--events: an empty event name")
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--events: name at least one event (render.completed, render.failed)")
	}
	return out, nil
}

// listen serves the receiver until ctx ends, then deletes its endpoint.
func (a *app) listen(ctx context.Context, c *client.Client, addr string, events []string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return localErr(fmt.Errorf("--addr: %w", err))
	}
	defer ln.Close()
	url := "http://" + ln.Addr().String() + "/"
	ep, err := c.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{URL: url, Events: events,
		Description: "renderctl webhooks listen"})
	if err != nil {
		return apiErr(err)
	}
	// From here on the endpoint is deleted whatever ends the receiver.
	deleteEndpoint := func() error {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := c.DeleteWebhookEndpoint(stop, ep.ID); err != nil {
			return apiErr(fmt.Errorf("deleting webhook endpoint %s: %w", ep.ID, err))
		}
		return nil
	}
	v, err := client.NewWebhookVerifier(ep.Secret)
	if err != nil {
		_ = deleteEndpoint()
		return apiErr(fmt.Errorf("webhook endpoint %s: %w", ep.ID, err))
	}
	rc := &receiver{a: a, verifier: v, seen: map[string]bool{}}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(a.stderr, "listening on %s for %s (webhook endpoint %s); Ctrl-C stops and deletes it\n",
		url, strings.Join(events, ", "), ep.ID)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	derr := deleteEndpoint()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return localErr(fmt.Errorf("the receiver stopped: %w", serveErr))
	}
	if derr == nil {
		fmt.Fprintf(a.stderr, "webhook endpoint %s deleted\n", ep.ID)
	}
	return derr
}

// maxWebhookBody bounds a delivery's body: a render's event is a few KB.
const maxWebhookBody = 1 << 20

// receiver verifies and prints deliveries.
type receiver struct {
	a        *app
	verifier *client.WebhookVerifier

	mu   sync.Mutex      // one delivery printed at a time
	seen map[string]bool // event ids printed: a delivery may come twice
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	if len(body) > maxWebhookBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	ev, err := rc.verifier.Verify(body, r.Header)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		fmt.Fprintf(rc.a.stderr, "renderctl: refused a delivery from %s: %v\n", r.RemoteAddr, err)
		http.Error(w, "the webhook signature does not verify", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	if rc.seen[ev.ID] {
		return
	}
	rc.seen[ev.ID] = true
	if rc.a.json {
		var line bytes.Buffer
		if json.Compact(&line, body) == nil {
			fmt.Fprintf(rc.a.stdout, "%s\n", line.Bytes())
		}
		return
	}
	fmt.Fprintln(rc.a.stdout, deliveryLine(ev))
}

// deliveryLine is a delivery as one plain line: when, what, which render,
// its state (and failure).
func deliveryLine(ev *client.WebhookEvent) string {
	rd := ev.Data.Render
	return fmt.Sprintf("%s  %s  %s  %s %s%s", ev.CreatedAt.UTC().Format(time.RFC3339), ev.Type, rd.ID,
		rd.State, outputName(rd.Output), failureText(rd.Failure))
}
