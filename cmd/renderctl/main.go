// Command renderctl is a command-line client of renderd's HTTP API for
// people, built on the Go SDK (package client, the only package of ours it
// imports: scripts/check-imports). It uploads media (resumable, with the
// SDK's tus uploader), cuts, renders and downloads, lists and cancels
// renders, and receives webhooks on a local receiver that verifies their
// signatures. README.md, section "CLI", shows each command.
//
// Progress bars (upload bytes and rate, the probe, a render's percent with
// the server's ETA, download bytes) go to stderr, and only when both stdout
// and stderr are terminals: piped or redirected, renderctl prints its
// results as plain lines (or JSON with --json) and nothing else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/renderd/renderd/client"
)

// Exit codes (renderctl --help and README.md, section "CLI").
const (
	exitOK          = 0
	exitLocal       = 1 // a local failure: a file that cannot be read or written
	exitUsage       = 2 // a bad flag or argument, a missing RENDERD_URL or RENDERD_API_KEY
	exitAPI         = 3 // the API refused the request, or could not be reached
	exitFailed      = 4 // the asset, cut or render ended failed or cancelled (or the asset waits for credits)
	exitInterrupted = 130
)

const helpText = `renderctl drives a renderd API from the command line.

Configuration, from the environment:
  RENDERD_URL       the API's base URL, e.g. http://127.0.0.1:8080
  RENDERD_API_KEY   an API key of your account (make run prints the dev key)

Progress bars go to stderr when stdout and stderr are terminals; otherwise
renderctl prints only its results: ids as plain lines, or the API's objects
as JSON with --json (one object per line for lists and deliveries).

Exit codes:
  0    success
  1    a local failure (a file that cannot be read or written)
  2    a usage error: a bad flag or argument, RENDERD_URL or RENDERD_API_KEY missing
  3    an API error (its code, message, field and request id are printed) or the API unreachable
  4    the asset, cut or render ended failed or cancelled (or the asset waits for credits)
  130  interrupted (Ctrl-C) while waiting`

// codedError is an error with its exit code. Every command returns its
// errors as one; an error without a code comes from parsing the command
// line (cobra's), a usage error.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &codedError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func localErr(err error) error { return &codedError{code: exitLocal, err: err} }

// apiErr marks an error of a call to the API: the API's refusal, or a
// transport failure.
func apiErr(err error) error { return &codedError{code: exitAPI, err: err} }

func failedErr(format string, a ...any) error {
	return &codedError{code: exitFailed, err: fmt.Errorf(format, a...)}
}

// exitCode maps a command's error to the process's exit code. interrupted
// says a signal ended the command's context and err is that ending.
func exitCode(err error, interrupted bool) int {
	if err == nil {
		return exitOK
	}
	if interrupted {
		return exitInterrupted
	}
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	return exitUsage
}

// describeError is the line printed for err: the API's code, message,
// field and request id when the API answered.
func describeError(err error) string {
	var api *client.APIError
	if errors.As(err, &api) {
		var b strings.Builder
		fmt.Fprintf(&b, "API error %d", api.StatusCode)
		if api.Code != "" {
			b.WriteString(" " + api.Code)
		}
		if api.Message != "" {
			b.WriteString(": " + api.Message)
		}
		if api.Field != "" {
			b.WriteString(" (field " + api.Field + ")")
		}
		if api.RequestID != "" {
			b.WriteString(" [request id " + api.RequestID + "]")
		}
		if api.RetryAfter > 0 {
			fmt.Fprintf(&b, " (retry after %s)", api.RetryAfter)
		}
		return b.String()
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return "cannot reach the API: " + err.Error()
	}
	return err.Error()
}

// app is one run of renderctl: its environment and global flags.
type app struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	// tty: stdout and stderr are terminals, so progress bars are drawn.
	tty  bool
	json bool
	// poll paces the waits; a person watches them, so it is brisker than
	// the SDK's default.
	poll client.PollPolicy
}

// client returns the API client of RENDERD_URL and RENDERD_API_KEY, or a
// usage error before any request when either is missing or malformed.
func (a *app) client() (*client.Client, error) {
	base, key := strings.TrimSpace(a.getenv("RENDERD_URL")), strings.TrimSpace(a.getenv("RENDERD_API_KEY"))
	var missing []string
	if base == "" {
		missing = append(missing, "RENDERD_URL")
	}
	if key == "" {
		missing = append(missing, "RENDERD_API_KEY")
	}
	if len(missing) > 0 {
		return nil, usageErr("%s not set: renderctl needs the API's URL and an API key in the environment", strings.Join(missing, " and "))
	}
	c, err := client.New(base, key, client.WithUploader(client.Resumable{}),
		client.WithUserAgent("renderctl/1"), client.WithPoll(a.poll))
	if err != nil {
		return nil, usageErr("RENDERD_URL: %v", err)
	}
	return c, nil
}

// status prints a line for the person at the terminal (nothing when not a
// terminal: results only, then).
func (a *app) status(format string, args ...any) {
	if a.tty {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "renderctl",
		Short:         "A command-line client of renderd's API",
		Long:          helpText,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(a.stderr, cmd.UsageString())
			return usageErr("no command given")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print the API's objects as JSON (one per line for lists)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(uploadCmd(a), cutCmd(a), renderCmd(a), rendersCmd(a), cancelCmd(a), webhooksCmd(a))
	return root
}

// run runs renderctl with args and returns its exit code. ctx ends on
// Ctrl-C or SIGTERM.
func run(ctx context.Context, args []string, a *app) int {
	root := newRoot(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	// Interrupted: the signal ended what the command was doing (an error
	// of another cause after it, such as deleting a webhook endpoint, keeps
	// its own code).
	code := exitCode(err, ctx.Err() != nil && errors.Is(err, context.Canceled))
	switch {
	case code == exitInterrupted:
		fmt.Fprintln(a.stderr, "renderctl: interrupted: "+err.Error())
	case err != nil:
		fmt.Fprintln(a.stderr, "renderctl: "+describeError(err))
		if code == exitUsage {
			fmt.Fprintln(a.stderr, "Run 'renderctl --help' for usage.")
		}
	}
	return code
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stdout) && isTerminal(os.Stderr),
		poll: client.PollPolicy{MinInterval: 250 * time.Millisecond, MaxInterval: 2 * time.Second}}
	code := run(ctx, os.Args[1:], a)
	stop()
	os.Exit(code)
}
