package eventschema

import (
	"errors"
	"maps"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func TestCloudEventAttributes(t *testing.T) {
	codec := NewCodec()

	t.Run("attributes_are_complete", func(t *testing.T) {
		got, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"specversion":     "1.0",
			"id":              "0b5e6f0e-2a1d-4c3b-9e8f-7a6b5c4d3e2f",
			"source":          "/renderd/renders",
			"type":            "render.completed.v1",
			"subject":         exampleRenderID,
			"time":            "2025-11-27T03:40:12.345678Z",
			"datacontenttype": "application/json",
			"dataschema":      "https://schemas.renderd.dev/events/render.completed.v1.json",
			"streamtype":      "render",
			"streamversion":   "4",
			"position":        "918273",
			"accountid":       "acc_3d9f1b27",
			"correlationid":   "req_01JDX6Q4M3ZC9T8B7A6V5N4K2H",
			"causationid":     "6c5d4e3f-2a1b-4c0d-9e8f-1a2b3c4d5e6f",
			"partitionkey":    exampleRenderID,
		}
		if !maps.Equal(got, want) {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	})

	t.Run("attribute_names_follow_the_cloudevents_naming_rule", func(t *testing.T) {
		attrs, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		valid := regexp.MustCompile(`^[a-z0-9]{1,20}$`)
		for name := range attrs {
			if !valid.MatchString(name) {
				t.Errorf("attribute name %q", name)
			}
		}
	})

	t.Run("empty_optional_extensions_are_omitted", func(t *testing.T) {
		r := exampleRecorded()
		r.Position, r.AccountID, r.CorrelationID, r.CausationID = 0, "", "", ""
		attrs, err := codec.CloudEventAttributes(r, RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		for name := range attrs {
			switch name {
			case "position", "accountid", "correlationid", "causationid":
				t.Errorf("%s sent although empty", name)
			}
		}
	})

	t.Run("trace_context_is_the_distributed_tracing_extension", func(t *testing.T) {
		r := exampleRecorded()
		r.TraceParent, r.TraceState = exampleTraceParent, "rojo=00f067aa0ba902b7"
		attrs, err := codec.CloudEventAttributes(r, RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		if attrs["traceparent"] != r.TraceParent || attrs["tracestate"] != r.TraceState {
			t.Fatalf("traceparent %q, tracestate %q", attrs["traceparent"], attrs["tracestate"])
		}
		r.TraceParent, r.TraceState = "", "rojo=00f067aa0ba902b7" // a state without a parent means nothing
		if attrs, err = codec.CloudEventAttributes(r, RenderCompletedV1); err != nil {
			t.Fatal(err)
		}
		if _, ok := attrs["traceparent"]; ok {
			t.Error("traceparent sent although empty")
		}
		if _, ok := attrs["tracestate"]; ok {
			t.Error("tracestate sent without a traceparent")
		}
	})

	t.Run("time_is_written_in_utc", func(t *testing.T) {
		r := exampleRecorded()
		r.OccurredAt = time.Date(2025, 11, 27, 4, 40, 12, 0, time.FixedZone("CET", 3600))
		attrs, err := codec.CloudEventAttributes(r, RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		if got := attrs["time"]; got != "2025-11-27T03:40:12Z" {
			t.Fatalf("time = %q", got)
		}
	})

	t.Run("source_is_the_plural_aggregate_type", func(t *testing.T) {
		for _, tt := range []struct {
			agg  domain.AggregateType
			want string
		}{
			{domain.AggregateAsset, "/renderd/assets"},
			{domain.AggregateCut, "/renderd/cuts"},
			{domain.AggregateRender, "/renderd/renders"},
		} {
			if got := SourceOf(tt.agg); got != tt.want {
				t.Errorf("SourceOf(%s) = %q, want %q", tt.agg, got, tt.want)
			}
		}
	})

	bad := []struct {
		name     string
		wireName string
		mutate   func(*domain.Recorded)
		unknown  bool
	}{
		{"unknown_wire_name_is_refused", "render.exploded.v1", func(*domain.Recorded) {}, true},
		{"event_on_the_wrong_stream_type_is_refused", RenderCompletedV1, func(r *domain.Recorded) { r.StreamType = domain.AggregateAsset }, false},
		{"missing_event_id_is_refused", RenderCompletedV1, func(r *domain.Recorded) { r.ID = "" }, false},
		{"missing_stream_id_is_refused", RenderCompletedV1, func(r *domain.Recorded) { r.StreamID = "" }, false},
		{"stream_version_zero_is_refused", RenderCompletedV1, func(r *domain.Recorded) { r.StreamVersion = 0 }, false},
		{"negative_position_is_refused", RenderCompletedV1, func(r *domain.Recorded) { r.Position = -1 }, false},
		{"missing_occurred_at_is_refused", RenderCompletedV1, func(r *domain.Recorded) { r.OccurredAt = time.Time{} }, false},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := exampleRecorded()
			tt.mutate(&r)
			_, err := codec.CloudEventAttributes(r, tt.wireName)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.unknown != errors.Is(err, ErrUnknownEventType) {
				t.Fatalf("err = %v; ErrUnknownEventType expected: %v", err, tt.unknown)
			}
		})
	}
}

func TestCloudEventAttributesRoundTrip(t *testing.T) {
	codec := NewCodec()
	full := exampleRecorded()
	minimal := exampleRecorded()
	minimal.Position, minimal.AccountID, minimal.CorrelationID, minimal.CausationID = 0, "", "", ""
	assetEvent := exampleRecorded()
	assetEvent.StreamType, assetEvent.StreamID, assetEvent.StreamVersion = domain.AggregateAsset, exampleAssetID, 1
	traced := exampleRecorded()
	traced.TraceParent, traced.TraceState = exampleTraceParent, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
	tracedNoState := exampleRecorded()
	tracedNoState.TraceParent = exampleTraceParent

	tests := []struct {
		name     string
		rec      domain.Recorded
		wireName string
	}{
		{"fully_populated_metadata_round_trips", full, RenderCompletedV1},
		{"omitted_extensions_come_back_empty", minimal, RenderCompletedV1},
		{"asset_stream_metadata_round_trips", assetEvent, AssetCreatedV1},
		{"trace_context_round_trips", traced, RenderCompletedV1},
		{"trace_context_without_tracestate_round_trips", tracedNoState, RenderCompletedV1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs, err := codec.CloudEventAttributes(tt.rec, tt.wireName)
			if err != nil {
				t.Fatal(err)
			}
			got, wireName, err := codec.RecordedFromAttributes(attrs)
			if err != nil {
				t.Fatal(err)
			}
			if wireName != tt.wireName {
				t.Errorf("wire name = %q, want %q", wireName, tt.wireName)
			}
			want := tt.rec
			want.Event = nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %#v\nwant %#v", got, want)
			}
		})
	}

}

// exampleTraceParent is the W3C Trace Context specification's example.
const exampleTraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// A malformed trace context is no reason to refuse an event: it is kept as
// sent, and the consumer that parses it starts a new trace
// (telemetry.StartFrom).
func TestRecordedFromAttributesKeepsAMalformedTraceContext(t *testing.T) {
	codec := NewCodec()
	attrs, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
	if err != nil {
		t.Fatal(err)
	}
	attrs["traceparent"], attrs["tracestate"] = "not-a-traceparent", "=,="
	got, _, err := codec.RecordedFromAttributes(attrs)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if got.TraceParent != "not-a-traceparent" || got.TraceState != "=,=" {
		t.Fatalf("trace context %q %q", got.TraceParent, got.TraceState)
	}
}

func TestRecordedFromAttributesRejects(t *testing.T) {
	codec := NewCodec()
	base, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
	if err != nil {
		t.Fatal(err)
	}
	without := func(name string) map[string]string {
		out := maps.Clone(base)
		delete(out, name)
		return out
	}
	with := func(name, value string) map[string]string {
		out := maps.Clone(base)
		out[name] = value
		return out
	}

	tests := []struct {
		name  string
		attrs map[string]string
		want  error
	}{
		{"missing_specversion", without("specversion"), ErrMissingAttribute},
		{"missing_id", without("id"), ErrMissingAttribute},
		{"empty_id_counts_as_missing", with("id", ""), ErrMissingAttribute},
		{"missing_source", without("source"), ErrMissingAttribute},
		{"missing_type", without("type"), ErrMissingAttribute},
		{"missing_subject", without("subject"), ErrMissingAttribute},
		{"missing_time", without("time"), ErrMissingAttribute},
		{"missing_streamtype", without("streamtype"), ErrMissingAttribute},
		{"missing_streamversion", without("streamversion"), ErrMissingAttribute},
		{"other_specversion", with("specversion", "0.3"), ErrInvalidAttribute},
		{"source_of_another_aggregate", with("source", "/renderd/assets"), ErrInvalidAttribute},
		{"unknown_stream_type", with("streamtype", "invoice"), ErrInvalidAttribute},
		{"type_of_another_aggregate", with("type", AssetReadyV1), ErrInvalidAttribute},
		{"time_not_rfc3339", with("time", "27/11/2025 03:40"), ErrInvalidAttribute},
		{"streamversion_not_a_number", with("streamversion", "four"), ErrInvalidAttribute},
		{"streamversion_zero", with("streamversion", "0"), ErrInvalidAttribute},
		{"position_negative", with("position", "-1"), ErrInvalidAttribute},
		{"non_json_content_type", with("datacontenttype", "text/plain"), ErrInvalidAttribute},
	}
	for _, tt := range tests {
		t.Run(tt.name+"_is_rejected", func(t *testing.T) {
			_, _, err := codec.RecordedFromAttributes(tt.attrs)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	accepted := []struct {
		name  string
		attrs map[string]string
	}{
		{"json_content_type_with_charset", with("datacontenttype", "application/json; charset=utf-8")},
		{"no_content_type", without("datacontenttype")},
		{"unknown_extension_from_a_newer_producer", with("tenantregion", "eu")},
		{"type_from_a_newer_producer", with("type", "render.paused.v1")},
	}
	for _, tt := range accepted {
		t.Run(tt.name+"_is_accepted", func(t *testing.T) {
			if _, _, err := codec.RecordedFromAttributes(tt.attrs); err != nil {
				t.Fatal(err)
			}
		})
	}
}
