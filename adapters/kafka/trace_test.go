package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	cebinding "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/extensions"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

const (
	exampleTraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	exampleTraceState  = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
)

// tracedMessage is exampleMessage recorded with a trace context.
func tracedMessage(t *testing.T) *message.Message {
	t.Helper()
	attrs, err := eventschema.NewCodec().CloudEventAttributes(domain.Recorded{
		ID: exampleID, StreamID: exampleRender, StreamType: domain.AggregateRender, StreamVersion: 4, Position: 918273,
		Metadata: domain.Metadata{AccountID: "acc_3d9f1b27", OccurredAt: time.Date(2025, 11, 27, 3, 40, 12, 0, time.UTC),
			TraceParent: exampleTraceParent, TraceState: exampleTraceState},
	}, eventschema.RenderCompletedV1)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage(exampleID, []byte(exampleData))
	msg.Metadata = attrs
	return msg
}

// An event's trace context travels as the CloudEvents distributed tracing
// extension: the headers ce_traceparent and ce_tracestate, which the
// CloudEvents SDK reads as that extension, and which come back into the
// event's metadata on the consumer's side.
func TestCloudEventsMarshaler_carries_the_trace_context(t *testing.T) {
	pm, err := CloudEventsMarshaler{}.Marshal("renderd.renders", tracedMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	h := headerMap(t, pm.Headers)
	if h["ce_traceparent"] != exampleTraceParent || h["ce_tracestate"] != exampleTraceState {
		t.Fatalf("headers %v", h)
	}

	ev, err := binding.ToEvent(context.Background(), cebinding.NewMessageFromConsumerMessage(consumed(pm)))
	if err != nil {
		t.Fatal(err)
	}
	dt, ok := extensions.GetDistributedTracingExtension(*ev)
	if !ok || dt.TraceParent != exampleTraceParent || dt.TraceState != exampleTraceState {
		t.Fatalf("the SDK reads the distributed tracing extension %+v (%v) of %v", dt, ok, ev.Extensions())
	}

	got, err := CloudEventsMarshaler{}.Unmarshal(consumed(pm))
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := eventschema.NewCodec().RecordedFromAttributes(got.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	if rec.TraceParent != exampleTraceParent || rec.TraceState != exampleTraceState {
		t.Fatalf("consumed metadata %+v", rec.Metadata)
	}
}

// An event recorded untraced has no tracing headers at all.
func TestCloudEventsMarshaler_an_untraced_event_has_no_trace_headers(t *testing.T) {
	msg := exampleMessage(t)
	delete(msg.Metadata, eventschema.ExtTraceParent) // as CloudEventAttributes leaves it out
	pm, err := CloudEventsMarshaler{}.Marshal("renderd.renders", msg)
	if err != nil {
		t.Fatal(err)
	}
	h := headerMap(t, pm.Headers)
	for _, k := range []string{"ce_traceparent", "ce_tracestate", "traceparent"} {
		if _, ok := h[k]; ok {
			t.Errorf("header %s on an untraced event", k)
		}
	}
}
