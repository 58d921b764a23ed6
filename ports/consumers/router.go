// Package consumers wires renderd's Kafka consumers: a watermill router whose
// handlers decode CloudEvents records back into recorded domain events and
// hand them to the projections (projector role) or the media worker
// (encoder role). Handlers publish nothing: anything they decide goes
// through commands into the event store.
package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/telemetry"
)

// Consumer-group names, one per handler; each also names its handler. They
// are a public contract: Kafka keeps every group's committed offsets, so a
// renamed group starts over at the topic's oldest record and re-reads the
// whole topic. The projections are version-guarded, so that changes no row,
// but it takes as long as the topic is big. Bump the suffix only to force
// exactly that re-read.
const (
	AssetsProjectorGroup  = "renderd.projector.assets.v1"
	CutsProjectorGroup    = "renderd.projector.cuts.v1"
	RendersProjectorGroup = "renderd.projector.renders.v1"
	AssetsMediaGroup      = "renderd.media.assets.v1"
	CutsMediaGroup        = "renderd.media.cuts.v1"
	RendersEncoderGroup   = "renderd.encoder.renders.v1"
	RendersWebhooksGroup  = "renderd.webhooks.renders.v1"
)

// EventHandler handles one recorded event; it must be idempotent (Kafka
// delivers at least once).
type EventHandler interface {
	Handle(ctx context.Context, rec domain.Recorded) error
}

// Handler is one consumer: a consumer group on an aggregate's topic.
type Handler struct {
	Group     string
	Aggregate domain.AggregateType
	Handle    EventHandler
	// Timeout bounds one event's handling.
	Timeout time.Duration
}

// ProjectorHandlers are the projector role's consumers.
func ProjectorHandlers(p Projections) []Handler {
	return []Handler{
		{AssetsProjectorGroup, domain.AggregateAsset, p.Assets, 30 * time.Second},
		{CutsProjectorGroup, domain.AggregateCut, p.Cuts, 30 * time.Second},
		{RendersProjectorGroup, domain.AggregateRender, p.Renders, 30 * time.Second},
	}
}

// MediaHandlers are the encoder role's media-worker consumers: uploads and
// automatic cuts are hints to claim their media jobs (ffprobe and
// silencedetect run in the worker's pool, never on a partition), and cuts
// that need no media tool are completed or failed inline, a few short
// transactions per event.
func MediaHandlers(worker EventHandler) []Handler {
	return []Handler{
		{AssetsMediaGroup, domain.AggregateAsset, worker, 30 * time.Second},
		{CutsMediaGroup, domain.AggregateCut, worker, 30 * time.Second},
	}
}

// EncoderHandlers are the encoder role's render consumer: a new or retried
// render is a hint to claim it. The handler only passes the hint on (the
// encode runs in the worker's pool), so a partition never waits for ffmpeg.
func EncoderHandlers(worker EventHandler) []Handler {
	return []Handler{{RendersEncoderGroup, domain.AggregateRender, worker, 10 * time.Second}}
}

// WebhookHandlers are the webhooks role's consumer: render.completed and
// render.failed become deliveries.
func WebhookHandlers(deliveries EventHandler) []Handler {
	return []Handler{{RendersWebhooksGroup, domain.AggregateRender, deliveries, 30 * time.Second}}
}

// Decoder turns CloudEvents attributes and data back into a recorded domain
// event. *eventschema.Codec implements it.
type Decoder interface {
	RecordedFromAttributes(attrs map[string]string) (domain.Recorded, string, error)
	Unmarshal(wireName string, data []byte) (domain.Event, error)
}

// Projections are the read models the projector role keeps up to date.
type Projections struct {
	Assets  EventHandler
	Cuts    EventHandler
	Renders EventHandler
}

// Config is the Kafka side of the router.
type Config struct {
	Brokers []string
	Topics  kafka.Topics
	// GroupPrefix is put before every consumer-group name. Production leaves
	// it empty; tests, and deployments sharing one Kafka cluster under
	// different topic prefixes, set it so that their groups do not mix.
	GroupPrefix string
	// ClientID names the Kafka clients (default "renderd-consumer").
	ClientID string
	// Unavailable tells a handler error that is a dependency outage (the
	// database restarting) from a bug, so that an outage is logged once,
	// not per message (cmd/renderd wires postgres.IsUnavailable); nil
	// counts only domain.ErrUnavailable.
	Unavailable func(error) bool
}

// Retry policy for transient failures (the database briefly away). After
// the last attempt the message is nacked and redelivered after
// nackResendSleep, for as long as it takes: while the read-model database is
// down nothing can be projected anyway, and skipping would lose the update.
const (
	retryAttempts   = 4
	retryInitial    = 100 * time.Millisecond
	retryMax        = time.Second
	nackResendSleep = time.Second
)

// undecodableKey flags a message whose Kafka record was not a CloudEvent.
// CloudEvents attribute names cannot contain '-', so it never clashes with
// an attribute.
const undecodableKey = "renderd-undecodable"

// errUndecodable marks a message that can never become a domain event.
var errUndecodable = errors.New("undecodable message")

// Router runs a set of consumers.
type Router struct {
	router  *message.Router
	subs    []*wmkafka.Subscriber
	members []member
	groups  []kafka.GroupTopic
	cfg     Config
	log     *slog.Logger
}

// member is a subscriber's static membership of its consumer group, and
// its count of live group sessions.
type member struct {
	group, instanceID string
	sessions          *atomic.Int32
}

// NewRouter builds the router: for each handler one consumer group on its
// aggregate's topic.
func NewRouter(cfg Config, codec Decoder, handlers []Handler, log *slog.Logger) (*Router, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("consumers: no Kafka brokers")
	case codec == nil || len(handlers) == 0:
		return nil, errors.New("consumers: a decoder and handlers are required")
	}
	for _, h := range handlers {
		if h.Handle == nil || h.Group == "" || h.Timeout <= 0 {
			return nil, fmt.Errorf("consumers: handler %q is incomplete", h.Group)
		}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "renderd-consumer"
	}
	down := dependencyDown(cfg.Unavailable)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, routerLogger{watermillLogger(log), down})
	if err != nil {
		return nil, fmt.Errorf("consumers: %w", err)
	}
	// The first middleware is the outermost: panics become errors,
	// transient errors are retried (a dependency outage logged once, by
	// its handler's tracker), and what is permanent is logged and
	// acknowledged so that it cannot block its partition.
	router.AddMiddleware(skipPermanent(log), retry(newHandlerTrackers(handlers, log), down, log), recoverPanic)

	r := &Router{router: router, cfg: cfg, log: log}
	for _, h := range handlers {
		r.groups = append(r.groups, kafka.GroupTopic{Group: cfg.GroupPrefix + h.Group, Topic: cfg.Topics.For(h.Aggregate)})
		sc, wmlog, sessions := subscriberConfig(cfg, cfg.GroupPrefix+h.Group, log)
		sub, err := wmkafka.NewSubscriber(sc, wmlog)
		if err != nil {
			return nil, fmt.Errorf("consumers: %s: %w", h.Group, err)
		}
		r.subs = append(r.subs, sub)
		r.members = append(r.members, member{sc.ConsumerGroup, sc.OverwriteSaramaConfig.Consumer.Group.InstanceId, sessions})
		router.AddConsumerHandler(h.Group, cfg.Topics.For(h.Aggregate), sub, handle(codec, h.Handle, h.Timeout, h.Group))
	}
	return r, nil
}

// Groups are the router's consumer groups (prefixed, as Kafka knows
// them) and their topics: what its consumer-lag gauges read.
func (r *Router) Groups() []kafka.GroupTopic { return r.groups }

// Run consumes until ctx ends, then stops gracefully: projections in flight
// are finished and the consumer groups left (an acknowledgement that comes
// too late for the closed session only means one harmless redelivery). It
// returns an error only if the router stopped by itself.
func (r *Router) Run(ctx context.Context) error {
	done := make(chan error, 1)
	// The router gets a context that ctx's end does not cancel: cancelling
	// it would drop in-flight messages and leave the subscribers' group
	// sessions to time out; Close stops it in order instead.
	go func() { done <- r.router.Run(context.WithoutCancel(ctx)) }()
	select {
	case err := <-done:
		r.closeSubscribers()
		if err == nil {
			err = errors.New("every handler stopped")
		}
		return fmt.Errorf("projector router: %w", err)
	case <-ctx.Done():
	}
	// Closing a router that is still starting races its start-up.
	select {
	case <-r.router.Running():
	case err := <-done:
		r.closeSubscribers()
		return err
	}
	closeErr := r.router.Close()
	runErr := <-done
	r.closeSubscribers()
	return errors.Join(runErr, closeErr)
}

// Ready reports whether every consumer group of the router has a live
// session: this process's member joined, the group settled, and the member
// holds its partitions (none, when the group has more members than the
// topic has partitions: a hot spare is ready too). Until then an event
// just written may wait for the group to form before it is handled, which
// is what keeps a fresh process from promising read-your-writes.
//
// The answer is the router's own state, kept by the session hooks
// (sessionTracer), so a probe costs Kafka nothing; asking the cluster
// (DescribeConsumerGroups) would tell no more and cost a round trip per
// group. A rebalance ends every member's session until the group settles
// again, so Ready fails for that moment, as the group consumes nothing
// then either.
func (r *Router) Ready() error {
	var waiting []string
	for _, m := range r.members {
		if m.sessions.Load() < 1 {
			waiting = append(waiting, m.group)
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("consumer groups without a session (joining, rebalancing or out of reach of Kafka): %s", strings.Join(waiting, ", "))
	}
	return nil
}

// Running is closed once every handler has subscribed.
func (r *Router) Running() <-chan struct{} { return r.router.Running() }

// closeSubscribers makes sure the consumer groups are left; closing a
// subscriber twice is a no-op.
func (r *Router) closeSubscribers() {
	for _, s := range r.subs {
		_ = s.Close()
	}
	r.leave()
}

// leave takes the closed subscribers' static members out of their groups,
// which a static member's close does not do: the group hands their
// partitions to the other members now, not once their sessions time out.
func (r *Router) leave() {
	// Short timeouts: Kafka out of reach must not hold up a shutdown for
	// sarama's 30 s ones; the members then time out as before.
	c := kafka.ConsumerConfig(r.cfg.ClientID)
	c.Net.DialTimeout, c.Net.ReadTimeout, c.Net.WriteTimeout = 3*time.Second, 3*time.Second, 3*time.Second
	c.Metadata.Retry.Max = 1
	admin, err := sarama.NewClusterAdmin(r.cfg.Brokers, c)
	if err != nil {
		r.log.Warn("consumers: cannot leave the consumer groups; their sessions will time out", "error", err)
		return
	}
	defer func() { _ = admin.Close() }()
	for _, m := range r.members {
		resp, err := admin.RemoveMemberFromConsumerGroup(m.group, []string{m.instanceID})
		if err == nil && !errors.Is(resp.Err, sarama.ErrNoError) {
			err = resp.Err
		}
		if err == nil {
			for _, mr := range resp.Members {
				if !errors.Is(mr.Err, sarama.ErrNoError) && !errors.Is(mr.Err, sarama.ErrUnknownMemberId) {
					err = mr.Err
				}
			}
		}
		if err != nil {
			r.log.Warn("consumers: cannot leave the consumer group; its session will time out", "consumer_group", m.group, "error", err)
		}
	}
}

// handle is one consumer's handler: decode, then Handle, in a span
// ("consume <group>") that continues the trace the event carries
// (ce_traceparent, docs/events.md); a missing or malformed one starts a
// new trace.
//
// The handler runs detached from the message's context, which
// watermill-kafka cancels as soon as the subscriber starts closing: a
// projection is one short transaction, and finishing it beats rolling it
// back (or, worse, cancelling a commit the server has already done) only to
// handle the redelivered message again. timeout still bounds it.
func handle(codec Decoder, h EventHandler, timeout time.Duration, group string) message.NoPublishHandlerFunc {
	spanName := "consume " + group
	return func(msg *message.Message) error {
		rec, err := decode(codec, msg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), timeout)
		defer cancel()
		ctx, span := telemetry.StartFrom(ctx, rec.TraceParent, rec.TraceState, spanName, telemetry.Kind(trace.SpanKindConsumer)...)
		if span.IsRecording() {
			span.SetAttributes(consumerAttrs(group, rec)...)
		}
		err = h.Handle(ctx, rec)
		telemetry.End(span, err)
		return err
	}
}

// consumerAttrs describe a consumer's span, set only on one that records.
func consumerAttrs(group string, rec domain.Recorded) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.consumer.group.name", group),
		attribute.String("messaging.message.id", rec.ID),
		attribute.String("cloudevents.event_subject", rec.StreamID)}
}

// decode rebuilds the recorded event from the message that
// kafka.CloudEventsMarshaler made of a record: the CloudEvents attributes
// by name in the metadata, the data as payload.
func decode(codec Decoder, msg *message.Message) (domain.Recorded, error) {
	if reason, ok := msg.Metadata[undecodableKey]; ok {
		return domain.Recorded{}, fmt.Errorf("%w: %s", errUndecodable, reason)
	}
	rec, wireName, err := codec.RecordedFromAttributes(msg.Metadata)
	if err != nil {
		return domain.Recorded{}, fmt.Errorf("%w: %w", errUndecodable, err)
	}
	if rec.Event, err = codec.Unmarshal(wireName, msg.Payload); err != nil {
		return domain.Recorded{}, fmt.Errorf("%w: event %s: %w", errUndecodable, rec.ID, err)
	}
	return rec, nil
}

// permanent reports the errors no retry can cure: a message that cannot be
// decoded, an event that cannot be projected, a panic (a bug that the same
// message will trigger again).
//
// Domain refusals are permanent too: a command that found its aggregate
// missing, or in a state that refuses it, will find the same again.
func permanent(err error) bool {
	var panicked *panicError
	return errors.Is(err, errUndecodable) || errors.Is(err, projections.ErrUnprojectable) || errors.As(err, &panicked) ||
		errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrValidation) || errors.Is(err, domain.ErrConflict)
}

// retry runs the handler again while it fails transiently, up to
// retryAttempts in all, backing off exponentially. (watermill's own Retry
// middleware would pull modules into go.mod that nothing else needs.) A
// failure that is a dependency outage goes to the handler's tracker, which
// logs the outage once, and so does the next success; other failures are
// logged each.
func retry(trackers handlerTrackers, dependencyDown func(error) bool, log *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			tracker := trackers[message.HandlerNameFromCtx(msg.Context())]
			wait := retryInitial
			for attempt := 1; ; attempt++ {
				out, err := h(msg)
				down := err != nil && tracker != nil && dependencyDown(err)
				switch {
				case err == nil && tracker != nil:
					tracker.Succeeded()
				case down:
					tracker.Failed(err, "message_id", msg.UUID, "stream_id", msg.Metadata.Get(eventschema.AttrSubject))
				}
				if err == nil || permanent(err) || attempt == retryAttempts {
					return out, err
				}
				if !down {
					log.Warn("event handling failed, retrying", "error", err, "attempt", attempt, "max_attempts", retryAttempts,
						"backoff", wait, "message_id", msg.UUID, "stream_id", msg.Metadata.Get(eventschema.AttrSubject))
				}
				t := time.NewTimer(wait)
				select {
				case <-msg.Context().Done():
					t.Stop()
					return nil, msg.Context().Err()
				case <-t.C:
				}
				wait = min(2*wait, retryMax)
			}
		}
	}
}

// panicError is a handler's panic, turned into an error.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", e.value, e.stack) }

// recoverPanic turns a panic into an error, so that the message takes the
// permanent-error path instead of watermill's nack-and-redeliver.
func recoverPanic(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if v := recover(); v != nil {
				out, err = nil, &panicError{value: v, stack: debug.Stack()}
			}
		}()
		return h(msg)
	}
}

// skipPermanent logs and acknowledges a message that failed permanently: a
// nacked message is redelivered forever and blocks its partition. The
// record stays in Kafka (unlimited retention) for inspection, and the
// stream's next event, or a readmodel.Rebuild, repairs the row from the
// event store.
func skipPermanent(log *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil || !permanent(err) {
				return out, err
			}
			ctx := msg.Context()
			partition, _ := wmkafka.MessagePartitionFromCtx(ctx)
			offset, _ := wmkafka.MessagePartitionOffsetFromCtx(ctx)
			log.Error("message skipped: it can never be projected", "error", err,
				"handler", message.HandlerNameFromCtx(ctx), "topic", message.SubscribeTopicFromCtx(ctx),
				"partition", partition, "offset", offset, "message_id", msg.UUID,
				"event", msg.Metadata.Get(eventschema.AttrType), "stream_id", msg.Metadata.Get(eventschema.AttrSubject))
			return nil, nil
		}
	}
}

// tolerantUnmarshaler never fails. watermill-kafka answers an Unmarshal
// error by dropping the partition's session and, once reconnected, meets the
// same record again, forever. A record that is no CloudEvent becomes a
// message flagged undecodable instead, which skipPermanent logs and acks.
type tolerantUnmarshaler struct {
	inner wmkafka.Unmarshaler
}

func (u tolerantUnmarshaler) Unmarshal(cm *sarama.ConsumerMessage) (*message.Message, error) {
	msg, err := u.inner.Unmarshal(cm)
	if err == nil {
		return msg, nil
	}
	msg = message.NewMessage(fmt.Sprintf("%s/%d@%d", cm.Topic, cm.Partition, cm.Offset), cm.Value)
	msg.Metadata.Set(undecodableKey, err.Error())
	msg.Metadata.Set(eventschema.AttrSubject, string(cm.Key))
	return msg, nil
}
