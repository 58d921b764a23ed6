// Package telemetry holds renderd's metric families and its trace helpers:
// one place that names what operators see, so that the README's metrics
// table, the alerting rules and the dashboard (deployments/observability)
// and the code agree. The families that count things as they happen are
// package variables here; the ones read from a table or a broker when
// Prometheus scrapes (queue depth, relay lag, consumer lag) are collectors
// the process wiring registers next to the role that owns them.
//
// Labels are bounded sets: a route template, a method, a status code, a
// format, a tier, an outcome, a failure code, a consumer group. Never an id
// and never an account: one label value per render would grow the series
// without end and name tenants to whoever reads the metrics.
package telemetry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the process's metrics registry, served on the metrics
// listener (RENDERD_METRICS_ADDR). It is renderd's own and not
// prometheus.DefaultRegisterer, so that what a dependency registers there
// does not leak into renderd's exposition.
var Registry = prometheus.NewRegistry()

// Outcomes of a render, the values of renderd_renders_total's outcome.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
)

// Outcomes of one webhook delivery attempt, the values of
// renderd_webhook_deliveries_total's outcome.
const (
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // an error or a non-2xx answer; retried later
	DeliveryAbandoned = "abandoned" // the last attempt failed, or the endpoint was disabled: never retried
)

var (
	// HTTPRequests counts the API's answered requests. route is the mux
	// template ("/v1/renders/{id}"), or "unmatched" for a path no route
	// has.
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "renderd_http_requests_total",
		Help: "API requests answered, by route template, method and status code.",
	}, []string{"route", "method", "code"})

	// HTTPDuration times the API's requests from the first byte read to
	// the last written.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "renderd_http_request_duration_seconds",
		Help:    "API request duration, by route template and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method"})

	// Renders counts renders reaching an end state, by format and outcome
	// (OutcomeCompleted, OutcomeFailed, OutcomeCancelled).
	Renders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "renderd_renders_total",
		Help: "Renders that reached an end state, by output format and outcome (completed, failed, cancelled).",
	}, []string{"format", "outcome"})

	// RenderFailures counts failed renders by their public failure code.
	RenderFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "renderd_render_failures_total",
		Help: "Failed renders, by failure code.",
	}, []string{"code"})

	// EncoderSlots is this encoder process's render slots, busy and free.
	EncoderSlots = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "renderd_encoder_slots",
		Help: "The encoder process's render slots, by state (busy, free).",
	}, []string{"state"})

	// EncodeDuration times one ffmpeg run of a render, by format and tier.
	EncodeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "renderd_encode_duration_seconds",
		Help:    "Wall time of one render's encode, by output format and tier.",
		Buckets: []float64{.25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	}, []string{"format", "tier"})

	// EncodeSpeed is each encode's media seconds per wall second.
	EncodeSpeed = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "renderd_encode_speed_ratio",
		Help:    "Media seconds encoded per wall second, one observation per render.",
		Buckets: []float64{.25, .5, 1, 2, 4, 8, 16, 32, 64, 128},
	})

	// EncoderLeaseTakeovers counts renders an encoder claimed after
	// another encoder's lease on them expired: each is an encoder that
	// died or stalled mid-render.
	EncoderLeaseTakeovers = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "renderd_encoder_lease_takeovers_total",
		Help: "Renders taken over after another encoder's lease expired (a crashed or stalled encoder).",
	})

	// RelayPublished counts events the relay published to Kafka.
	RelayPublished = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "renderd_relay_published_events_total",
		Help: "Events the outbox relay published to Kafka.",
	})

	// ProjectionLag is, per read model, the time from an event's commit
	// to its projection, as of the last event projected.
	ProjectionLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "renderd_projection_lag_seconds",
		Help: "Seconds from an event's commit to its read model's update, as of the last event projected, by read model.",
	}, []string{"model"})

	// WebhookDeliveries counts delivery attempts by outcome
	// (DeliveryDelivered, DeliveryFailed, DeliveryAbandoned).
	WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "renderd_webhook_deliveries_total",
		Help: "Webhook delivery attempts, by outcome (delivered, failed, abandoned).",
	}, []string{"outcome"})

	// WebhookLatency times a delivery from its event's commit to the
	// receiver's 2xx answer.
	WebhookLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "renderd_webhook_delivery_latency_seconds",
		Help:    "Seconds from an event's commit to its webhook's delivery (2xx).",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
	})

	// WebhookEndpointsDisabled counts endpoints disabled after failing
	// for too long.
	WebhookEndpointsDisabled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "renderd_webhook_endpoints_disabled_total",
		Help: "Webhook endpoints disabled by the dispatcher after failing for too long.",
	})

	// ReadYourWritesTimeouts counts writes answered before the read model
	// showed them (Renderd-Read-Your-Writes: timeout).
	ReadYourWritesTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "renderd_read_your_writes_timeouts_total",
		Help: "Writes answered before their read model showed them (the read-your-writes bound passed).",
	})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		HTTPRequests, HTTPDuration, Renders, RenderFailures, EncoderSlots, EncodeDuration, EncodeSpeed,
		EncoderLeaseTakeovers, RelayPublished, ProjectionLag, WebhookDeliveries, WebhookLatency,
		WebhookEndpointsDisabled, ReadYourWritesTimeouts,
	)
}

// Register adds a collector to Registry and returns the function that
// takes it out again. Collectors read at scrape time belong to a role's
// run, and tests run several in one process: the second registration of
// an equal collector replaces nothing and is not an error.
func Register(c prometheus.Collector) (unregister func()) {
	if err := Registry.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			return func() {}
		}
		panic(err) // a family named twice with other labels: a bug
	}
	return func() { Registry.Unregister(c) }
}
