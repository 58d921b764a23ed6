package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/renderd/renderd/client"
)

// positional checks a command's positional arguments: exactly the names given.
func positional(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, got []string) error {
		if len(got) < len(names) {
			return usageErr("missing argument %s", names[len(got)])
		}
		if len(got) > len(names) {
			return usageErr("unexpected argument %q", got[len(names)])
		}
		for i, v := range got {
			if v == "" {
				return usageErr("argument %s is empty", names[i])
			}
		}
		return nil
	}
}

// callErr is the error of an SDK call: an API or network error, unless a
// local file failed under it (reading an upload's body).
func callErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return localErr(err)
	}
	return apiErr(err)
}

func uploadCmd(a *app) *cobra.Command {
	var audio, kind, name string
	var wait bool
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Create an asset and upload FILE as its source (resumable); print the asset's id",
		Long: `Create an asset and upload FILE as its source, resumably (tus): a dropped
connection resumes from what the server holds. --audio uploads a second file
as the asset's audio part. --wait waits for the probe and fails (exit 4) when
the asset failed, a part was refused, or the asset waits for credits.`,
		Example: "  renderctl upload talk.mp4 --wait\n  renderctl upload talk.mp4 --audio talk.m4a --json",
		Args:    positional("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			k, err := assetKind(kind, file)
			if err != nil {
				return usageErr("%v", err)
			}
			src, size, err := openFile(file)
			if err != nil {
				return usageErr("%v", err)
			}
			defer src.Close()
			var aud *os.File
			var audSize int64
			if cmd.Flags().Changed("audio") {
				if aud, audSize, err = openFile(audio); err != nil {
					return usageErr("--audio: %v", err)
				}
				defer aud.Close()
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if name == "" {
				name = filepath.Base(file)
			}
			asset, err := c.CreateAsset(ctx, client.CreateAssetRequest{Kind: k, Name: name})
			if err != nil {
				return apiErr(err)
			}
			a.status("asset %s (%s)", asset.ID, k)
			if asset, err = a.upload(ctx, c, asset.ID, client.PartSource, src, size, file); err != nil {
				return err
			}
			if aud != nil {
				if asset, err = a.upload(ctx, c, asset.ID, client.PartAudio, aud, audSize, audio); err != nil {
					return err
				}
			}
			if !wait {
				return a.result(asset, asset.ID)
			}
			return a.waitAsset(ctx, c, asset.ID)
		},
	}
	f := cmd.Flags()
	f.StringVar(&audio, "audio", "", "upload this file as the asset's audio part too")
	f.StringVar(&kind, "kind", "", "the asset's kind, video or audio (default: by FILE's extension, audio for .mp3, .m4a, .wav, .flac…)")
	f.StringVar(&name, "name", "", "the asset's name (default: FILE's base name)")
	f.BoolVar(&wait, "wait", false, "wait until the upload is probed; exit 4 when the asset failed")
	return cmd
}

// upload sends one part of an asset with a bar of its bytes.
func (a *app) upload(ctx context.Context, c *client.Client, assetID string, part client.Part, body io.Reader, size int64, file string) (*client.Asset, error) {
	b := a.bytesBar(fmt.Sprintf("%s %s", part, shortName(file)), size)
	asset, err := c.Upload(ctx, client.UploadRequest{AssetID: assetID, Part: part, Body: body, Size: size,
		Progress: func(sent, _ int64) { b.set(sent) }})
	if err != nil {
		b.stop()
		return nil, callErr(err)
	}
	b.done()
	return asset, nil
}

// waitAsset waits for the probe of an asset's upload, prints the asset, and
// fails unless it is ready.
func (a *app) waitAsset(ctx context.Context, c *client.Client, id string) error {
	b := a.spinnerBar("probing")
	asset, err := c.WaitAsset(ctx, id)
	b.stop()
	if err != nil {
		return apiErr(err)
	}
	if err := a.result(asset, asset.ID); err != nil {
		return err
	}
	switch {
	case asset.Refusal != nil:
		return failedErr("asset %s: its %s upload was refused: %s: %s", id, asset.Refusal.Part, asset.Refusal.Code, asset.Refusal.Message)
	case asset.State == client.AssetFailed:
		return failedErr("asset %s failed%s", id, failureText(asset.Failure))
	case asset.State == client.AssetPaymentRequired:
		return failedErr("asset %s is payment_required: it is probed once the account has credits", id)
	}
	if m := asset.Source; m != nil {
		a.status("ready: %s, %.1f s, %dx%d", m.Container, m.Duration, m.Width, m.Height)
	}
	return nil
}

func cutCmd(a *app) *cobra.Command {
	var segments []string
	cmd := &cobra.Command{
		Use:   "cut ASSET --segment START:END [--segment START:END …]",
		Short: "Request a cut keeping the given spans of an asset; print the cut's id once completed",
		Long: `Request a cut of ASSET that keeps the spans given by --segment, in seconds
(START:END, decimals allowed; several spans in one flag separated by commas),
and wait until the API decided it (a cut is quick: no encode). A failed cut
(a span past the asset's end) exits 4.`,
		Example: "  renderctl cut ast_123 --segment 1:3 --segment 5:8.5",
		Args:    positional("ASSET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			segs, err := parseSegments(segments)
			if err != nil {
				return usageErr("%v", err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cut, err := c.RequestCut(ctx, args[0], client.RequestCutRequest{Segments: segs})
			if err != nil {
				return apiErr(err)
			}
			var b *bar // drawn only when there is a wait
			for cut.Pending || cut.State == client.CutProcessing {
				if b == nil {
					b = a.spinnerBar("cutting")
				}
				select {
				case <-ctx.Done():
					b.stop()
					return ctx.Err()
				case <-time.After(a.poll.MinInterval):
				}
				if cut, err = c.GetCut(ctx, cut.ID); err != nil {
					b.stop()
					return apiErr(err)
				}
			}
			b.stop()
			if err := a.result(cut, cut.ID); err != nil {
				return err
			}
			if cut.State != client.CutCompleted {
				return failedErr("cut %s %s%s", cut.ID, cut.State, failureText(cut.Failure))
			}
			if cut.Duration != nil {
				a.status("cut %s keeps %.2f s", cut.ID, *cut.Duration)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&segments, "segment", nil, "a span to keep, START:END in seconds (repeatable)")
	return cmd
}

func renderCmd(a *app) *cobra.Command {
	var out client.RenderOutputRequest
	var cutID, download string
	var wait bool
	cmd := &cobra.Command{
		Use:   "render ASSET --format FORMAT [--resolution RES] [--cut ID] [--wait] [--download PATH]",
		Short: "Request a render of an asset (or of one of its cuts); print the render's id",
		Long: `Request a render of ASSET, or of its cut --cut, to --format (mp4, mov, m4a,
mp3) at --resolution (720p, 1080p, 4k; default: the source's). The same
request while its render is live answers that render. --wait shows the
render's percent with the server's ETA and exits 4 when it failed or was
cancelled; --download PATH waits too and then saves the output to PATH.`,
		Example: "  renderctl render ast_123 --format mp4 --resolution 720p --cut cut_456 --download out.mp4",
		Args:    positional("ASSET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out.Format == "" {
				return usageErr("missing --format (mp4, mov, m4a or mp3)")
			}
			var dl *os.File
			if download != "" {
				// Made before any request, in PATH's folder, so that an
				// unwritable PATH is known first; renamed to PATH at the end.
				var err error
				if dl, err = os.CreateTemp(filepath.Dir(download), "."+filepath.Base(download)+".renderctl-*"); err != nil {
					return usageErr("--download: %v", err)
				}
				defer func() {
					dl.Close()
					os.Remove(dl.Name()) // gone already after the rename
				}()
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			r, err := c.RequestRender(ctx, client.RequestRenderRequest{AssetID: args[0], CutID: cutID, Output: out})
			if err != nil {
				return apiErr(err)
			}
			if !wait && dl == nil {
				return a.result(r, r.ID)
			}
			if r, err = a.waitRender(ctx, c, r); err != nil {
				return err
			}
			if dl == nil || r.State != client.RenderCompleted {
				return a.finishRender(r)
			}
			if err := a.download(ctx, c, r, dl, download); err != nil {
				return err
			}
			return a.finishRender(r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&out.Format, "format", "", "the output's format: mp4, mov, m4a or mp3 (required)")
	f.StringVar(&out.Resolution, "resolution", "", "the output's resolution: 720p, 1080p or 4k (default: the source's)")
	f.IntVar(&out.VideoBitrate, "video-bitrate", 0, "the video bitrate in Mbps: 5, 10, 20 or 50 (default: the API's choice)")
	f.IntVar(&out.AudioBitrate, "audio-bitrate", 0, "the audio bitrate in kbps: 128, 192, 256 or 320 (default: the API's choice)")
	f.StringVar(&cutID, "cut", "", "render this cut of the asset (default: the full source)")
	f.BoolVar(&wait, "wait", false, "wait until the render ends, with its progress; exit 4 when it failed or was cancelled")
	f.StringVar(&download, "download", "", "wait, then save the output to this file")
	return cmd
}

// waitRender waits for a render's end with a bar of its percent and ETA.
func (a *app) waitRender(ctx context.Context, c *client.Client, r *client.Render) (*client.Render, error) {
	a.status("render %s (%s)", r.ID, outputName(r.Output))
	b := a.percentBar("rendering")
	last, err := c.WaitRender(ctx, r.ID, func(r *client.Render) { showRender(b, r) })
	if err != nil {
		b.stop()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("render %s keeps going (renderctl renders ls): %w", r.ID, err)
		}
		return nil, apiErr(err)
	}
	if last.State == client.RenderCompleted {
		b.done()
	} else {
		b.stop()
	}
	return last, nil
}

// showRender moves a render's bar to a poll's answer.
func showRender(b *bar, r *client.Render) {
	// The text first: at 100 % the bar ends its line.
	if r.State == client.RenderCompleted {
		b.describe("rendered")
	} else {
		b.describe(fmt.Sprintf("rendering %-10s", etaText(r)))
	}
	b.set(int64(r.Progress))
}

// finishRender prints a render that ended, and fails unless it completed.
func (a *app) finishRender(r *client.Render) error {
	if err := a.result(r, r.ID); err != nil {
		return err
	}
	if r.State != client.RenderCompleted {
		return failedErr("render %s %s%s", r.ID, r.State, failureText(r.Failure))
	}
	return nil
}

// download saves a completed render's output to tmp with a bar of its
// bytes, then renames tmp to path.
func (a *app) download(ctx context.Context, c *client.Client, r *client.Render, tmp *os.File, path string) error {
	total := int64(-1)
	if r.SizeBytes != nil {
		total = *r.SizeBytes
	}
	b := a.bytesBar("download "+shortName(path), total)
	w := &countingWriter{w: tmp, bar: b}
	if _, err := c.DownloadRender(ctx, r.ID, w); err != nil {
		b.stop()
		if w.err != nil {
			return localErr(fmt.Errorf("writing %s: %w", path, w.err))
		}
		return apiErr(err)
	}
	b.done()
	if err := tmp.Close(); err != nil {
		return localErr(fmt.Errorf("writing %s: %w", path, err))
	}
	// CreateTemp made it 0600; an output is as readable as any new file.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return localErr(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return localErr(err)
	}
	a.status("saved %s (%d bytes)", path, w.n)
	return nil
}

// countingWriter writes to w and moves bar with the bytes written; err is
// w's own failure, to tell it from the download's.
type countingWriter struct {
	w   io.Writer
	bar *bar
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.bar.set(c.n)
	if err != nil {
		c.err = err
	}
	return n, err
}

func rendersCmd(a *app) *cobra.Command {
	var opts client.ListRendersOptions
	var all bool
	ls := &cobra.Command{
		Use:     "ls",
		Short:   "List the account's renders, newest first",
		Example: "  renderctl renders ls --asset ast_123 --state running\n  renderctl renders ls --all --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Limit < 0 || opts.Limit > 100 {
				return usageErr("--limit %d: want 1 to 100", opts.Limit)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var renders []client.Render
			for {
				page, err := c.ListRenders(cmd.Context(), &opts)
				if err != nil {
					return apiErr(err)
				}
				renders = append(renders, page.Data...)
				if !all || page.NextCursor == nil {
					break
				}
				opts.Cursor = *page.NextCursor
			}
			if a.json {
				for i := range renders {
					if err := printJSON(a.stdout, &renders[i]); err != nil {
						return err
					}
				}
				return nil
			}
			return renderTable(a.stdout, renders)
		},
	}
	f := ls.Flags()
	f.StringVar(&opts.AssetID, "asset", "", "only this asset's renders")
	f.StringVar(&opts.State, "state", "", "only renders in this state: pending, running, completed, failed or cancelled")
	f.IntVar(&opts.Limit, "limit", 0, "renders per page, 1 to 100 (default: the API's, 20)")
	f.BoolVar(&all, "all", false, "every page, not only the first")
	return a.group("renders", "Renders of the account", ls)
}

// group is a command that only holds sub, e.g. "renders" of "renders ls":
// alone it is a usage error.
func (a *app) group(use, short string, sub *cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short + " (" + use + " " + sub.Name() + ")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(a.stderr, cmd.UsageString())
			return usageErr("missing subcommand: %s %s", use, sub.Name())
		},
	}
	g.AddCommand(sub)
	return g
}

func cancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel RENDER",
		Short:   "Cancel a pending or running render",
		Example: "  renderctl cancel rnd_123",
		Args:    positional("RENDER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.CancelRender(ctx, args[0]); err != nil {
				return apiErr(err)
			}
			r, err := c.GetRender(ctx, args[0])
			if err != nil {
				return apiErr(err)
			}
			return a.result(r, r.ID)
		},
	}
}
