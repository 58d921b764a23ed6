package httpapi

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/renderd/renderd/domain"
)

// Rate is the shape of a token bucket: Events per Period refill it, up to
// Burst tokens, and each request spends one. The zero Rate is off.
type Rate struct {
	Events int
	Period time.Duration // time.Second or time.Minute
	Burst  int
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Burst == 0 }

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	unit := "s"
	if r.Period == time.Minute {
		unit = "m"
	}
	return fmt.Sprintf("%d/%s,%d", r.Events, unit, r.Burst)
}

// maxRateNumber bounds both numbers of a rate: beyond it, say off.
const maxRateNumber = 1_000_000

// ParseRate reads a rate setting: "<events>/s,<burst>" or
// "<events>/m,<burst>" (per second, per minute), or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Rate{}, nil
	}
	bad := fmt.Errorf("%q: want <events>/s,<burst> or <events>/m,<burst> (like 50/s,100), or off", s)
	spec, burst, ok := strings.Cut(s, ",")
	events, unit, ok2 := strings.Cut(spec, "/")
	if !ok || !ok2 {
		return Rate{}, bad
	}
	var r Rate
	switch strings.TrimSpace(unit) {
	case "s":
		r.Period = time.Second
	case "m":
		r.Period = time.Minute
	default:
		return Rate{}, bad
	}
	var err1, err2 error
	r.Events, err1 = strconv.Atoi(strings.TrimSpace(events))
	r.Burst, err2 = strconv.Atoi(strings.TrimSpace(burst))
	if err1 != nil || err2 != nil {
		return Rate{}, bad
	}
	if r.Events < 1 || r.Burst < 1 || r.Events > maxRateNumber || r.Burst > maxRateNumber {
		return Rate{}, fmt.Errorf("%q: events and burst must be between 1 and %d (or say off)", s, maxRateNumber)
	}
	return r, nil
}

// Limits are the API's rate limits (README, "Limits"). They hold per
// process: behind a load balancer, n API processes allow n times as much.
type Limits struct {
	// Per account, one bucket per route class.
	Reads, Writes, Uploads, Redeliver Rate
	// Anonymous is per client address: requests without a valid key, a
	// key's first use in this process (before its database lookup), and
	// downloads.
	Anonymous Rate
	// TrustedProxies are the proxies whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// routeClass names the per-account bucket a /v1 route spends from; the
// route table gives each route its class.
type routeClass uint8

const (
	classReads     routeClass = iota // GET of JSON resources
	classWrites                      // POST and PUT of JSON, DELETE
	classUploads                     // media bodies
	classRedeliver                   // webhook redeliveries: each one sends a request
	numClasses
)

var classNames = [numClasses]string{"reads", "writes", "uploads", "redeliver"}

// Bounds on the buckets kept per policy. A bucket that is full again is
// dropped (it is what a new one would be); past the bound, a new bucket
// evicts another (see buckets.makeRoom), so a flood of addresses or
// accounts costs a bounded amount of memory (about 150 bytes a bucket).
const (
	maxAccountBuckets = 20_000
	maxAddressBuckets = 100_000
)

// limits holds the buckets of every policy; a nil policy is off.
type limits struct {
	classes   [numClasses]*policy[string]
	anonymous *policy[netip.Addr]
	trusted   []netip.Prefix
	now       func() time.Time
}

func newLimits(l Limits) *limits {
	out := &limits{trusted: l.TrustedProxies, now: l.Now}
	if out.now == nil {
		out.now = time.Now
	}
	for c, r := range [numClasses]Rate{l.Reads, l.Writes, l.Uploads, l.Redeliver} {
		name := classNames[c]
		out.classes[c] = newPolicy(name, r, maxAccountBuckets, maphash.String,
			"too many "+name+" requests for this account (limit "+r.String()+"): retry after the Retry-After seconds")
	}
	out.anonymous = newPolicy("anonymous", l.Anonymous, maxAddressBuckets, hashAddr,
		"too many requests without a valid API key from this address (limit "+l.Anonymous.String()+"): retry after the Retry-After seconds")
	return out
}

// admit spends a token of the account's bucket for class.
func (l *limits) admit(h http.Header, class routeClass, account string) error {
	return l.classes[class].admit(h, account, l.now())
}

// admitAnonymous spends a token of the client address's bucket.
func (l *limits) admitAnonymous(h http.Header, r *http.Request) error {
	if l.anonymous == nil {
		return nil
	}
	return l.anonymous.admit(h, l.clientAddr(r), l.now())
}

// clientAddr keys a request's anonymous bucket: the connection's peer, or,
// when the peer is a trusted proxy, the right-most X-Forwarded-For hop that
// is not one (hops further left are whatever the client wrote). An IPv6
// client counts by its /64, which one host can cycle through at will.
func (l *limits) clientAddr(r *http.Request) netip.Addr {
	client := peerAddr(r.RemoteAddr)
	if !l.isTrusted(client) {
		return bucketAddr(client)
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := hops[i]
		for list != "" {
			var hop string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				list, hop = list[:j], list[j+1:]
			} else {
				list, hop = "", list
			}
			a, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil {
				// A trusted proxy writes addresses: the last hop vouched
				// for is as far as the chain can be believed.
				return bucketAddr(client)
			}
			client = a.Unmap().WithZone("")
			if !l.isTrusted(client) {
				return bucketAddr(client)
			}
		}
	}
	return bucketAddr(client)
}

func (l *limits) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of a connection's peer (the zero Addr when
// RemoteAddr holds none, as on a unix socket: such clients share a bucket).
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

func bucketAddr(a netip.Addr) netip.Addr {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

func hashAddr(seed maphash.Seed, a netip.Addr) uint64 {
	b := a.As16()
	return maphash.Bytes(seed, b[:])
}

// policy is one limit: its name in the RateLimit fields, its rate, and a
// bucket per key (account or address).
type policy[K comparable] struct {
	name    string
	rate    Rate
	limit   rate.Limit
	window  time.Duration // for an empty bucket to fill
	header  []string      // the RateLimit-Policy value
	prefix  string        // the start of the RateLimit value
	message string        // the 429's message
	buckets *buckets[K]
}

func newPolicy[K comparable](name string, r Rate, maxBuckets int, hash func(maphash.Seed, K) uint64, message string) *policy[K] {
	if r.Off() {
		return nil
	}
	limit := rate.Limit(float64(r.Events) / r.Period.Seconds())
	window := time.Duration(r.Burst) * r.Period / time.Duration(r.Events)
	return &policy[K]{
		name: name, rate: r, limit: limit, window: window, message: message,
		header:  []string{policyField(name, int64(r.Burst), window)},
		prefix:  `"` + name + `";r=`,
		buckets: newBuckets(limit, r.Burst, maxBuckets, hash),
	}
}

// admit spends one token of key's bucket. Admitted, the response states the
// policy and what is left of it (RateLimit-Policy, RateLimit), so a client
// can pace itself; refused, the answer is a LimitError for writeError.
func (p *policy[K]) admit(h http.Header, key K, now time.Time) error {
	if p == nil {
		return nil
	}
	ok, tokens := p.buckets.take(key, now)
	if !ok {
		return &domain.LimitError{Code: "rate_limited", Message: p.message, Policy: p.name,
			Quota: int64(p.rate.Burst), Window: p.window, RetryAfter: p.after(1 - tokens)}
	}
	// Canonical keys, set directly: Header.Set would allocate a canonical
	// copy of each name on every request. The policy's value slice is
	// shared by every response (Set and Add replace it, never write into it).
	h["Ratelimit-Policy"] = p.header
	h["Ratelimit"] = []string{p.current(tokens)}
	return nil
}

// current is the RateLimit value for tokens left: r is the whole tokens, t
// the seconds until the bucket is full again.
func (p *policy[K]) current(tokens float64) string {
	var buf [64]byte
	b := append(buf[:0], p.prefix...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(p.after(float64(p.rate.Burst)-tokens)), 10)
	return string(b)
}

// after is how long the bucket takes to refill tokens.
func (p *policy[K]) after(tokens float64) time.Duration {
	return time.Duration(tokens / float64(p.limit) * float64(time.Second))
}

// buckets maps keys to their token buckets (rate.Limiter), in shards so that
// concurrent requests seldom wait on one lock; a bucket is only ever used
// under its shard's lock, so dropping one never races a request spending
// from it.
type buckets[K comparable] struct {
	limit    rate.Limit
	burst    int
	perShard int
	hash     func(maphash.Seed, K) uint64
	seed     maphash.Seed
	shards   [bucketShards]bucketShard[K]
}

const (
	bucketShards = 32
	// sweepEvery is how often a shard drops its full buckets, at the
	// latest: a shard sweeps when it adds a bucket.
	sweepEvery = time.Minute
	// evictSample is how many buckets a full shard weighs to evict one.
	evictSample = 8
)

type bucketShard[K comparable] struct {
	mu    sync.Mutex
	m     map[K]*rate.Limiter
	swept time.Time
}

func newBuckets[K comparable](limit rate.Limit, burst, maxBuckets int, hash func(maphash.Seed, K) uint64) *buckets[K] {
	b := &buckets[K]{limit: limit, burst: burst, perShard: max(maxBuckets/bucketShards, 1), hash: hash, seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].m = map[K]*rate.Limiter{}
	}
	return b
}

// take spends a token of key's bucket at now. It reports whether it could,
// and the tokens left (when not: the fraction of a token there is).
func (b *buckets[K]) take(key K, now time.Time) (bool, float64) {
	s := &b.shards[b.hash(b.seed, key)%bucketShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	lim := s.m[key]
	if lim == nil {
		b.makeRoom(s, now)
		lim = rate.NewLimiter(b.limit, b.burst)
		s.m[key] = lim
	}
	ok := lim.AllowN(now, 1)
	return ok, lim.TokensAt(now)
}

// makeRoom keeps a shard within its bound before it adds a bucket. It drops
// the buckets that are full again (now and then, or when the shard is at
// its bound, at most once a second); if that frees nothing, it evicts the
// fullest of a few buckets: that loses the least, and a drained bucket (a
// flooder's) is the last to go. An evicted key starts again with a full
// bucket, which is no more than any new key gets.
func (b *buckets[K]) makeRoom(s *bucketShard[K], now time.Time) {
	since := now.Sub(s.swept)
	if since >= sweepEvery || (len(s.m) >= b.perShard && since >= time.Second) {
		s.swept = now
		for k, lim := range s.m {
			if lim.TokensAt(now) >= float64(b.burst) {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) < b.perShard {
		return
	}
	var (
		victim K
		most   = -1.0
		n      int
	)
	for k, lim := range s.m { // map order is random: a fair sample
		if t := lim.TokensAt(now); t > most {
			victim, most = k, t
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.m, victim)
}

// size is the number of buckets held, for tests.
func (b *buckets[K]) size() int {
	n := 0
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
