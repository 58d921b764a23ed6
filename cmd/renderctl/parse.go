package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/renderd/renderd/client"
)

// parseSegment reads START:END, seconds (decimals allowed) of a kept span:
// "1:3" keeps from 1 s to 3 s. END must lie after START.
func parseSegment(s string) (client.Segment, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return client.Segment{}, fmt.Errorf("segment %q: want START:END in seconds, e.g. 1:3 or 0.5:2.25", s)
	}
	start, err := parseSeconds(a)
	if err != nil {
		return client.Segment{}, fmt.Errorf("segment %q: start: %w", s, err)
	}
	end, err := parseSeconds(b)
	if err != nil {
		return client.Segment{}, fmt.Errorf("segment %q: end: %w", s, err)
	}
	if end <= start {
		return client.Segment{}, fmt.Errorf("segment %q: the end (%gs) must come after the start (%gs)", s, end, start)
	}
	return client.Segment{Start: start, End: end}, nil
}

func parseSeconds(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is no number of seconds", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return v, nil
}

// parseSegments reads every --segment value, in the order given.
func parseSegments(values []string) ([]client.Segment, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("no --segment given: name the spans to keep, e.g. --segment 1:3 --segment 5:8")
	}
	segs := make([]client.Segment, 0, len(values))
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			seg, err := parseSegment(part)
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

// audioExtensions are the file extensions upload takes for an audio asset
// when --kind is not given; anything else is a video.
var audioExtensions = map[string]bool{
	".mp3": true, ".m4a": true, ".aac": true, ".wav": true, ".flac": true, ".ogg": true,
	".oga": true, ".opus": true, ".wma": true, ".aif": true, ".aiff": true,
}

// assetKind is --kind when given (video or audio), else the file's kind by
// its extension.
func assetKind(flag, file string) (string, error) {
	switch flag {
	case "video", "audio":
		return flag, nil
	case "":
		if audioExtensions[strings.ToLower(filepath.Ext(file))] {
			return "audio", nil
		}
		return "video", nil
	}
	return "", fmt.Errorf("--kind %q: want video or audio", flag)
}

// openFile opens a file to upload, or says why it cannot be (a usage
// error: the argument names no readable file).
func openFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// printJSON prints v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return localErr(fmt.Errorf("encode JSON: %w", err))
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// result prints a command's result: v as JSON with --json, else the plain
// line.
func (a *app) result(v any, plain string) error {
	if a.json {
		return printJSON(a.stdout, v)
	}
	_, err := fmt.Fprintln(a.stdout, plain)
	return err
}

// renderTable prints renders as aligned columns under a header.
func renderTable(w io.Writer, renders []client.Render) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tPROGRESS\tOUTPUT\tASSET\tCUT\tCREATED")
	for _, r := range renders {
		fmt.Fprintf(tw, "%s\t%s\t%d%%\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Progress, outputName(r.Output),
			r.AssetID, orDash(r.CutID), r.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// outputName is an output's format and resolution, e.g. "mp4 720p".
func outputName(o client.RenderOutput) string {
	s := o.Format
	if o.Resolution != "" {
		s += " " + o.Resolution
	}
	return s
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// failureText says why an asset or render failed, when it says.
func failureText(f *client.Failure) string {
	if f == nil {
		return ""
	}
	return ": " + f.Code + ": " + f.Message
}

// etaText is a render's ETA for the bar, or "" when the server gives none.
func etaText(r *client.Render) string {
	if r.State == client.RenderPending {
		return "queued"
	}
	if r.ETASeconds == nil {
		return ""
	}
	return "ETA " + (time.Duration(math.Round(*r.ETASeconds)) * time.Second).String()
}

// shortName is a file's base name for a bar's description, cut to 24
// characters: progressbar narrows the bar to the terminal's width, and a
// long name would leave it no room on 80 columns.
func shortName(path string) string {
	const most = 24
	name := []rune(filepath.Base(path))
	if len(name) <= most {
		return string(name)
	}
	return string(name[:most-1]) + "…"
}
