package eventschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the example events")

func goldenPath(wireName string) string {
	return filepath.Join("testdata", "golden", wireName+".json")
}

func readGolden(t *testing.T, wireName string) []byte {
	t.Helper()
	data, err := os.ReadFile(goldenPath(wireName))
	if err != nil {
		t.Fatalf("golden for %s: %v", wireName, err)
	}
	return data
}

// compact normalises JSON formatting so that goldens may be indented.
func compact(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return buf.String()
}

// domainEventTypeNames reads the domain package's source and returns every
// type with an isEvent method: the closed set of domain events.
func domainEventTypeNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "domain", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "isEvent" || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			recv := fn.Recv.List[0].Type
			if star, ok := recv.(*ast.StarExpr); ok {
				recv = star.X
			}
			if id, ok := recv.(*ast.Ident); ok {
				names = append(names, id.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func TestDomainEventCoverage(t *testing.T) {
	codec := NewCodec()
	validator, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	examples := exampleEvents()

	t.Run("domain_event_list_matches_the_domain_package", func(t *testing.T) {
		var listed []string
		for _, e := range allDomainEvents() {
			listed = append(listed, strings.TrimPrefix(fmt.Sprintf("%T", e), "domain."))
		}
		sort.Strings(listed)
		if got := domainEventTypeNames(t); !slices.Equal(got, listed) {
			t.Fatalf("domain events %v\nallDomainEvents lists %v\nadd the new event to allDomainEvents, give it a wire name, schema and golden", got, listed)
		}
	})

	t.Run("codec_names_exactly_the_domain_events", func(t *testing.T) {
		seen := map[string]string{}
		for _, e := range allDomainEvents() {
			name, _, err := codec.Marshal(e)
			if err != nil {
				t.Errorf("%T has no wire name: %v", e, err)
				continue
			}
			if other, dup := seen[name]; dup {
				t.Errorf("%T and %s share wire name %s", e, other, name)
			}
			seen[name] = fmt.Sprintf("%T", e)
		}
		var fromEvents []string
		for name := range seen {
			fromEvents = append(fromEvents, name)
		}
		sort.Strings(fromEvents)
		names := codec.Names()
		sort.Strings(names)
		if !slices.Equal(fromEvents, names) {
			t.Fatalf("Names() = %v\ndomain events marshal to %v", names, fromEvents)
		}
	})

	wireName := regexp.MustCompile(`^[a-z]+\.[a-z_]+\.v[1-9][0-9]*$`)
	for _, e := range allDomainEvents() {
		name, _, err := codec.Marshal(e)
		if err != nil {
			continue // reported above
		}
		t.Run(name+"/has_schema_golden_example_and_aggregate", func(t *testing.T) {
			if !wireName.MatchString(name) {
				t.Errorf("wire name %q is not <aggregate>.<fact>.v<N>", name)
			}
			if got, want := codec.AggregateOf(name), e.AggregateType(); got != want {
				t.Errorf("AggregateOf = %q, event says %q", got, want)
			}
			if !strings.HasPrefix(name, string(e.AggregateType())+".") {
				t.Errorf("wire name does not start with its aggregate %q", e.AggregateType())
			}
			if _, ok := validator.schemas[name]; !ok {
				t.Errorf("no schema file schemas/%s.json", name)
			}
			if _, ok := examples[name]; !ok {
				t.Errorf("no example event in exampleEvents")
			}
			if _, err := os.Stat(goldenPath(name)); err != nil && !*update {
				t.Errorf("no golden file: %v", err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	codec := NewCodec()
	t.Run("order_is_stable_and_grouped_by_aggregate", func(t *testing.T) {
		want := []string{
			AssetCreatedV1, AssetSourceUploadedV1, AssetAudioUploadedV1, AssetProbedV1,
			AssetPaymentRequiredV1, AssetChargedV1, AssetReadyV1, AssetFailedV1, AssetPartRefusedV1, AssetDeletedV1,
			CutRequestedV1, CutCompletedV1, CutFailedV1, CutDeletedV1,
			RenderRequestedV1, RenderStartedV1, RenderProgressedV1, RenderCompletedV1,
			RenderFailedV1, RenderCancelledV1, RenderRetriedV1, RenderOutputExpiredV1, RenderDeletedV1,
		}
		if got := codec.Names(); !slices.Equal(got, want) {
			t.Fatalf("Names() = %v, want %v", got, want)
		}
	})
	t.Run("callers_cannot_modify_the_codec_table", func(t *testing.T) {
		names := codec.Names()
		names[0] = "mutated"
		if codec.Names()[0] != AssetCreatedV1 {
			t.Fatal("Names() returned the codec's own slice")
		}
	})
}

func TestPublicType(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"version_suffix_is_stripped", "render.completed.v1", "render.completed"},
		{"multi_digit_version_is_stripped", "render.failed.v12", "render.failed"},
		{"underscored_fact_is_kept", "asset.payment_required.v1", "asset.payment_required"},
		{"unversioned_name_is_unchanged", "render.completed", "render.completed"},
		{"bare_v_is_not_a_version", "render.v", "render.v"},
		{"word_starting_with_v_is_not_a_version", "asset.verified", "asset.verified"},
		{"empty_stays_empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PublicType(tt.in); got != tt.want {
				t.Fatalf("PublicType(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	codec := NewCodec()
	for name, event := range exampleEvents() {
		t.Run(name+"/marshal_matches_golden", func(t *testing.T) {
			gotName, data, err := codec.Marshal(event)
			if err != nil {
				t.Fatal(err)
			}
			if gotName != name {
				t.Fatalf("Marshal named the event %q, want %q", gotName, name)
			}
			if *update {
				var buf bytes.Buffer
				if err := json.Indent(&buf, data, "", "  "); err != nil {
					t.Fatal(err)
				}
				buf.WriteByte('\n')
				if err := os.WriteFile(goldenPath(name), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got, want := compact(t, data), compact(t, readGolden(t, name)); got != want {
				t.Fatalf("Marshal differs from golden (run go test ./eventschema/ -update if intended)\n got: %s\nwant: %s", got, want)
			}
		})
		t.Run(name+"/golden_round_trips_through_the_domain", func(t *testing.T) {
			golden := readGolden(t, name)
			got, err := codec.Unmarshal(name, golden)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, event) {
				t.Fatalf("Unmarshal(golden) = %#v\nwant %#v", got, event)
			}
			_, again, err := codec.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if compact(t, again) != compact(t, golden) {
				t.Fatalf("re-marshalled payload differs from golden\n got: %s\nwant: %s", again, golden)
			}
		})
	}
}

func TestMarshalShapes(t *testing.T) {
	codec := NewCodec()
	tests := []struct {
		name  string
		event domain.Event
		want  string
	}{
		{
			"omitted_output_fields_stay_omitted",
			domain.RenderRequested{
				AssetID:   exampleAssetID,
				Output:    domain.OutputSpec{Format: domain.FormatM4A},
				Plan:      domain.RenderPlan{AudioBitrate: 192_000, Duration: 90 * time.Second},
				Signature: "sha256:ab",
			},
			`{"asset_id":"` + exampleAssetID + `","output":{"format":"m4a"},"plan":{"audio_bitrate_bps":192000,"duration_seconds":90},"signature":"sha256:ab"}`,
		},
		{
			"auto_cut_keeps_the_api_nesting",
			domain.CutRequested{AssetID: exampleAssetID, Auto: &domain.SilenceRemoval{MinSilence: 800 * time.Millisecond, ThresholdDB: -35}},
			`{"asset_id":"` + exampleAssetID + `","auto":{"remove_silence":{"min_silence_seconds":0.8,"threshold_db":-35}}}`,
		},
		{
			"audio_only_probe_omits_unknown_video_fields",
			domain.AssetProbed{Part: domain.AssetPartAudio, Media: domain.MediaInfo{
				Container: "mp3", Duration: 61*time.Second + 5*time.Millisecond, SizeBytes: 981_000,
				HasAudio: true, AudioCodec: "mp3", AudioBitrate: 128_000, AudioChannels: 2, AudioSampleRate: 44_100,
			}},
			`{"part":"audio","media":{"container":"mp3","duration_seconds":61.005,"size_bytes":981000,"has_video":false,"has_audio":true,"audio_codec":"mp3","audio_bitrate_bps":128000,"audio_channels":2,"audio_sample_rate_hz":44100}}`,
		},
		{
			"completed_cut_without_segments_writes_an_empty_list_not_null",
			domain.CutCompleted{},
			`{"segments":[],"duration_seconds":0}`,
		},
		{
			"lease_time_is_written_in_utc",
			domain.RenderStarted{Attempt: 1, WorkerID: "w1", LeaseUntil: time.Date(2025, 11, 27, 4, 41, 7, 0, time.FixedZone("CET", 3600))},
			`{"attempt":1,"worker_id":"w1","lease_until":"2025-11-27T03:41:07Z"}`,
		},
		{
			"html_characters_are_not_escaped",
			domain.CutFailed{Code: "invalid_segments", Message: "start < end & end <= duration"},
			`{"code":"invalid_segments","message":"start < end & end <= duration"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, data, err := codec.Marshal(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.want {
				t.Fatalf("got  %s\nwant %s", data, tt.want)
			}
			back, err := codec.Unmarshal(mustName(t, codec, tt.event), data)
			if err != nil {
				t.Fatal(err)
			}
			_, again, err := codec.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != tt.want {
				t.Fatalf("does not round-trip: %s", again)
			}
		})
	}
}

func mustName(t *testing.T, codec *Codec, e domain.Event) string {
	t.Helper()
	name, _, err := codec.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func TestUnknownEventType(t *testing.T) {
	codec := NewCodec()
	validator, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"render.exploded.v1", "render.requested.v2", "render.requested", ""} {
		t.Run("unmarshal_of_"+strings.ReplaceAll(name, ".", "_")+"_is_unknown_event_type", func(t *testing.T) {
			_, err := codec.Unmarshal(name, []byte(`{}`))
			if !errors.Is(err, ErrUnknownEventType) {
				t.Fatalf("err = %v, want ErrUnknownEventType", err)
			}
			var typed *UnknownEventTypeError
			if !errors.As(err, &typed) || typed.Name != name {
				t.Fatalf("err = %#v, want *UnknownEventTypeError naming %q", err, name)
			}
			if err := validator.Validate(name, []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
				t.Fatalf("Validate err = %v, want ErrUnknownEventType", err)
			}
			if agg := codec.AggregateOf(name); agg != "" {
				t.Fatalf("AggregateOf = %q, want empty", agg)
			}
		})
	}
	t.Run("marshal_of_an_event_pointer_is_unknown_event_type", func(t *testing.T) {
		_, _, err := codec.Marshal(&domain.RenderCancelled{})
		if !errors.Is(err, ErrUnknownEventType) {
			t.Fatalf("err = %v, want ErrUnknownEventType", err)
		}
	})
	t.Run("marshal_of_nil_is_unknown_event_type", func(t *testing.T) {
		if _, _, err := codec.Marshal(nil); !errors.Is(err, ErrUnknownEventType) {
			t.Fatalf("err = %v, want ErrUnknownEventType", err)
		}
	})
}

func TestUnmarshalRejectsMalformedPayloads(t *testing.T) {
	codec := NewCodec()
	tests := []struct {
		name     string
		wireName string
		data     string
	}{
		{"null_is_not_an_event", RenderCancelledV1, `null`},
		{"array_is_not_an_event", RenderCancelledV1, `[]`},
		{"empty_body_is_not_an_event", RenderCancelledV1, ``},
		{"string_where_a_number_belongs", RenderProgressedV1, `{"attempt":1,"percent":"42","eta_seconds":1,"position_seconds":1}`},
		{"lease_until_not_rfc3339", RenderStartedV1, `{"attempt":1,"worker_id":"w","lease_until":"tomorrow"}`},
		{"duration_out_of_range", CutCompletedV1, `{"segments":[],"duration_seconds":1e300}`},
		{"segment_out_of_range", CutRequestedV1, `{"asset_id":"a","segments":[{"start":0,"end":1e300}]}`},
		{"auto_plan_of_an_unknown_kind", CutRequestedV1, `{"asset_id":"a","auto":{"remove_music":{}}}`},
		{"trailing_garbage", RenderCancelledV1, `{"attempt":1} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := codec.Unmarshal(tt.wireName, []byte(tt.data)); err == nil {
				t.Fatalf("Unmarshal accepted %s as %#v", tt.data, e)
			}
		})
	}
}

func TestUnmarshalIgnoresUnknownFields(t *testing.T) {
	codec := NewCodec()
	for name, event := range exampleEvents() {
		t.Run(name+"/newer_optional_fields_are_ignored", func(t *testing.T) {
			data := withFutureFields(t, readGolden(t, name))
			got, err := codec.Unmarshal(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, event) {
				t.Fatalf("got %#v\nwant %#v", got, event)
			}
		})
	}
}

// withFutureFields adds fields a newer producer might send: at the top level
// and inside every nested object.
func withFutureFields(t *testing.T, data []byte) []byte {
	t.Helper()
	return patch(t, data, func(m map[string]any) {
		for _, v := range m {
			if nested, ok := v.(map[string]any); ok {
				nested["added_later"] = "x"
			}
		}
		m["priority"] = 7
		m["labels"] = map[string]any{"team": "growth"}
	})
}

// patch decodes a JSON object, lets f change it, and encodes it again.
func patch(t *testing.T, data []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renameWhy is the upcaster of a hypothetical render.retried.v0, which called
// the reason "why".
func renameWhy(data []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	m["reason"] = m["why"]
	delete(m, "why")
	return json.Marshal(m)
}

func TestUpcasting(t *testing.T) {
	const retiredName = "render.retried.v0"
	withUpcasters := func(u map[string]upcaster) *Codec {
		c := NewCodec()
		c.upcasters = u
		return c
	}

	t.Run("retired_name_is_upcast_to_the_current_event", func(t *testing.T) {
		codec := withUpcasters(map[string]upcaster{retiredName: {to: RenderRetriedV1, lift: renameWhy}})
		got, err := codec.Unmarshal(retiredName, []byte(`{"attempt":2,"why":"lease_expired"}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := (domain.RenderRetried{Attempt: 2, Reason: "lease_expired"}); got != want {
			t.Fatalf("got %#v, want %#v", got, want)
		}
		if agg := codec.AggregateOf(retiredName); agg != domain.AggregateRender {
			t.Fatalf("AggregateOf(%s) = %q", retiredName, agg)
		}
		if slices.Contains(codec.Names(), retiredName) {
			t.Fatal("Names() lists a retired name; nothing may be written under it")
		}
	})
	t.Run("upcast_returns_the_current_name_and_the_lifted_payload", func(t *testing.T) {
		codec := NewCodec().WithUpcaster(retiredName, RenderRetriedV1, renameWhy)
		name, data, err := codec.Upcast(retiredName, []byte(`{"attempt":2,"why":"lease_expired"}`))
		if err != nil {
			t.Fatal(err)
		}
		if name != RenderRetriedV1 || compact(t, data) != `{"attempt":2,"reason":"lease_expired"}` {
			t.Fatalf("Upcast = %s %s", name, data)
		}
	})
	t.Run("a_current_name_upcasts_to_itself_unchanged", func(t *testing.T) {
		codec := NewCodec().WithUpcaster(retiredName, RenderRetriedV1, renameWhy)
		golden := readGolden(t, RenderRetriedV1)
		name, data, err := codec.Upcast(RenderRetriedV1, golden)
		if err != nil || name != RenderRetriedV1 || !bytes.Equal(data, golden) {
			t.Fatalf("Upcast = %s %s, %v", name, data, err)
		}
	})
	t.Run("with_upcaster_leaves_the_codec_it_copies_alone", func(t *testing.T) {
		codec := NewCodec()
		codec.WithUpcaster(retiredName, RenderRetriedV1, renameWhy)
		if _, _, err := codec.Upcast(retiredName, []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
			t.Fatalf("err = %v, want ErrUnknownEventType", err)
		}
	})
	t.Run("a_message_already_on_kafka_under_a_retired_name_still_decodes", func(t *testing.T) {
		codec := NewCodec().WithUpcaster(retiredName, RenderRetriedV1, renameWhy)
		attrs, err := codec.CloudEventAttributes(exampleRecorded(), RenderRetriedV1)
		if err != nil {
			t.Fatal(err)
		}
		attrs[AttrType] = retiredName // as a relay before the breaking change wrote it
		_, wireName, err := codec.RecordedFromAttributes(attrs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.Unmarshal(wireName, []byte(`{"attempt":2,"why":"lease_expired"}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := (domain.RenderRetried{Attempt: 2, Reason: "lease_expired"}); got != want {
			t.Fatalf("got %#v, want %#v", got, want)
		}
	})
	t.Run("cloudevent_attributes_name_only_current_wire_names", func(t *testing.T) {
		codec := NewCodec().WithUpcaster(retiredName, RenderRetriedV1, renameWhy)
		if _, err := codec.CloudEventAttributes(exampleRecorded(), retiredName); !errors.Is(err, ErrUnknownEventType) {
			t.Fatalf("err = %v, want ErrUnknownEventType: upcast first", err)
		}
	})
	t.Run("upcasters_chain_across_versions", func(t *testing.T) {
		identity := func(b []byte) ([]byte, error) { return b, nil }
		codec := withUpcasters(map[string]upcaster{
			"render.retried.v-1": {to: retiredName, lift: identity},
			retiredName:          {to: RenderRetriedV1, lift: renameWhy},
		})
		if _, err := codec.Unmarshal("render.retried.v-1", []byte(`{"attempt":2,"why":"x"}`)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an_upcaster_cycle_is_an_error_not_a_hang", func(t *testing.T) {
		identity := func(b []byte) ([]byte, error) { return b, nil }
		codec := withUpcasters(map[string]upcaster{
			"a.x.v1": {to: "a.x.v2", lift: identity},
			"a.x.v2": {to: "a.x.v1", lift: identity},
		})
		if _, err := codec.Unmarshal("a.x.v1", []byte(`{}`)); err == nil {
			t.Fatal("cycle accepted")
		}
		if agg := codec.AggregateOf("a.x.v1"); agg != "" {
			t.Fatalf("AggregateOf = %q", agg)
		}
	})
	t.Run("upcaster_failure_is_reported", func(t *testing.T) {
		boom := errors.New("boom")
		codec := withUpcasters(map[string]upcaster{retiredName: {to: RenderRetriedV1, lift: func([]byte) ([]byte, error) { return nil, boom }}})
		if _, err := codec.Unmarshal(retiredName, []byte(`{}`)); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want wrapped boom", err)
		}
	})
	t.Run("every_retired_name_upcasts_to_a_current_name_and_keeps_its_schema", func(t *testing.T) {
		codec := NewCodec()
		validator, err := NewValidator()
		if err != nil {
			t.Fatal(err)
		}
		for old := range codec.upcasters {
			if _, err := codec.currentName(old); err != nil {
				t.Errorf("%s: %v", old, err)
			}
			if _, ok := validator.schemas[old]; !ok {
				t.Errorf("retired name %s lost its schema file", old)
			}
		}
	})
}

// MarshalStored's event is the one Unmarshal reads back from its payload,
// for every event type and for the values the JSON between them changes:
// durations below the microsecond, strings that are not valid UTF-8.
func TestMarshalStored_returns_the_event_as_unmarshal_reads_it_back(t *testing.T) {
	codec := NewCodec()
	events := map[string]domain.Event{}
	for name, e := range exampleEvents() {
		events[name] = e
	}
	events["sub_microsecond_durations"] = domain.RenderCompleted{Attempt: 1, Duration: 43_076_000_499, EncodeTime: 1_500_000_501}
	events["sub_microsecond_segments"] = domain.CutCompleted{Segments: []domain.Segment{{Start: 1_500_000_700, End: 9_000_000_300}}, Duration: 7_499_999_600}
	events["empty_segments"] = domain.CutCompleted{Segments: []domain.Segment{}}
	events["invalid_utf8"] = domain.RenderFailed{Attempt: 1, Code: "encode_failed", Message: "ffmpeg: \xff\xfe in <output>"}
	events["a_backslash_u_fffd_written_out"] = domain.RenderFailed{Attempt: 1, Code: "encode_failed", Message: `a literal \ufffd`}
	for name, e := range events {
		t.Run(name, func(t *testing.T) {
			wireName, data, stored, err := codec.MarshalStored(e)
			if err != nil {
				t.Fatal(err)
			}
			wantName, wantData, err := codec.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if wireName != wantName || !bytes.Equal(data, wantData) {
				t.Fatalf("MarshalStored wrote %s %s, Marshal %s %s", wireName, data, wantName, wantData)
			}
			want, err := codec.Unmarshal(wireName, data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored, want) {
				t.Fatalf("stored %#v\nwant   %#v", stored, want)
			}
		})
	}
}
