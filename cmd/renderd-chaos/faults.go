package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// measure is one recovery figure of a fault and its bound.
type measure struct {
	what  string
	took  time.Duration
	bound time.Duration
	err   error // not recovered within the bound, or the fault could not be injected
}

func (m measure) ok() bool { return m.err == nil && m.took <= m.bound }

// fault is injected while renders flow; run returns its recovery figures.
type fault struct {
	name string
	run  func(ctx context.Context, h *harness, ph *phase) []measure
}

// Recovery bounds. Each says what is measured from what; the README's
// "make chaos" section repeats them.
const (
	// After a dependency blip shorter than a second the relay publishes
	// again within a second of the dependency's return, however many
	// outages came before.
	relayAfterBlip = time.Second
	// A killed relay leader: its session lock goes with its connection and
	// the standby bids for the lock every 250 ms.
	relayAfterKill = 2 * time.Second
	// Kafka is down for its clean stop and a JVM start: its producers and
	// consumers reconnect with their own backoff.
	relayAfterKafka = 5 * time.Second
	// A Kafka node killed with SIGKILL stays down this long. Its
	// partitions keep it as their leader until the controller fences it,
	// when its heartbeats have been missing for broker.session.timeout.ms
	// (Kafka's default, 9 s); then the controller elects leaders among the
	// in-sync replicas, and producers and consumers find them at their next
	// metadata refresh; a consumer group whose coordinator was on the node
	// rejoins on the new one. Publishing and consuming may stall that long
	// and a few seconds more, well short of the whole outage: a consumer
	// that waits for the node's return fails the bound.
	brokerDown  = 25 * time.Second
	brokerStall = 18 * time.Second
	// The restarted node catches up on what was written without it and is
	// back in the in-sync replicas of every partition it holds.
	brokerRejoins = 30 * time.Second
	// Postgres stays down this long after its crash (a machine restarting).
	// The relay's retries are at most 500 ms apart however long an outage
	// lasts, so it publishes again within a second or two of the return
	// (crash recovery may still be replaying the WAL when the first
	// connection is let in).
	pgCrashDown     = 8 * time.Second
	relayAfterCrash = 2 * time.Second
	// A render completes after a dependency's return: one short encode.
	renderAfterBlip  = 10 * time.Second
	renderAfterKafka = 15 * time.Second
	// A restarted api process answers a render request.
	apiServes = 15 * time.Second
	// A restarted projector (or webhooks process) rejoins its consumer
	// group, whose dead member's session must time out first.
	consumerBack = 20 * time.Second
	// The renders a killed encoder held are taken up when their lease
	// (RENDERD_ENCODER_LEASE) runs out, and encoded again.
	encoderTakeover = encoderLease + 15*time.Second
	// Deliveries that failed during a receiver outage arrive with the
	// schedule's retries (RENDERD_WEBHOOK_SCHEDULE's default). The bound
	// holds for short first steps, 5 s then 30 s (±20 %): a delivery that
	// failed twice arrives within 42 s. A schedule whose second step is
	// minutes fails this row, as it keeps clients waiting that long.
	receiverOutage  = 10 * time.Second
	receiverCatchUp = 45 * time.Second
)

var faults = []fault{
	{"kill-api", killAPI},
	{"kill-relay", killRelay},
	{"kill-projector", killConsumer("projector", "read model shows a completion after the restart", func(h *harness, since time.Time) (time.Time, bool) {
		return h.projectedSince(since)
	})},
	{"kill-encoder", killEncoder},
	{"kill-webhooks", killConsumer("webhooks", "a webhook arrives after the restart", func(h *harness, since time.Time) (time.Time, bool) {
		t := h.recv.firstSince(since)
		return t, !t.IsZero()
	})},
	{"broker-stop", brokerStop},
	{"kafka-restart", kafkaRestart},
	// The crash first: its outage is long enough for every retry loop to
	// back off far, and the fast restart after it shows whether they start
	// afresh after a good session (the 1 s target holds however many
	// outages came before).
	{"pg-sigkill", pgKill},
	{"pg-restart-fast", pgRestartFast},
	{"receiver-outage", receiverDown},
}

// giveUp is how long poll waits past a bound, so that a late recovery is
// measured (and printed) rather than only called late.
func giveUp(bound time.Duration) time.Duration { return max(2*bound, bound+45*time.Second) }

// poll measures from since until probe says when it happened, or giveUp.
func (h *harness) poll(ctx context.Context, what string, since time.Time, bound time.Duration, probe func() (time.Time, bool)) measure {
	m := measure{what: what, bound: bound}
	var at time.Time
	_, err := waitUntil(ctx, giveUp(bound), 25*time.Millisecond, func() bool {
		t, ok := probe()
		at = t
		return ok
	})
	if err != nil {
		m.err = fmt.Errorf("%s: %w", what, err)
		return m
	}
	m.took = max(at.Sub(since), 0)
	return m
}

func (h *harness) relayMeasure(ctx context.Context, since time.Time, bound time.Duration) measure {
	return h.poll(ctx, "relay publishes", since, bound, func() (time.Time, bool) { return h.relayCheckpointSince(ctx, since) })
}

func (h *harness) renderMeasure(ctx context.Context, since time.Time, bound time.Duration) measure {
	return h.poll(ctx, "a render completes", since, bound, func() (time.Time, bool) { return h.completedSince(ctx, since) })
}

func failed(what string, err error) []measure {
	return []measure{{what: what, err: err}}
}

// killAPI kills api-1 while requests reach it, and restarts it a second later.
func killAPI(ctx context.Context, h *harness, ph *phase) []measure {
	p := h.fleet.byName("api-1")
	p.kill9()
	time.Sleep(time.Second)
	if err := p.start(); err != nil {
		return failed("restart", err)
	}
	back := time.Now()
	return []measure{h.poll(ctx, "the restarted api answers a render request", back, apiServes, func() (time.Time, bool) {
		t := ph.load.servedSince(p.httpAddr, back)
		return t, !t.IsZero()
	})}
}

// killRelay kills the relay that leads; the standby must take over. It is
// measured from the kill; the killed one restarts a second later as the
// new standby.
func killRelay(ctx context.Context, h *harness, _ *phase) []measure {
	p := h.fleet.relayLeader()
	if p == nil {
		return failed("find the leader", errors.New("no relay process says it leads"))
	}
	p.kill9()
	killed := time.Now()
	restarted := make(chan error, 1)
	go func() { time.Sleep(time.Second); restarted <- p.start() }()
	m := h.relayMeasure(ctx, killed, relayAfterKill)
	m.what = "the standby relay publishes after the kill of " + p.name
	if err := <-restarted; err != nil {
		return failed("restart", err)
	}
	return []measure{m}
}

// killConsumer kills a single-process consumer role and restarts it a
// second later; recovered says when its work showed again.
func killConsumer(name, what string, recovered func(h *harness, since time.Time) (time.Time, bool)) func(context.Context, *harness, *phase) []measure {
	return func(ctx context.Context, h *harness, _ *phase) []measure {
		p := h.fleet.byName(name)
		p.kill9()
		time.Sleep(time.Second)
		if err := p.start(); err != nil {
			return failed("restart", err)
		}
		back := time.Now()
		return []measure{h.poll(ctx, what, back, consumerBack, func() (time.Time, bool) { return recovered(h, back) })}
	}
}

// killEncoder kills encoder-1 while it encodes; the renders it held must be
// encoded again by the other encoder (or itself, restarted) and completed.
func killEncoder(ctx context.Context, h *harness, ph *phase) []measure {
	p := h.fleet.byName("encoder-1")
	var held []string
	if _, err := waitUntil(ctx, 20*time.Second, 20*time.Millisecond, func() bool {
		held = h.runningOn(ctx, p.pid())
		return len(held) > 0
	}); err != nil {
		return failed("encoder-1 holds a render", err)
	}
	pid := p.pid()
	p.kill9()
	killed := time.Now()
	ph.killed = &killedEncoder{name: p.name, pid: pid, at: killed, held: held}
	time.Sleep(time.Second)
	if err := p.start(); err != nil {
		return failed("restart", err)
	}
	return []measure{h.poll(ctx, fmt.Sprintf("the %d renders encoder-1 held complete", len(held)), killed, encoderTakeover,
		func() (time.Time, bool) { return h.terminalAt(ctx, held) })}
}

// brokerStop kills (SIGKILL) the Kafka node that leads the most partitions
// while renders flow, keeps it down brokerDown and starts it again. The
// other two hold a copy of every partition and min.insync.replicas 2 of 3
// lets them acknowledge writes meanwhile: publishing and consuming may
// stall while leadership moves, at most brokerStall, and nothing written
// is lost (the checks after every fault, and every event on Kafka).
func brokerStop(ctx context.Context, h *harness, ph *phase) []measure {
	if h.stack.nodes() < 3 {
		return failed("a 3-node cluster", fmt.Errorf("the stack has %d Kafka node(s): RENDERD_KAFKA_NODES=3 (make chaos sets it)", h.stack.nodes()))
	}
	node, led, err := h.stack.leaderOfMost()
	if err != nil {
		return failed("find the leader of the most partitions", err)
	}
	if err := h.stack.killKafkaNode(node); err != nil {
		return failed(fmt.Sprintf("kill -9 of Kafka node %d", node), err)
	}
	killed := time.Now()
	fmt.Fprintf(os.Stderr, "   killed Kafka node %d, the leader of %d partitions\n", node, led)
	publish, consume := h.stalls(ctx, ph.t.accountID, killed, killed.Add(brokerDown))
	ms := []measure{
		{what: fmt.Sprintf("node %d (led %d partitions) down %s; publishing stalled at most", node, led, brokerDown), took: publish, bound: brokerStall},
		{what: "consuming (the read model) stalled at most", took: consume, bound: brokerStall},
	}
	upErr := make(chan error, 1)
	go func() { upErr <- h.stack.up(ctx) }()
	// Back: the node registered again (a JVM's start, not measured).
	back, err := waitUntil(ctx, 3*time.Minute, 100*time.Millisecond, func() bool { return h.stack.kafkaRunning() && h.stack.nodeRegistered(node) })
	if err != nil {
		return append(ms, measure{what: fmt.Sprintf("node %d registers again", node), err: err})
	}
	ms = append(ms, h.poll(ctx, fmt.Sprintf("node %d back → in every in-sync replica set", node), back, brokerRejoins,
		func() (time.Time, bool) { return time.Now(), h.stack.replicatedOn(node) }))
	if err := <-upErr; err != nil {
		ms = append(ms, measure{what: "deployments/local/up", err: err})
	}
	return ms
}

// stalls watches the relay and the render projector from since until
// until, and returns the longest spell in which the relay published
// nothing (it saves a checkpoint after each batch) and the longest in
// which the account's render read model moved no row (renders are
// requested throughout, so both have work all along).
func (h *harness) stalls(ctx context.Context, account string, since, until time.Time) (publish, consume time.Duration) {
	lastPub, lastCon := since, since
	sum := int64(-1)
	for time.Now().Before(until) && ctx.Err() == nil {
		if at, ok := h.relayCheckpointSince(ctx, lastPub); ok {
			publish = max(publish, at.Sub(lastPub))
			lastPub = at
		}
		var s int64
		if err := h.pool.QueryRow(ctx, `SELECT coalesce(sum(version), 0) FROM rm_renders WHERE account_id = $1`, account).Scan(&s); err == nil {
			if sum >= 0 && s > sum {
				now := time.Now()
				consume = max(consume, now.Sub(lastCon))
				lastCon = now
			}
			sum = s
		}
		time.Sleep(100 * time.Millisecond)
	}
	end := time.Now()
	return max(publish, end.Sub(lastPub)), max(consume, end.Sub(lastCon))
}

// kafkaRestart stops every Kafka node cleanly and starts them again.
func kafkaRestart(ctx context.Context, h *harness, _ *phase) []measure {
	if err := h.stack.stopKafka(); err != nil {
		return failed("stop kafka", err)
	}
	upErr := make(chan error, 1)
	go func() { upErr <- h.stack.up(ctx) }()
	back, err := waitUntil(ctx, 120*time.Second, 100*time.Millisecond, h.stack.kafkaUp)
	if err != nil {
		return failed("kafka back", err)
	}
	ms := []measure{h.relayMeasure(ctx, back, relayAfterKafka), h.renderMeasure(ctx, back, renderAfterKafka)}
	if err := <-upErr; err != nil {
		return failed("deployments/local/up", err)
	}
	return ms
}

// pgOutage runs act (which takes Postgres down and brings it back) and
// returns when Postgres answered again: the first successful probe after
// one failed, or act's end if no probe saw it down.
func (h *harness) pgOutage(ctx context.Context, act func() error) (time.Time, error) {
	done := make(chan error, 1)
	go func() { done <- act() }()
	var (
		sawDown bool
		back    time.Time
	)
	for {
		select {
		case err := <-done:
			if err != nil {
				return time.Time{}, err
			}
			if !sawDown {
				return time.Now(), nil
			}
			if back.IsZero() {
				var werr error
				if back, werr = waitUntil(ctx, 60*time.Second, 10*time.Millisecond, func() bool { return h.stack.pgUp(ctx) }); werr != nil {
					return time.Time{}, werr
				}
			}
			return back, nil
		default:
		}
		up := h.stack.pgUp(ctx)
		switch {
		case !up:
			sawDown = true
		case sawDown && back.IsZero():
			back = time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pgRestartFast(ctx context.Context, h *harness, _ *phase) []measure {
	back, err := h.pgOutage(ctx, func() error { return h.stack.pgCtl(ctx, "-m", "fast", "restart") })
	if err != nil {
		return failed("pg_ctl restart -m fast", err)
	}
	return []measure{h.relayMeasure(ctx, back, relayAfterBlip), h.renderMeasure(ctx, back, renderAfterBlip)}
}

func pgKill(ctx context.Context, h *harness, _ *phase) []measure {
	back, err := h.pgOutage(ctx, func() error {
		if err := h.stack.killPostgres(); err != nil {
			return err
		}
		time.Sleep(pgCrashDown)
		return h.stack.startPostgres(ctx)
	})
	if err != nil {
		return failed("kill -9 and start postgres", err)
	}
	return []measure{h.relayMeasure(ctx, back, relayAfterCrash), h.renderMeasure(ctx, back, renderAfterKafka)}
}

// receiverDown takes the receiver down for receiverOutage; every render
// that ended before it came back must be announced within receiverCatchUp.
// Its measure needs no new renders: they stop coolDown after its return.
func receiverDown(ctx context.Context, h *harness, ph *phase) []measure {
	h.recv.down()
	time.Sleep(receiverOutage)
	if err := h.recv.up(); err != nil {
		return failed("receiver up", err)
	}
	back := time.Now()
	ph.back()
	ids, err := h.terminalEventIDs(ctx, ph.t.accountID)
	if err != nil {
		return failed("terminal events", err)
	}
	return []measure{h.poll(ctx, fmt.Sprintf("the %d webhooks of renders ended before its return arrive", len(ids)), back, receiverCatchUp,
		func() (time.Time, bool) {
			counts, last := h.recv.seen(ids)
			for _, c := range counts {
				if c == 0 {
					return time.Time{}, false
				}
			}
			return last, true
		})}
}

func describe(ms []measure) (recovery, bound string, ok bool) {
	var r, b []string
	ok = true
	for _, m := range ms {
		switch {
		case m.err != nil && m.bound == 0:
			r = append(r, "error: "+m.err.Error())
		case m.err != nil:
			r = append(r, fmt.Sprintf("%s: not within %s", m.what, giveUp(m.bound)))
		default:
			r = append(r, fmt.Sprintf("%s: %s", m.what, m.took.Round(10*time.Millisecond)))
		}
		if m.bound > 0 {
			b = append(b, "≤ "+m.bound.String())
		}
		ok = ok && m.ok()
	}
	return strings.Join(r, "; "), strings.Join(b, "; "), ok
}
