package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// receiver is the loopback webhook endpoint: it records every delivery by
// its webhook-id (the event id, the same on every retry) and can be taken
// down (connections refused) and brought back on the same address.
type receiver struct {
	addr string

	mu    sync.Mutex
	srv   *http.Server
	got   map[string]int       // webhook-id → deliveries answered 204
	first map[string]time.Time // webhook-id → when it first arrived
}

// receiverAddr is the receiver's address, below the ephemeral port range
// like the api processes' (apiPorts): it listens on it again after an outage.
const receiverAddr = "127.0.0.1:29382"

func newReceiver(addr string) (*receiver, error) {
	r := &receiver{got: map[string]int{}, first: map[string]time.Time{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	return r, nil
}

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	id := req.Header.Get("webhook-id")
	if id == "" {
		http.Error(w, "no webhook-id", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got[id]++
	if _, ok := r.first[id]; !ok {
		r.first[id] = time.Now()
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// down closes the listener and every open connection: senders see
// connection refused until up.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (r *receiver) up() error {
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger a moment
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(errors.New("receiver: listen again"), err)
}

// seen reports how often each of ids was delivered, and the latest first
// arrival among them.
func (r *receiver) seen(ids []string) (counts []int, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	counts = make([]int, len(ids))
	for i, id := range ids {
		counts[i] = r.got[id]
		if t := r.first[id]; t.After(last) {
			last = t
		}
	}
	return counts, last
}

// firstSince is the first arrival of any delivery after t (zero if none).
func (r *receiver) firstSince(t time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best time.Time
	for _, at := range r.first {
		if at.After(t) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	return best
}
