package relay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// retriedV0 is a hypothetical render.retried.v0 that called the reason "why",
// retired by render.retried.v1.
const retriedV0 = "render.retried.v0"

// renameWhy is its upcaster.
func renameWhy(data []byte) ([]byte, error) {
	return bytes.Replace(data, []byte(`"why"`), []byte(`"reason"`), 1), nil
}

func storedEntry(wireName, data string) postgres.LogEntry {
	return postgres.LogEntry{
		Checkpoint: postgres.Checkpoint{TransactionID: 7, Position: 42},
		Recorded: domain.Recorded{
			ID: "0b5e6f0e-2a1d-4c3b-9e8f-7a6b5c4d3e2f", StreamID: "rnd_1", StreamType: domain.AggregateRender, StreamVersion: 3, Position: 42,
			Metadata: domain.Metadata{AccountID: "acc_1", OccurredAt: time.Date(2025, 11, 27, 3, 40, 12, 0, time.UTC)},
		},
		WireName: wireName, Data: []byte(data),
	}
}

func TestCloudEventsMapper_publishes_every_event_under_its_current_wire_name(t *testing.T) {
	codec := eventschema.NewCodec().WithUpcaster(retriedV0, eventschema.RenderRetriedV1, renameWhy)
	validator, err := eventschema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	topics := kafka.Topics{Prefix: "renderd."}
	tests := []struct {
		name  string
		entry postgres.LogEntry
	}{
		{"event_stored_under_a_retired_name_is_published_upcast", storedEntry(retriedV0, `{"attempt":2,"why":"lease_expired"}`)},
		{"event_stored_under_the_current_name_is_published_as_stored", storedEntry(eventschema.RenderRetriedV1, `{"attempt":2,"reason":"lease_expired"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := relay.CloudEventsMapper(codec, topics)(tt.entry)
			if err != nil {
				t.Fatal(err)
			}
			msg := out.Message
			if got, want := msg.Metadata.Get("type"), eventschema.RenderRetriedV1; got != want {
				t.Errorf("type = %q, want %q", got, want)
			}
			if got, want := msg.Metadata.Get("dataschema"), eventschema.SchemaID(eventschema.RenderRetriedV1); got != want {
				t.Errorf("dataschema = %q, want %q", got, want)
			}
			if out.Topic != "renderd.renders" || msg.UUID != tt.entry.ID {
				t.Errorf("topic %q, uuid %q", out.Topic, msg.UUID)
			}
			var data, want map[string]any
			if err := json.Unmarshal(msg.Payload, &data); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(`{"attempt":2,"reason":"lease_expired"}`), &want)
			if !reflect.DeepEqual(data, want) {
				t.Errorf("data = %s, want the current payload %v", msg.Payload, want)
			}
			if err := validator.Validate(msg.Metadata.Get("type"), msg.Payload); err != nil {
				t.Errorf("data does not satisfy the schema its dataschema names: %v", err)
			}
		})
	}
	t.Run("a_failing_upcaster_is_an_error_not_a_message", func(t *testing.T) {
		boom := errors.New("boom")
		codec := eventschema.NewCodec().WithUpcaster(retriedV0, eventschema.RenderRetriedV1, func([]byte) ([]byte, error) { return nil, boom })
		if _, err := relay.CloudEventsMapper(codec, topics)(storedEntry(retriedV0, `{}`)); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want wrapped boom", err)
		}
	})
}
