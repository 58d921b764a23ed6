package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testDesc = prometheus.NewDesc("renderd_test_scraped", "test", []string{"state"}, nil)

// clock is a settable now for the cache's TTL.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestScrape(read ReadFunc, timeout time.Duration) (*Scrape, *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	s := NewScrape(ScrapeConfig{Name: "test", Descs: []*prometheus.Desc{testDesc}, Read: read, TTL: 2 * time.Second, Timeout: timeout})
	s.now = c.now
	return s, c
}

func TestScrape_serves_one_read_for_the_TTL_then_reads_again(t *testing.T) {
	var reads atomic.Int64
	s, c := newTestScrape(func(context.Context) ([]Sample, error) {
		n := reads.Add(1)
		return []Sample{{Desc: testDesc, Value: float64(n), Labels: []string{"pending"}}}, nil
	}, time.Minute)
	for range 3 {
		if got := testutil.ToFloat64(s); got != 1 {
			t.Fatalf("value within the TTL: %v, want the first read's 1", got)
		}
	}
	c.add(2 * time.Second)
	if got := testutil.ToFloat64(s); got != 2 {
		t.Fatalf("value after the TTL: %v, want a second read's 2", got)
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("reads: %d, want 2", n)
	}
}

func TestScrape_a_failed_read_exports_nothing_and_is_not_retried_within_the_TTL(t *testing.T) {
	var reads atomic.Int64
	fail := atomic.Bool{}
	s, c := newTestScrape(func(context.Context) ([]Sample, error) {
		reads.Add(1)
		if fail.Load() {
			return nil, errors.New("database is away")
		}
		return []Sample{{Desc: testDesc, Value: 7, Labels: []string{"pending"}}}, nil
	}, time.Minute)
	if n := testutil.CollectAndCount(s); n != 1 {
		t.Fatalf("series of a working read: %d, want 1", n)
	}
	fail.Store(true)
	c.add(2 * time.Second)
	for range 3 {
		if n := testutil.CollectAndCount(s); n != 0 {
			t.Fatalf("series after a failed read: %d, want none (not the stale 7)", n)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("reads: %d, want 2 (a failure is remembered for the TTL)", n)
	}
}

func TestScrape_a_read_that_hangs_leaves_the_scrape_without_series_and_runs_alone(t *testing.T) {
	release := make(chan struct{})
	var reads atomic.Int64
	s, _ := newTestScrape(func(context.Context) ([]Sample, error) {
		reads.Add(1)
		<-release // a client that ignores its context
		return []Sample{{Desc: testDesc, Value: 1, Labels: []string{"pending"}}}, nil
	}, 10*time.Millisecond)
	for range 3 {
		if n := testutil.CollectAndCount(s); n != 0 {
			t.Fatalf("series while the read hangs: %d, want none", n)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("reads started: %d, want 1 (one at a time)", n)
	}
	close(release)
	// The late answer is fresh when it lands: the next scrape serves it.
	for testutil.CollectAndCount(s) == 0 {
		time.Sleep(time.Millisecond)
	}
}

func TestScrape_a_sample_with_wrong_labels_is_left_out(t *testing.T) {
	s, _ := newTestScrape(func(context.Context) ([]Sample, error) {
		return []Sample{{Desc: testDesc, Value: 1}, {Desc: testDesc, Value: 2, Labels: []string{"running"}}}, nil
	}, time.Minute)
	if n := testutil.CollectAndCount(s); n != 1 {
		t.Fatalf("series: %d, want the one well-formed sample", n)
	}
}
