package client

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The SDK is written by hand (doc.go says why); these tests hold it to the
// API's contract, ports/httpapi/openapi.json, read as a file: the SDK
// imports nothing of the server's.

const docPath = "../ports/httpapi/openapi.json"

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas    map[string]schemaDoc `json:"schemas"`
		Parameters map[string]paramDoc  `json:"parameters"`
	} `json:"components"`
}

type schemaDoc struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
}

type paramDoc struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type operationDoc struct {
	OperationID string            `json:"operationId"`
	Parameters  []paramDoc        `json:"parameters"`
	Security    []json.RawMessage `json:"security"` // [] on the open routes
}

func loadDoc(t *testing.T) (*openAPIDoc, []byte) {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var d openAPIDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return &d, raw
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// docOperations is every operation of the document by operationId.
func docOperations(t *testing.T, d *openAPIDoc) map[string]struct {
	method, path string
	op           operationDoc
} {
	t.Helper()
	out := map[string]struct {
		method, path string
		op           operationDoc
	}{}
	for path, item := range d.Paths {
		for m, raw := range item {
			if !slices.Contains(httpMethods, m) {
				continue
			}
			var op operationDoc
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			out[op.OperationID] = struct {
				method, path string
				op           operationDoc
			}{strings.ToUpper(m), path, op}
		}
	}
	return out
}

// Every operation of the document has a row in the SDK's table with the
// document's method and path, and a Client method; the table has nothing
// the document lacks.
func TestContract_every_operation_has_a_method(t *testing.T) {
	d, _ := loadDoc(t)
	ops := docOperations(t, d)
	client := reflect.TypeFor[*Client]()
	seen := map[string]bool{}
	for _, row := range operations {
		seen[row.op.ID] = true
		doc, ok := ops[row.op.ID]
		if !ok {
			t.Errorf("the SDK has operation %s, openapi.json does not", row.op.ID)
			continue
		}
		if doc.method != row.op.Method || doc.path != row.op.Path {
			t.Errorf("%s: SDK sends %s %s, openapi.json says %s %s", row.op.ID, row.op.Method, row.op.Path, doc.method, doc.path)
		}
		// The key goes where the document asks for it, and GETs are
		// retried.
		if open := doc.op.Security != nil && len(doc.op.Security) == 0; open != row.op.Open {
			t.Errorf("%s: the SDK sends the key: %t, openapi.json wants it: %t", row.op.ID, !row.op.Open, !open)
		}
		if row.op.Method == "GET" && !row.op.Idempotent {
			t.Errorf("%s: a GET that is not retried", row.op.ID)
		}
		if _, ok := client.MethodByName(row.method); !ok {
			t.Errorf("%s: no method Client.%s", row.op.ID, row.method)
		}
	}
	for id, doc := range ops {
		if !seen[id] {
			t.Errorf("openapi.json has %s (%s %s), the SDK has no method for it", id, doc.method, doc.path)
		}
	}
}

// The query parameters the SDK sends are the document's.
func TestContract_query_parameters(t *testing.T) {
	d, _ := loadDoc(t)
	ops := docOperations(t, d)
	sent := map[string][]string{
		"listAssets": {"limit", "cursor"}, "listCuts": {"limit", "cursor"},
		"listRenders":           {"limit", "cursor", "asset_id", "state"},
		"listWebhookEndpoints":  {"limit", "cursor"},
		"listWebhookDeliveries": {"limit", "cursor", "status"},
	}
	for id, names := range sent {
		var query []string
		for _, p := range ops[id].op.Parameters {
			if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
				p = d.Components.Parameters[name]
			}
			if p.In == "query" {
				query = append(query, p.Name)
			}
		}
		sort.Strings(query)
		sort.Strings(names)
		if !slices.Equal(query, names) {
			t.Errorf("%s: the SDK sends query %v, openapi.json has %v", id, names, query)
		}
	}
}

// schemaTypes maps every schema of the document to its Go type.
var schemaTypes = map[string]reflect.Type{
	"Error": reflect.TypeFor[ErrorBody](), "ErrorDetail": reflect.TypeFor[ErrorDetail](),
	"Failure": reflect.TypeFor[Failure](), "Refusal": reflect.TypeFor[Refusal](),
	"Media": reflect.TypeFor[Media](), "Asset": reflect.TypeFor[Asset](),
	"AssetList": reflect.TypeFor[AssetList](), "Segment": reflect.TypeFor[Segment](),
	"SilenceRemoval": reflect.TypeFor[SilenceRemoval](), "AutoPlan": reflect.TypeFor[AutoPlan](),
	"CutPlan": reflect.TypeFor[CutPlan](), "Cut": reflect.TypeFor[Cut](),
	"CutList": reflect.TypeFor[CutList](), "CreditsBalance": reflect.TypeFor[CreditsBalance](),
	"LedgerEntry": reflect.TypeFor[LedgerEntry](), "Credits": reflect.TypeFor[Credits](),
	"CreateAsset": reflect.TypeFor[CreateAssetRequest](), "RequestCut": reflect.TypeFor[RequestCutRequest](),
	"Health": reflect.TypeFor[Health](), "Readiness": reflect.TypeFor[Readiness](),
	"RenderOutput": reflect.TypeFor[RenderOutput](), "RenderOutputRequest": reflect.TypeFor[RenderOutputRequest](),
	"RequestRender": reflect.TypeFor[RequestRenderRequest](), "Render": reflect.TypeFor[Render](),
	"RenderList": reflect.TypeFor[RenderList](), "RenderEvent": reflect.TypeFor[RenderEvent](),
	"RenderEventList":       reflect.TypeFor[RenderEventList](),
	"CreateWebhookEndpoint": reflect.TypeFor[CreateWebhookEndpointRequest](),
	"WebhookEndpoint":       reflect.TypeFor[WebhookEndpoint](), "WebhookEndpointList": reflect.TypeFor[WebhookEndpointList](),
	"WebhookDelivery": reflect.TypeFor[WebhookDelivery](), "WebhookDeliveryList": reflect.TypeFor[WebhookDeliveryList](),
	"RenderPlan": reflect.TypeFor[RenderPlan](), "WebhookAttempt": reflect.TypeFor[WebhookAttempt](),
	"RedeliverAccepted": reflect.TypeFor[RedeliverAccepted](), "WebhookEvent": reflect.TypeFor[WebhookEvent](),
	"CreateAPIKey": reflect.TypeFor[CreateAPIKeyRequest](), "APIKey": reflect.TypeFor[APIKey](),
	"APIKeyList": reflect.TypeFor[APIKeyList](),
}

// stubs are the read-your-writes stubs, decoded into the full type with
// Pending set: their properties must be the full type's.
var stubs = map[string]string{"AssetPending": "Asset", "CutPending": "Cut"}

type jsonField struct {
	omitempty, pointer bool
}

func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		out[name] = jsonField{omitempty: strings.Contains(opts, "omitempty"), pointer: f.Type.Kind() == reflect.Pointer}
	}
	return out
}

// nullable reports whether a property schema admits null.
func nullable(raw json.RawMessage) bool {
	var p struct {
		Type  any               `json:"type"`
		AnyOf []json.RawMessage `json:"anyOf"`
		Enum  []any             `json:"enum"`
	}
	_ = json.Unmarshal(raw, &p)
	if ts, ok := p.Type.([]any); ok && slices.Contains(ts, any("null")) {
		return true
	}
	if slices.Contains(p.Enum, nil) && p.Enum != nil {
		return true
	}
	for _, a := range p.AnyOf {
		if strings.Contains(string(a), `"type":"null"`) || strings.Contains(string(a), `"type": "null"`) {
			return true
		}
	}
	return false
}

// Every schema maps to a Go type whose JSON fields are the schema's
// properties: required ones never omitted, optional ones omitted when
// empty, nullable ones pointers (the nullable enums of
// RenderOutputRequest excepted: there null and absent are the same
// request, docs/renders.md, so the SDK sends absent).
func TestContract_every_schema_has_a_type(t *testing.T) {
	d, _ := loadDoc(t)
	for name, sch := range d.Components.Schemas {
		if full, ok := stubs[name]; ok {
			fields := jsonFields(schemaTypes[full])
			for p := range sch.Properties {
				if _, ok := fields[p]; !ok {
					t.Errorf("stub %s: property %s is not in %s", name, p, full)
				}
			}
			continue
		}
		typ, ok := schemaTypes[name]
		if !ok {
			t.Errorf("schema %s has no Go type", name)
			continue
		}
		fields := jsonFields(typ)
		for p, raw := range sch.Properties {
			f, ok := fields[p]
			if !ok {
				t.Errorf("%s (%s): property %s has no field", name, typ.Name(), p)
				continue
			}
			required := slices.Contains(sch.Required, p)
			if required && f.omitempty {
				t.Errorf("%s.%s is required but omitempty", name, p)
			}
			if !required && !f.omitempty {
				t.Errorf("%s.%s is optional but never omitted", name, p)
			}
			if nullable(raw) && !f.pointer && name != "RenderOutputRequest" && name != "RequestRender" {
				t.Errorf("%s.%s may be null but is no pointer", name, p)
			}
		}
		for f := range fields {
			if _, ok := sch.Properties[f]; !ok {
				t.Errorf("%s (%s): field %s is not in the schema", name, typ.Name(), f)
			}
		}
	}
	for name := range schemaTypes {
		if _, ok := d.Components.Schemas[name]; !ok {
			t.Errorf("Go type for schema %s, which openapi.json no longer has", name)
		}
	}
}

// compileSchemas compiles the document's schemas, as the server's own
// contract tests do (ports/httpapi/openapi.go): JSON Schema 2020-12 with
// formats asserted.
func compileSchemas(t testing.TB, raw []byte) func(name string) *jsonschema.Schema {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const url = "https://renderd.invalid/openapi.json"
	if err := c.AddResource(url, inst); err != nil {
		t.Fatal(err)
	}
	return func(name string) *jsonschema.Schema {
		sch, err := c.Compile(url + "#/components/schemas/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return sch
	}
}

func validate(t *testing.T, sch *jsonschema.Schema, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%T encodes to what its schema refuses: %v\n%s", v, err, b)
	}
}

func ptr[T any](v T) *T { return &v }

// What the SDK sends, and what it decodes and may re-encode, validates
// against the document's schemas.
func TestContract_values_validate_against_schemas(t *testing.T) {
	_, raw := loadDoc(t)
	schema := compileSchemas(t, raw)
	at := time.Date(2026, 12, 4, 1, 2, 3, 0, time.UTC)
	media := &Media{Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 3.5, SizeBytes: 1000, HasVideo: true, HasAudio: true,
		VideoCodec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrateBps: 5e6,
		AudioCodec: "aac", AudioBitrateBps: 128000, AudioChannels: 2, AudioSampleRate: 48000}
	segs := []Segment{{Start: 0, End: 1.5}, {Start: 2, End: 3}}
	render := Render{ID: "rnd_1", Object: "render", AssetID: "ast_1", CutID: ptr("cut_1"),
		Output: RenderOutput{Format: "mp4", Resolution: "720p"}, State: RenderCompleted, Progress: 100, Attempt: 1,
		DownloadURL: "http://127.0.0.1:8080/v1/downloads/tok", DownloadExpiresAt: &at, CreatedAt: at, UpdatedAt: at,
		Plan:      RenderPlan{Width: 1280, Height: 720, VideoBitrateBps: 5e6, AudioBitrateBps: 192000, Segments: segs, Duration: 2.5},
		SizeBytes: ptr[int64](1234), Duration: ptr(2.5), StartedAt: &at, CompletedAt: &at}
	for name, v := range map[string]any{
		"CreateAsset":           CreateAssetRequest{Kind: "video", Name: "demo"},
		"RequestCut":            RequestCutRequest{Segments: segs},
		"RequestRender":         RequestRenderRequest{AssetID: "ast_1", CutID: "cut_1", Output: RenderOutputRequest{Format: "mp4", Resolution: "1080p", VideoBitrate: 10, AudioBitrate: 192}},
		"CreateWebhookEndpoint": CreateWebhookEndpointRequest{URL: "https://example.invalid/hook", Events: []string{"render.completed"}},
		"CreateAPIKey":          CreateAPIKeyRequest{Name: "ci", ExpiresAt: &at},
		"Asset": Asset{ID: "ast_1", Object: "asset", Kind: "video", Name: "demo", State: AssetReady, Cuttable: true,
			Source: media, CreatedAt: at, UpdatedAt: at},
		"Cut": Cut{ID: "cut_1", Object: "cut", AssetID: "ast_1", State: CutCompleted, Plan: CutPlan{Segments: segs},
			Segments: segs, Duration: ptr(2.5), CreatedAt: at, UpdatedAt: at},
		"Render":       render,
		"WebhookEvent": WebhookEvent{ID: "0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f", Type: "render.completed", CreatedAt: at, Data: WebhookEventData{Render: func() Render { r := render; r.DownloadURL, r.DownloadExpiresAt = "", nil; return r }()}},
		"Error":        ErrorBody{Error: ErrorDetail{Code: "validation_error", Message: "no", Field: "output.format"}},
	} {
		validate(t, schema(name), v)
	}
	validate(t, schema("RequestCut"), RequestCutRequest{Auto: &AutoPlan{RemoveSilence: SilenceRemoval{MinSilence: 0.5, ThresholdDB: -40}}})
	validate(t, schema("CreateAPIKey"), CreateAPIKeyRequest{})
}
