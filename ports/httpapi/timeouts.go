package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Timeouts bounds how long one client may hold a connection. The server
// sets no ReadTimeout or WriteTimeout of its own: one bound cannot fit both
// a JSON request and a 2 GiB upload, so each route sets its connection's
// deadlines per request, by its kind (the route table in server.go).
type Timeouts struct {
	// JSON bounds the arrival of a JSON route's request; its answer must be
	// written within JSON plus Config.ReadYourWrites, room for the wait
	// after a write.
	JSON time.Duration
	// MinRate (bytes per second) is the slowest an upload's body or a
	// download may move, measured over each Window: a transfer that moves
	// less than MinRate × Window bytes in a window is cut off.
	MinRate int64
	Window  time.Duration
}

func (t Timeouts) valid() bool { return t.JSON > 0 && t.MinRate > 0 && t.Window > 0 }

// MaxUploadPause is the longest a live upload goes without writing to the
// blob store: each read of its body returns within one Window, bytes or
// the cut-off (transferBody). A sweep that leaves alone the temporary files
// written more recently (with a margin for the final sync) never takes a
// live upload's file for one a crash left behind.
func (t Timeouts) MaxUploadPause() time.Duration { return t.Window }

// perWindow is how many bytes a transfer must move in a window to keep going.
func (t Timeouts) perWindow() int64 {
	return max(int64(float64(t.MinRate)*t.Window.Seconds()), 1)
}

// routeKind says which deadlines a route's connection gets.
type routeKind int

const (
	// jsonRoute: the request arrives within Timeouts.JSON, the answer leaves
	// within Timeouts.JSON + ReadYourWrites.
	jsonRoute routeKind = iota
	// uploadRoute: the body streams at Timeouts.MinRate at least; once it is
	// in, the rest of the exchange is bounded like a JSON route's.
	uploadRoute
	// downloadRoute: the response streams at Timeouts.MinRate at least.
	downloadRoute
)

// withDeadlines bounds next's connection by kind, through
// http.ResponseController: every wrapper between the server and here must
// offer Unwrap (statusRecorder does).
func (s *server) withDeadlines(kind routeKind, next http.Handler) http.Handler {
	t := s.Timeouts
	exchange := t.JSON + s.ReadYourWrites
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		switch kind {
		case jsonRoute:
			read, end := now.Add(t.JSON), now.Add(exchange)
			if r.Body == nil || r.Body == http.NoBody {
				// Without a body, the server's background read (which
				// notices a client hanging up) runs under the read
				// deadline from the start: one before the write deadline
				// would cancel the request before its answer is due.
				read = end
			} else {
				r.Body = &jsonBody{ReadCloser: r.Body, rc: rc, end: end}
			}
			setDeadlines(rc, read, end)
			next.ServeHTTP(w, r)
		case uploadRoute:
			b := &transferBody{ReadCloser: r.Body, rc: rc, perWindow: t.perWindow(), window: t.Window, answer: t.JSON, exchange: exchange}
			b.extend(now)
			r.Body = b
			next.ServeHTTP(w, r)
		case downloadRoute:
			tw := &transferWriter{ResponseWriter: w, rc: rc, perWindow: t.perWindow(), window: t.Window}
			tw.extend(now)
			next.ServeHTTP(tw, r)
			if tw.cutOff {
				s.Log.InfoContext(r.Context(), "download cut off below the minimum transfer rate", "path", logPath(r),
					"min_rate", t.MinRate, "window", t.Window, "correlation_id", requestID(r.Context()))
			}
		}
	})
}

// setDeadlines sets the connection's read and write deadlines; a zero time
// leaves that one as it is. A writer without a connection (httptest's
// recorder) has nothing to bound, and a closed connection nothing left to
// bound, so their errors are ignored.
func setDeadlines(rc *http.ResponseController, read, write time.Time) {
	if !read.IsZero() {
		_ = rc.SetReadDeadline(read)
	}
	if !write.IsZero() {
		_ = rc.SetWriteDeadline(write)
	}
}

// timedOut reports whether err is a connection deadline passing.
func timedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// jsonBody is a JSON route's request body: a read past the deadline is
// errRequestTimeout (408). Once the body is in, the server clears the read
// deadline for its background read (which notices a client hanging up); it
// is set again to the end of the exchange, where the read deadline of a
// bodiless request is from the start, so that a request whose answer can no
// longer be written stops its work too (its context is cancelled).
type jsonBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	end  time.Time
	done bool
}

func (b *jsonBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF) && !b.done:
		b.done = true
		setDeadlines(b.rc, b.end, time.Time{})
	case timedOut(err):
		err = fmt.Errorf("%w (%w)", errRequestTimeout, err)
	}
	return n, err
}

// transferBody is an upload's body held to the minimum rate: the read
// deadline stays at most one window ahead and moves forward each time a
// window's worth of bytes has arrived, so a client that trickles meets it
// and the read fails with errUploadTooSlow (408). The write deadline follows
// the read deadline at a distance of the JSON timeout, room for an answer
// once the body is given up. When the body is in, both move to the end of a
// JSON exchange: recording the upload and the read-your-writes wait get the
// time a JSON write gets, however long the upload took (see jsonBody).
type transferBody struct {
	io.ReadCloser
	rc               *http.ResponseController
	perWindow        int64
	window           time.Duration
	answer, exchange time.Duration
	moved            int64 // since the deadline last moved
	done             bool
}

func (b *transferBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.moved += int64(n)
	switch {
	case errors.Is(err, io.EOF) && !b.done:
		b.done = true
		end := time.Now().Add(b.exchange)
		setDeadlines(b.rc, end, end)
	case timedOut(err):
		err = fmt.Errorf("%w (%w)", errUploadTooSlow, err)
	case err == nil && b.moved >= b.perWindow:
		b.extend(time.Now())
	}
	return n, err
}

func (b *transferBody) extend(now time.Time) {
	b.moved = 0
	setDeadlines(b.rc, now.Add(b.window), now.Add(b.window+b.answer))
}

// transferWriter is a download's response held to the minimum rate: the
// write deadline stays at most one window ahead and moves forward each time
// a window's worth of bytes has gone out, so a client that stops reading
// (or reads too slowly) meets it; the write fails, the handler returns and
// the server closes the connection. Writes are split at window boundaries:
// one large write must not have to fit in a single window.
type transferWriter struct {
	http.ResponseWriter
	rc        *http.ResponseController
	perWindow int64
	window    time.Duration
	moved     int64 // since the deadline last moved
	cutOff    bool
}

func (w *transferWriter) Write(p []byte) (int, error) {
	var written int
	for len(p) > 0 {
		chunk := p[:min(int64(len(p)), w.perWindow-w.moved)]
		n, err := w.ResponseWriter.Write(chunk)
		written += n
		w.moved += int64(n)
		if err != nil {
			w.cutOff = w.cutOff || timedOut(err)
			return written, err
		}
		if w.moved >= w.perWindow {
			w.extend(time.Now())
		}
		p = p[n:]
	}
	return written, nil
}

func (w *transferWriter) extend(now time.Time) {
	w.moved = 0
	setDeadlines(w.rc, time.Time{}, now.Add(w.window))
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *transferWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
