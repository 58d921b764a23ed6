package kafka

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
	cebinding "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

const (
	exampleID     = "0b5e6f0e-2a1d-4c3b-9e8f-7a6b5c4d3e2f"
	exampleRender = "e7d4b1a2-3c5f-4a6e-9d8b-0f1c2e3a4b5d"
	exampleData   = `{"attempt":2,"blob_key":"renders/x/output.mp4","size_bytes":27398112,"duration_seconds":43.076}`
)

// exampleMessage is the message the relay makes of the render.completed.v1
// record shown in docs/events.md, section 2.
func exampleMessage(t *testing.T) *message.Message {
	t.Helper()
	attrs, err := eventschema.NewCodec().CloudEventAttributes(domain.Recorded{
		ID: exampleID, StreamID: exampleRender, StreamType: domain.AggregateRender, StreamVersion: 4, Position: 918273,
		Metadata: domain.Metadata{
			AccountID: "acc_3d9f1b27", CorrelationID: "req_01JDX6Q4M3ZC9T8B7A6V5N4K2H", CausationID: "6c5d4e3f-2a1b-4c0d-9e8f-1a2b3c4d5e6f",
			OccurredAt:  time.Date(2025, 11, 27, 3, 40, 12, 345_678_000, time.UTC),
			TraceParent: exampleTraceParent,
		},
	}, eventschema.RenderCompletedV1)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage(exampleID, []byte(exampleData))
	msg.Metadata = attrs
	return msg
}

func headerMap(t *testing.T, hs []sarama.RecordHeader) map[string]string {
	t.Helper()
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		if _, dup := out[string(h.Key)]; dup {
			t.Fatalf("header %s written twice", h.Key)
		}
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

func TestCloudEventsMarshaler_writes_the_record_docs_events_md_shows(t *testing.T) {
	pm, err := CloudEventsMarshaler{}.Marshal("renderd.renders", exampleMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ce_specversion":   "1.0",
		"ce_id":            exampleID,
		"ce_source":        "/renderd/renders",
		"ce_type":          "render.completed.v1",
		"ce_subject":       exampleRender,
		"ce_time":          "2025-11-27T03:40:12.345678Z",
		"content-type":     "application/json",
		"ce_dataschema":    "https://schemas.renderd.dev/events/render.completed.v1.json",
		"ce_streamtype":    "render",
		"ce_streamversion": "4",
		"ce_position":      "918273",
		"ce_accountid":     "acc_3d9f1b27",
		"ce_correlationid": "req_01JDX6Q4M3ZC9T8B7A6V5N4K2H",
		"ce_causationid":   "6c5d4e3f-2a1b-4c0d-9e8f-1a2b3c4d5e6f",
		"ce_partitionkey":  exampleRender,
		"ce_traceparent":   exampleTraceParent,
	}
	if got := headerMap(t, pm.Headers); !maps.Equal(got, want) {
		t.Errorf("headers\n got %v\nwant %v", got, want)
	}
	var first []string
	for _, h := range pm.Headers[:8] {
		first = append(first, string(h.Key))
	}
	if want := []string{"ce_id", "ce_source", "ce_specversion", "ce_type", "content-type", "ce_dataschema", "ce_subject", "ce_time"}; !slices.Equal(first, want) {
		t.Errorf("the context attributes come first, as %v; got %v", want, first)
	}
	key, _ := pm.Key.Encode()
	value, _ := pm.Value.Encode()
	if pm.Topic != "renderd.renders" || string(key) != exampleRender || string(value) != exampleData {
		t.Errorf("topic %q, key %q, value %s", pm.Topic, key, value)
	}
}

// The CloudEvents SDK, an implementation of the binding independent of
// ours, reads the record as the event it is.
func TestCloudEventsMarshaler_records_are_cloudevents_to_the_sdk(t *testing.T) {
	pm, err := CloudEventsMarshaler{}.Marshal("renderd.renders", exampleMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := binding.ToEvent(context.Background(), cebinding.NewMessageFromConsumerMessage(consumed(pm)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.ID() != exampleID || ev.Type() != eventschema.RenderCompletedV1 || ev.Subject() != exampleRender || ev.Source() != "/renderd/renders" ||
		ev.DataContentType() != "application/json" || !ev.Time().Equal(time.Date(2025, 11, 27, 3, 40, 12, 345_678_000, time.UTC)) ||
		string(ev.Data()) != exampleData || ev.Extensions()["streamversion"] != "4" || ev.Extensions()["partitionkey"] != exampleRender {
		t.Errorf("the SDK reads %s", ev)
	}
}

// The SDK's own Kafka writer, given the same event, writes the same
// headers, key and value.
func TestCloudEventsMarshaler_writes_what_the_sdk_writer_writes(t *testing.T) {
	msg := exampleMessage(t)
	pm, err := CloudEventsMarshaler{}.Marshal("renderd.renders", msg)
	if err != nil {
		t.Fatal(err)
	}
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ev.SetID(msg.UUID)
	ev.SetDataContentType(cloudevents.ApplicationJSON)
	ev.DataEncoded = msg.Payload
	for name, value := range msg.Metadata {
		switch name {
		case "specversion", "id", "datacontenttype":
		case "type":
			ev.SetType(value)
		case "source":
			ev.SetSource(value)
		case "subject":
			ev.SetSubject(value)
		case "dataschema":
			ev.SetDataSchema(value)
		case "time":
			at, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				t.Fatal(err)
			}
			ev.SetTime(at)
		default:
			ev.SetExtension(name, value)
		}
	}
	sdk := &sarama.ProducerMessage{Topic: "renderd.renders"}
	if err := cebinding.WriteProducerMessage(context.Background(), binding.ToMessage(&ev), sdk); err != nil {
		t.Fatal(err)
	}
	if got, want := headerMap(t, pm.Headers), headerMap(t, sdk.Headers); !maps.Equal(got, want) {
		t.Errorf("headers\n got %v\nwant %v", got, want)
	}
	for i := range 8 {
		if string(pm.Headers[i].Key) != string(sdk.Headers[i].Key) {
			t.Errorf("header %d is %s, the SDK writes %s", i, pm.Headers[i].Key, sdk.Headers[i].Key)
		}
	}
	key, _ := pm.Key.Encode()
	sdkKey, _ := sdk.Key.Encode()
	value, _ := pm.Value.Encode()
	sdkValue, _ := sdk.Value.Encode()
	if string(key) != string(sdkKey) || string(value) != string(sdkValue) {
		t.Errorf("key %q value %s; the SDK writes key %q value %s", key, value, sdkKey, sdkValue)
	}
}

// consumed is the record a consumer reads of pm.
func consumed(pm *sarama.ProducerMessage) *sarama.ConsumerMessage {
	key, _ := pm.Key.Encode()
	value, _ := pm.Value.Encode()
	cm := &sarama.ConsumerMessage{Topic: pm.Topic, Partition: 3, Offset: 17, Key: key, Value: value}
	for _, h := range pm.Headers {
		cm.Headers = append(cm.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return cm
}

func TestCloudEventsMarshaler_round_trips_a_message(t *testing.T) {
	sent := exampleMessage(t)
	pm, err := CloudEventsMarshaler{}.Marshal("renderd.renders", sent)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CloudEventsMarshaler{}.Unmarshal(consumed(pm))
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != sent.UUID || string(got.Payload) != string(sent.Payload) || !maps.Equal(got.Metadata, sent.Metadata) {
		t.Fatalf("got %s %v %s\nsent %s %v %s", got.UUID, got.Metadata, got.Payload, sent.UUID, sent.Metadata, sent.Payload)
	}
	rec, wireName, err := eventschema.NewCodec().RecordedFromAttributes(got.Metadata)
	if err != nil || wireName != eventschema.RenderCompletedV1 || rec.StreamVersion != 4 || rec.Position != 918273 {
		t.Fatalf("decoded %+v %q (%v)", rec, wireName, err)
	}
}

func TestCloudEventsMarshaler_refuses(t *testing.T) {
	t.Run("a_message_whose_metadata_id_differs_from_its_uuid", func(t *testing.T) {
		msg := exampleMessage(t)
		msg.UUID = "other"
		if _, err := (CloudEventsMarshaler{}).Marshal("t", msg); err == nil {
			t.Fatal("marshalled")
		}
	})
	t.Run("a_message_without_a_partition_key", func(t *testing.T) {
		msg := exampleMessage(t)
		delete(msg.Metadata, eventschema.ExtPartitionKey)
		if _, err := (CloudEventsMarshaler{}).Marshal("t", msg); err == nil {
			t.Fatal("marshalled")
		}
	})
	header := func(k, v string) *sarama.RecordHeader { return &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	for name, cm := range map[string]*sarama.ConsumerMessage{
		"a_record_that_is_no_cloudevent":   {Value: []byte("\x00\x01 garbage")},
		"a_record_without_an_id":           {Headers: []*sarama.RecordHeader{header("ce_specversion", "1.0"), header("ce_type", "x")}},
		"a_record_with_an_attribute_twice": {Headers: []*sarama.RecordHeader{header("ce_specversion", "1.0"), header("ce_id", "a"), header("CE_ID", "b")}},
	} {
		t.Run(name, func(t *testing.T) {
			if msg, err := (CloudEventsMarshaler{}).Unmarshal(cm); err == nil {
				t.Fatalf("unmarshalled %v", msg.Metadata)
			}
		})
	}
}

func TestKafkaHeaders(t *testing.T) {
	tests := []struct {
		name   string
		attr   string
		header string
	}{
		{"context_attribute_gets_the_ce_prefix", "type", "ce_type"},
		{"extension_gets_the_ce_prefix", "streamversion", "ce_streamversion"},
		{"datacontenttype_maps_to_content_type", "datacontenttype", "content-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headerOf(tt.attr); got != tt.header {
				t.Fatalf("headerOf(%q) = %q, want %q", tt.attr, got, tt.header)
			}
			if got, ok := attributeOf(tt.header); !ok || got != tt.attr {
				t.Fatalf("attributeOf(%q) = %q, %v", tt.header, got, ok)
			}
		})
	}
	t.Run("header_names_are_case_insensitive", func(t *testing.T) {
		if got, ok := attributeOf("CE_Id"); !ok || got != "id" {
			t.Fatalf("got %q, %v", got, ok)
		}
		if got, ok := attributeOf("Content-Type"); !ok || got != "datacontenttype" {
			t.Fatalf("got %q, %v", got, ok)
		}
	})
	t.Run("other_headers_are_not_attributes", func(t *testing.T) {
		for _, h := range []string{"traceparent", "ce_", "key"} {
			if _, ok := attributeOf(h); ok {
				t.Errorf("%q taken for an attribute", h)
			}
		}
	})
	t.Run("every_attribute_round_trips", func(t *testing.T) {
		for name := range exampleMessage(t).Metadata {
			if got, ok := attributeOf(headerOf(name)); !ok || got != name || strings.ToLower(name) != name {
				t.Errorf("%q → %q → %q, %v", name, headerOf(name), got, ok)
			}
		}
	})
}
