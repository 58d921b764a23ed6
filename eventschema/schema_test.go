package eventschema

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestSchemaFiles(t *testing.T) {
	codec := NewCodec()
	validator, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every_schema_file_belongs_to_a_current_or_retired_wire_name", func(t *testing.T) {
		files, err := fs.Glob(schemaFiles, "schemas/*")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(path.Base(f), ".json")
			if codec.AggregateOf(name) == "" {
				t.Errorf("%s: no wire name %q in the codec (stray or misnamed schema)", f, name)
			}
		}
		if len(validator.schemas) != len(files) {
			t.Errorf("compiled %d schemas from %d files", len(validator.schemas), len(files))
		}
	})
	t.Run("schema_id_names_the_wire_name", func(t *testing.T) {
		if got, want := SchemaID(RenderRequestedV1), "https://schemas.renderd.dev/events/render.requested.v1.json"; got != want {
			t.Fatalf("SchemaID = %q, want %q", got, want)
		}
	})
}

// The payloads the codec writes (the goldens, see TestGolden, and the
// variants below) must satisfy the current schema and every published
// snapshot of it (testdata/published, see TestPublishedSchemas).

func TestGoldensValidate(t *testing.T) {
	validator, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	published := readPublished(t)
	for name := range exampleEvents() {
		t.Run(name+"/golden_satisfies_its_schema_and_every_published_snapshot", func(t *testing.T) {
			validateEverywhere(t, validator, published, name, readGolden(t, name))
		})
		t.Run(name+"/newer_payload_with_extra_fields_satisfies_the_older_schema", func(t *testing.T) {
			validateEverywhere(t, validator, published, name, withFutureFields(t, readGolden(t, name)))
		})
	}
}

func TestValidPayloadVariants(t *testing.T) {
	validator, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	published := readPublished(t)
	tests := []struct {
		name, wireName, data string
	}{
		{"automatic_cut_plan", CutRequestedV1, `{"asset_id":"a","auto":{"remove_silence":{"min_silence_seconds":0.8,"threshold_db":-35}}}`},
		{"audio_render_omits_video_fields", RenderRequestedV1, `{"asset_id":"a","output":{"format":"mp3"},"plan":{"audio_bitrate_bps":192000,"duration_seconds":61.5},"signature":"s"}`},
		{"failure_before_any_attempt", RenderFailedV1, `{"attempt":0,"code":"source_gone","message":"m","retryable":false}`},
		{"cancel_before_any_attempt", RenderCancelledV1, `{"attempt":0}`},
		{"asset_failure_without_a_part", AssetFailedV1, `{"code":"c","message":"m"}`},
		{"audio_only_probe", AssetProbedV1, `{"part":"audio","media":{"container":"mp3","duration_seconds":61.005,"size_bytes":981000,"has_video":false,"has_audio":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			validateEverywhere(t, validator, published, tt.wireName, []byte(tt.data))
		})
	}
}

func TestInvalidPayloadsFailValidation(t *testing.T) {
	validator, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	set := func(key string, v any) func(map[string]any) {
		return func(m map[string]any) { m[key] = v }
	}
	del := func(key string) func(map[string]any) {
		return func(m map[string]any) { delete(m, key) }
	}
	in := func(obj string, f func(map[string]any)) func(map[string]any) {
		return func(m map[string]any) { f(m[obj].(map[string]any)) }
	}
	tests := []struct {
		name     string
		wireName string
		mutate   func(map[string]any)
	}{
		{"unknown_format_is_rejected", RenderRequestedV1, in("output", set("format", "avi"))},
		{"resolution_is_case_sensitive", RenderRequestedV1, in("output", set("resolution", "4K"))},
		{"video_bitrate_off_the_ladder_is_rejected", RenderRequestedV1, in("output", set("video_bitrate", 15))},
		{"audio_bitrate_off_the_ladder_is_rejected", RenderRequestedV1, in("output", set("audio_bitrate", 160))},
		{"output_without_format_is_rejected", RenderRequestedV1, in("output", del("format"))},
		{"missing_signature_is_rejected", RenderRequestedV1, del("signature")},
		{"negative_plan_duration_is_rejected", RenderRequestedV1, in("plan", set("duration_seconds", -1))},
		{"percent_100_belongs_to_completion_only", RenderProgressedV1, set("percent", 100)},
		{"negative_percent_is_rejected", RenderProgressedV1, set("percent", -1)},
		{"fractional_percent_is_rejected", RenderProgressedV1, set("percent", 42.5)},
		{"negative_eta_is_rejected", RenderProgressedV1, set("eta_seconds", -0.5)},
		{"attempt_zero_never_progresses", RenderProgressedV1, set("attempt", 0)},
		{"lease_until_must_be_a_date_time", RenderStartedV1, set("lease_until", "tomorrow")},
		{"missing_blob_key_is_rejected", RenderCompletedV1, del("blob_key")},
		{"negative_encode_time_is_rejected", RenderCompletedV1, set("encode_seconds", -3)},
		{"fast_path_must_be_a_boolean", RenderCompletedV1, set("fast_path", "no")},
		{"negative_cut_duration_is_rejected", CutCompletedV1, set("duration_seconds", -1)},
		{"negative_segment_start_is_rejected", CutCompletedV1, set("segments", []any{map[string]any{"start": -0.5, "end": 2}})},
		{"segment_without_end_is_rejected", CutCompletedV1, set("segments", []any{map[string]any{"start": 0.5}})},
		{"completed_cut_keeps_at_least_one_segment", CutCompletedV1, set("segments", []any{})},
		{"cut_with_both_segments_and_auto_is_rejected", CutRequestedV1, set("auto", map[string]any{"remove_silence": map[string]any{"min_silence_seconds": 0.8, "threshold_db": -35}})},
		{"cut_with_neither_segments_nor_auto_is_rejected", CutRequestedV1, del("segments")},
		{"positive_silence_threshold_is_rejected", CutRequestedV1, func(m map[string]any) {
			delete(m, "segments")
			m["auto"] = map[string]any{"remove_silence": map[string]any{"min_silence_seconds": 0.8, "threshold_db": 3}}
		}},
		{"unknown_asset_kind_is_rejected", AssetCreatedV1, set("kind", "image")},
		{"missing_asset_name_is_rejected", AssetCreatedV1, del("name")},
		{"unknown_part_is_rejected", AssetProbedV1, set("part", "video")},
		{"probe_without_duration_is_rejected", AssetProbedV1, in("media", del("duration_seconds"))},
		{"frame_rate_must_be_numeric", AssetProbedV1, in("media", set("frame_rate", "fast"))},
		{"negative_size_is_rejected", AssetSourceUploadedV1, set("size_bytes", -1)},
		{"negative_credits_are_rejected", AssetChargedV1, set("seconds", -343)},
		{"failure_without_code_is_rejected", RenderFailedV1, del("code")},
		{"empty_ledger_entry_id_is_rejected", AssetChargedV1, set("ledger_entry_id", "")},
		{"payload_must_be_an_object", AssetReadyV1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(`[]`)
			if tt.mutate != nil {
				data = patch(t, readGolden(t, tt.wireName), tt.mutate)
			}
			err := validator.Validate(tt.wireName, data)
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("Validate(%s) = %v, want ErrInvalidPayload", data, err)
			}
			var verr *jsonschema.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error does not wrap the *jsonschema.ValidationError: %v", err)
			}
		})
	}
	t.Run("malformed_json_is_an_invalid_payload", func(t *testing.T) {
		if err := validator.Validate(RenderCancelledV1, []byte(`{"attempt":`)); !errors.Is(err, ErrInvalidPayload) {
			t.Fatalf("err = %v, want ErrInvalidPayload", err)
		}
	})
}
