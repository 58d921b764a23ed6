package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Scraped names the gauges read from a table or a broker when Prometheus
// scrapes (the render queue, the relay's lag, the consumer groups' lag).
// Each is read by one function; the collector keeps what it read for TTL, so
// that any number of scrapes (several Prometheus servers, a dashboard's
// refresh) cost the database or the broker one read per TTL.
var (
	RenderQueueDepthDesc = prometheus.NewDesc("renderd_render_queue_depth",
		"Renders in the encoders' queue, by state (pending, running).", []string{"state"}, nil)
	RenderQueueOldestDesc = prometheus.NewDesc("renderd_render_queue_oldest_pending_seconds",
		"Age of the oldest render waiting for an encoder; 0 when none waits.", nil, nil)
	RelayLagDesc = prometheus.NewDesc("renderd_relay_lag_seconds",
		"Age of the oldest committed event the relay has not yet published to Kafka; 0 when caught up.", nil, nil)
	ConsumerLagDesc = prometheus.NewDesc("renderd_consumer_lag_messages",
		"Messages a consumer group has yet to consume, summed over the topic's partitions (high-water mark less committed offset).",
		[]string{"group", "topic"}, nil)
)

// Desc is a family's description, so that the adapters defining reads
// need not import the client library for it.
type Desc = prometheus.Desc

// Sample is one gauge value a read returns: its family's Desc and its
// label values, in the Desc's order.
type Sample struct {
	Desc   *prometheus.Desc
	Value  float64
	Labels []string
}

// ReadFunc reads a collector's samples. It is given a context bounded by
// the collector's timeout; a read that ignores it (a client without
// contexts) is waited for no longer than that all the same. A read that
// fails in part (one consumer group of several) returns the samples it
// could read and an error naming what it left out; one that fails whole
// returns none.
type ReadFunc func(ctx context.Context) ([]Sample, error)

// ScrapeConfig tunes a Scrape collector.
type ScrapeConfig struct {
	Name    string             // names the collector in its log lines
	Descs   []*prometheus.Desc // every family the read may return
	Read    ReadFunc
	TTL     time.Duration // how long a read's answer serves scrapes
	Timeout time.Duration // how long a scrape waits for a read
	Log     *slog.Logger
	// LogEvery bounds the failure lines to one per this long (default a
	// minute): a database or broker that is down fails every read.
	LogEvery time.Duration
}

// Scrape is a collector of gauges read at scrape time, cached for a TTL.
// A scrape never waits longer than the timeout: the read runs on its own
// goroutine, and one that has not answered by then leaves the scrape
// without these series. A failed or late read exports nothing rather than
// the last numbers, which would look current and be stale; its failure is
// remembered for the TTL too, so that a dependency that is down is not
// asked again by every scrape. Only one read runs at a time.
type Scrape struct {
	cfg ScrapeConfig
	now func() time.Time

	mu       sync.Mutex
	samples  []Sample
	readAt   time.Time     // when samples (or a failure) were last read; zero: never
	inFlight chan struct{} // closed when the running read ends; nil: none runs
	loggedAt time.Time
}

// NewScrape returns the collector; register it with Register for the
// lifetime of the role that owns what it reads.
func NewScrape(cfg ScrapeConfig) *Scrape {
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Scrape{cfg: cfg, now: time.Now}
}

// Describe sends the families the read may return.
func (s *Scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.cfg.Descs {
		ch <- d
	}
}

// Collect sends the cached samples, reading them afresh once they are
// older than the TTL.
func (s *Scrape) Collect(ch chan<- prometheus.Metric) {
	for _, smp := range s.Samples() {
		m, err := prometheus.NewConstMetric(smp.Desc, prometheus.GaugeValue, smp.Value, smp.Labels...)
		if err != nil {
			s.logFailure(err) // a read that returned labels its Desc lacks: a bug, but not the scrape's end
			continue
		}
		ch <- m
	}
}

// Samples returns what a scrape exports now: the cached answer, or a new
// read's if the cache is older than the TTL and the read answers within
// the timeout; nothing after a failed or late read.
func (s *Scrape) Samples() []Sample {
	s.mu.Lock()
	if !s.readAt.IsZero() && s.now().Sub(s.readAt) < s.cfg.TTL {
		out := s.samples
		s.mu.Unlock()
		return out
	}
	done := s.inFlight
	if done == nil {
		done = make(chan struct{})
		s.inFlight = done
		go s.read(done)
	}
	s.mu.Unlock()

	t := time.NewTimer(s.cfg.Timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return nil // still reading: the next scrape may find its answer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// read runs one read and keeps its answer (none on failure) for the TTL.
func (s *Scrape) read(done chan struct{}) {
	// Bounded, but not by the scrape's timeout alone: a read that misses
	// one scrape still finishes for the next within a few of them.
	ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.Timeout, s.cfg.TTL))
	samples, err := s.cfg.Read(ctx)
	cancel()
	if err != nil {
		s.logFailure(err) // samples holds what the read could answer for, if anything
	}
	s.mu.Lock()
	s.samples, s.readAt, s.inFlight = samples, s.now(), nil
	s.mu.Unlock()
	close(done)
}

func (s *Scrape) logFailure(err error) {
	s.mu.Lock()
	now := s.now()
	due := s.loggedAt.IsZero() || now.Sub(s.loggedAt) >= s.cfg.LogEvery
	if due {
		s.loggedAt = now
	}
	s.mu.Unlock()
	if due {
		s.cfg.Log.Warn("reading metrics failed; their series are left out until a read works", "collector", s.cfg.Name, "err", err,
			"next_log_after", s.cfg.LogEvery)
	}
}
