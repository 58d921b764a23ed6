package eventschema

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func TestCloudEventAttributes(t *testing.T) {
	codec := NewCodec()

	t.Run("attributes_are_complete_and_in_a_stable_order", func(t *testing.T) {
		got, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		want := []Attribute{
			{"specversion", "1.0"},
			{"id", "0b5e6f0e-2a1d-4c3b-9e8f-7a6b5c4d3e2f"},
			{"source", "/renderd/renders"},
			{"type", "render.completed.v1"},
			{"subject", exampleRenderID},
			{"time", "2025-11-27T03:40:12.345678Z"},
			{"datacontenttype", "application/json"},
			{"dataschema", "https://schemas.renderd.dev/events/render.completed.v1.json"},
			{"streamtype", "render"},
			{"streamversion", "4"},
			{"position", "918273"},
			{"accountid", "acc_3d9f1b27"},
			{"correlationid", "req_01JDX6Q4M3ZC9T8B7A6V5N4K2H"},
			{"causationid", "6c5d4e3f-2a1b-4c0d-9e8f-1a2b3c4d5e6f"},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	})

	t.Run("attribute_names_follow_the_cloudevents_naming_rule", func(t *testing.T) {
		attrs, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		valid := regexp.MustCompile(`^[a-z0-9]{1,20}$`)
		for _, a := range attrs {
			if !valid.MatchString(a.Name) {
				t.Errorf("attribute name %q", a.Name)
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
		for _, a := range attrs {
			switch a.Name {
			case "position", "accountid", "correlationid", "causationid":
				t.Errorf("%s sent although empty", a.Name)
			}
		}
	})

	t.Run("time_is_written_in_utc", func(t *testing.T) {
		r := exampleRecorded()
		r.OccurredAt = time.Date(2025, 11, 27, 4, 40, 12, 0, time.FixedZone("CET", 3600))
		attrs, err := codec.CloudEventAttributes(r, RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		if got := attrValue(attrs, "time"); got != "2025-11-27T03:40:12Z" {
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

func attrValue(attrs []Attribute, name string) string {
	for _, a := range attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

func TestCloudEventAttributesRoundTrip(t *testing.T) {
	codec := NewCodec()
	full := exampleRecorded()
	minimal := exampleRecorded()
	minimal.Position, minimal.AccountID, minimal.CorrelationID, minimal.CausationID = 0, "", "", ""
	assetEvent := exampleRecorded()
	assetEvent.StreamType, assetEvent.StreamID, assetEvent.StreamVersion = domain.AggregateAsset, exampleAssetID, 1

	tests := []struct {
		name     string
		rec      domain.Recorded
		wireName string
	}{
		{"fully_populated_metadata_round_trips", full, RenderCompletedV1},
		{"omitted_extensions_come_back_empty", minimal, RenderCompletedV1},
		{"asset_stream_metadata_round_trips", assetEvent, AssetCreatedV1},
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

	t.Run("kafka_headers_round_trip", func(t *testing.T) {
		attrs, err := codec.CloudEventAttributes(full, RenderCompletedV1)
		if err != nil {
			t.Fatal(err)
		}
		var back []Attribute
		for _, a := range attrs {
			got, ok := AttributeFromKafkaHeader(a.KafkaHeader(), a.Value)
			if !ok || got != a {
				t.Fatalf("header %q → %v, %v; want %v", a.KafkaHeader(), got, ok, a)
			}
			back = append(back, got)
		}
		if !slices.Equal(back, attrs) {
			t.Fatal("attributes changed through headers")
		}
	})
}

func TestKafkaHeaders(t *testing.T) {
	tests := []struct {
		name   string
		attr   Attribute
		header string
	}{
		{"context_attribute_gets_the_ce_prefix", Attribute{"type", "render.completed.v1"}, "ce_type"},
		{"extension_gets_the_ce_prefix", Attribute{"streamversion", "4"}, "ce_streamversion"},
		{"datacontenttype_maps_to_content_type", Attribute{"datacontenttype", "application/json"}, "content-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.attr.KafkaHeader(); got != tt.header {
				t.Fatalf("KafkaHeader() = %q, want %q", got, tt.header)
			}
		})
	}
	t.Run("header_names_are_case_insensitive", func(t *testing.T) {
		got, ok := AttributeFromKafkaHeader("CE_Id", "x")
		if !ok || got != (Attribute{"id", "x"}) {
			t.Fatalf("got %v, %v", got, ok)
		}
		got, ok = AttributeFromKafkaHeader("Content-Type", "application/json")
		if !ok || got != (Attribute{"datacontenttype", "application/json"}) {
			t.Fatalf("got %v, %v", got, ok)
		}
	})
	t.Run("other_headers_are_not_attributes", func(t *testing.T) {
		for _, h := range []string{"traceparent", "ce_", "key"} {
			if _, ok := AttributeFromKafkaHeader(h, "v"); ok {
				t.Errorf("%q taken for an attribute", h)
			}
		}
	})
}

func TestRecordedFromAttributesRejects(t *testing.T) {
	codec := NewCodec()
	base, err := codec.CloudEventAttributes(exampleRecorded(), RenderCompletedV1)
	if err != nil {
		t.Fatal(err)
	}
	without := func(name string) []Attribute {
		return slices.DeleteFunc(slices.Clone(base), func(a Attribute) bool { return a.Name == name })
	}
	with := func(name, value string) []Attribute {
		out := slices.Clone(base)
		for i := range out {
			if out[i].Name == name {
				out[i].Value = value
				return out
			}
		}
		return append(out, Attribute{name, value})
	}

	tests := []struct {
		name  string
		attrs []Attribute
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
		{"attribute_given_twice", append(slices.Clone(base), Attribute{"id", "other"}), ErrInvalidAttribute},
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
		attrs []Attribute
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
