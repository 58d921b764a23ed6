package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openAPIDoc is the API's contract: OpenAPI 3.1, whose schemas are JSON
// Schema 2020-12.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIURL is the base URL the document is compiled under; schema
// locations are JSON pointers into it.
const openAPIURL = "https://renderd.local/openapi.json"

// OpenAPIHandler serves the OpenAPI document (GET /openapi.json).
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
		_, _ = w.Write(openAPIDoc) // the client is gone if this fails
	})
}

// Operation is one documented method on one path.
type Operation struct {
	Method string // upper case, e.g. "GET"
	Path   string // as documented, e.g. "/v1/assets/{id}/cuts"
	ID     string // the operationId
	// Planned: marked x-renderd-status: planned, i.e. specified but not
	// served yet.
	Planned bool
	// Public: needs no Authorization header (security: []).
	Public bool
	// Statuses are the documented response statuses ("200", "404", …).
	Statuses []string
}

// OpenAPI is the compiled contract, for checking real responses against it
// in tests. Build it with LoadOpenAPI; it is safe for concurrent use.
type OpenAPI struct {
	paths            []*openAPIPath
	schemas          map[string]*jsonschema.Schema // components/schemas by name
	webhooks         map[string]*jsonschema.Schema // request bodies of the top-level webhooks, by name
	methodNotAllowed *openAPIResponse
}

type openAPIPath struct {
	template string
	segments []string
	ops      map[string]*openAPIOperation
}

type openAPIOperation struct {
	Operation
	responses map[string]*openAPIResponse
}

type openAPIResponse struct {
	location string                        // JSON pointer of the response, for messages
	content  []string                      // documented media ranges; none: no body
	schemas  map[string]*jsonschema.Schema // by media range, JSON ones only
	headers  map[string]*openAPIHeader     // by canonical name
}

type openAPIHeader struct {
	required bool
	schema   *jsonschema.Schema // nil: any value
}

var loadOpenAPI = sync.OnceValues(compileOpenAPI)

// LoadOpenAPI parses and compiles the embedded document: every component
// schema and every response schema, resolving #/components/... references.
// The result is shared; it is immutable.
func LoadOpenAPI() (*OpenAPI, error) { return loadOpenAPI() }

// raw shapes of the parts of the document the validator reads.
type (
	rawDoc struct {
		OpenAPI    string                                `json:"openapi"`
		Security   []map[string][]string                 `json:"security"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Webhooks   map[string]json.RawMessage            `json:"webhooks"`
		Components struct {
			Schemas   map[string]json.RawMessage `json:"schemas"`
			Responses map[string]rawResponse     `json:"responses"`
			Headers   map[string]rawHeader       `json:"headers"`
		} `json:"components"`
	}
	rawOperation struct {
		OperationID string                 `json:"operationId"`
		Status      string                 `json:"x-renderd-status"`
		Security    *[]map[string][]string `json:"security"`
		Responses   map[string]rawResponse `json:"responses"`
	}
	rawResponse struct {
		Ref     string                     `json:"$ref"`
		Content map[string]json.RawMessage `json:"content"`
		Headers map[string]rawHeader       `json:"headers"`
	}
	rawHeader struct {
		Ref      string          `json:"$ref"`
		Required bool            `json:"required"`
		Schema   json.RawMessage `json:"schema"`
	}
)

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

func compileOpenAPI() (*OpenAPI, error) {
	var doc rawDoc
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		return nil, fmt.Errorf("openapi: parse openapi.json: %w", err)
	}
	if doc.OpenAPI != "3.1.0" {
		return nil, fmt.Errorf("openapi: openapi.json is OpenAPI %q, want 3.1.0", doc.OpenAPI)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDoc))
	if err != nil {
		return nil, fmt.Errorf("openapi: parse openapi.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // a malformed created_at must fail, not pass as an annotation
	if err := c.AddResource(openAPIURL, inst); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	compile := func(pointer ...string) (*jsonschema.Schema, error) {
		loc := openAPIURL + "#" + jsonPointer(pointer...)
		sch, err := c.Compile(loc)
		if err != nil {
			return nil, fmt.Errorf("openapi: compile %s: %w", loc, err)
		}
		return sch, nil
	}

	o := &OpenAPI{schemas: map[string]*jsonschema.Schema{}, webhooks: map[string]*jsonschema.Schema{}}
	for name := range doc.Components.Schemas {
		if o.schemas[name], err = compile("components", "schemas", name); err != nil {
			return nil, err
		}
	}
	for name := range doc.Webhooks {
		if o.webhooks[name], err = compile("webhooks", name, "post", "requestBody", "content", "application/json", "schema"); err != nil {
			return nil, err
		}
	}
	response := func(r rawResponse, pointer ...string) (*openAPIResponse, error) {
		if r.Ref != "" {
			name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
			target, found := doc.Components.Responses[name]
			if !ok || !found || target.Ref != "" {
				return nil, fmt.Errorf("openapi: %s: $ref %q names no components/responses entry", rawPointer(pointer...), r.Ref)
			}
			r, pointer = target, []string{"components", "responses", name}
		}
		out := &openAPIResponse{location: rawPointer(pointer...), schemas: map[string]*jsonschema.Schema{}, headers: map[string]*openAPIHeader{}}
		for name, h := range r.Headers {
			at := slices.Concat(pointer, []string{"headers", name})
			if h.Ref != "" {
				ref, ok := strings.CutPrefix(h.Ref, "#/components/headers/")
				target, found := doc.Components.Headers[ref]
				if !ok || !found || target.Ref != "" {
					return nil, fmt.Errorf("openapi: %s: $ref %q names no components/headers entry", rawPointer(at...), h.Ref)
				}
				h, at = target, []string{"components", "headers", ref}
			}
			oh := &openAPIHeader{required: h.Required}
			if h.Schema != nil {
				if oh.schema, err = compile(append(at, "schema")...); err != nil {
					return nil, err
				}
			}
			out.headers[http.CanonicalHeaderKey(name)] = oh
		}
		for mediaRange, raw := range r.Content {
			out.content = append(out.content, mediaRange)
			var media struct {
				Schema json.RawMessage `json:"schema"`
			}
			if err := json.Unmarshal(raw, &media); err != nil {
				return nil, fmt.Errorf("openapi: %s: %w", out.location, err)
			}
			if isJSON(mediaRange) && media.Schema != nil {
				sch, err := compile(slices.Concat(pointer, []string{"content", mediaRange, "schema"})...)
				if err != nil {
					return nil, err
				}
				out.schemas[mediaRange] = sch
			}
		}
		sort.Strings(out.content)
		return out, nil
	}

	for template, item := range doc.Paths {
		p := &openAPIPath{template: template, segments: strings.Split(template, "/"), ops: map[string]*openAPIOperation{}}
		for method, raw := range item {
			if !httpMethods[method] {
				continue // parameters, summary, …
			}
			var rop rawOperation
			if err := json.Unmarshal(raw, &rop); err != nil {
				return nil, fmt.Errorf("openapi: %s %s: %w", method, template, err)
			}
			security := doc.Security
			if rop.Security != nil {
				security = *rop.Security
			}
			op := &openAPIOperation{
				Operation: Operation{Method: strings.ToUpper(method), Path: template, ID: rop.OperationID,
					Planned: rop.Status == "planned", Public: len(security) == 0},
				responses: map[string]*openAPIResponse{},
			}
			for status, rr := range rop.Responses {
				if op.responses[status], err = response(rr, "paths", template, method, "responses", status); err != nil {
					return nil, err
				}
				op.Statuses = append(op.Statuses, status)
			}
			sort.Strings(op.Statuses)
			p.ops[op.Method] = op
		}
		o.paths = append(o.paths, p)
	}
	sort.Slice(o.paths, func(i, j int) bool { return o.paths[i].template < o.paths[j].template })

	mna, ok := doc.Components.Responses["MethodNotAllowed"]
	if !ok {
		return nil, errors.New("openapi: components/responses/MethodNotAllowed is missing")
	}
	if o.methodNotAllowed, err = response(mna, "components", "responses", "MethodNotAllowed"); err != nil {
		return nil, err
	}
	return o, nil
}

// Operations lists every documented operation, by path then method.
func (o *OpenAPI) Operations() []Operation {
	var out []Operation
	for _, p := range o.paths {
		for _, op := range p.ops {
			c := op.Operation
			c.Statuses = slices.Clone(c.Statuses)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// ValidateSchema checks a JSON document against a component schema, e.g.
// ValidateSchema("Asset", body).
func (o *OpenAPI) ValidateSchema(name string, body []byte) error {
	sch, ok := o.schemas[name]
	if !ok {
		return fmt.Errorf("openapi: no schema %q in components/schemas", name)
	}
	return validateJSON(sch, body)
}

// ValidateWebhook checks a webhook body against the request body the
// document's top-level webhooks give for its event type, e.g.
// ValidateWebhook("render.completed", body).
func (o *OpenAPI) ValidateWebhook(eventType string, body []byte) error {
	sch, ok := o.webhooks[eventType]
	if !ok {
		return fmt.Errorf("openapi: no webhook %q in webhooks", eventType)
	}
	return validateJSON(sch, body)
}

// ValidateResponse checks a real response against the document. path is the
// concrete request path (e.g. "/v1/assets/ast_123/cuts"; a query string is
// ignored); it is matched against the documented path templates, literal
// segments winning over parameters. The response documented for the status
// (else its "NXX" range, else "default") decides: without content the body
// must be empty; otherwise contentType must fit a documented media range,
// and a JSON body must satisfy that range's schema. A 405 on a documented
// path is checked against components/responses/MethodNotAllowed.
//
// An undocumented path, method or status is an error too: extend
// ports/httpapi/openapi.json.
func (o *OpenAPI) ValidateResponse(method, path string, status int, contentType string, body []byte) error {
	resp, what, err := o.response(method, path, status)
	if err != nil {
		return err
	}
	return resp.validate(what, contentType, body)
}

// ValidateHeaders checks a real response's headers against the ones
// documented for its status (found as ValidateResponse finds them): a
// required one must be present, and each present one must satisfy its
// schema, read as a string or, failing that, as the integer it spells
// (Retry-After). Headers the document does not name pass.
func (o *OpenAPI) ValidateHeaders(method, path string, status int, h http.Header) error {
	resp, what, err := o.response(method, path, status)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(resp.headers))
	for name := range resp.headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		doc := resp.headers[name]
		values, present := h[name]
		switch {
		case !present && doc.required:
			return fmt.Errorf("openapi: %s: header %s is required by %s", what, name, resp.location)
		case !present || doc.schema == nil:
			continue
		}
		v := values[0]
		if err := doc.schema.Validate(v); err != nil {
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || doc.schema.Validate(json.Number(strconv.FormatInt(n, 10))) != nil {
				return fmt.Errorf("openapi: %s: header %s: %q: %w", what, name, v, err)
			}
		}
	}
	return nil
}

// response finds the documented response for a real one, and a label for
// messages.
func (o *OpenAPI) response(method, path string, status int) (*openAPIResponse, string, error) {
	method = strings.ToUpper(method)
	path, _, _ = strings.Cut(path, "?")
	p := o.match(path)
	if p == nil {
		return nil, "", fmt.Errorf("openapi: no documented path matches %s (extend ports/httpapi/openapi.json)", path)
	}
	what := fmt.Sprintf("%s %s (%s) → %d", method, path, p.template, status)
	op := p.ops[method]
	if op == nil {
		if status == http.StatusMethodNotAllowed {
			return o.methodNotAllowed, what, nil
		}
		return nil, "", fmt.Errorf("openapi: %s: %s is not documented on %s (documented: %s)", what, method, p.template, strings.Join(p.methods(), ", "))
	}
	code := strconv.Itoa(status)
	resp := op.responses[code]
	if resp == nil && len(code) == 3 {
		resp = op.responses[code[:1]+"XX"]
	}
	if resp == nil {
		resp = op.responses["default"]
	}
	if resp == nil {
		return nil, "", fmt.Errorf("openapi: %s: status %d is not documented for %s (documented: %s)", what, status, op.ID, strings.Join(op.Statuses, ", "))
	}
	return resp, what, nil
}

func (r *openAPIResponse) validate(what, contentType string, body []byte) error {
	if len(r.content) == 0 {
		if len(bytes.TrimSpace(body)) != 0 {
			return fmt.Errorf("openapi: %s: the response %s documents no body, got %d bytes", what, r.location, len(body))
		}
		return nil
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("openapi: %s: content type %q: %w (documented: %s)", what, contentType, err, strings.Join(r.content, ", "))
	}
	mediaRange, ok := bestMediaRange(r.content, mediaType)
	if !ok {
		return fmt.Errorf("openapi: %s: content type %q is not documented (documented: %s)", what, mediaType, strings.Join(r.content, ", "))
	}
	sch := r.schemas[mediaRange]
	if sch == nil || !isJSON(mediaType) {
		return nil // not JSON: the content type is all there is to check
	}
	if err := validateJSON(sch, body); err != nil {
		return fmt.Errorf("openapi: %s: body does not match %s: %w", what, r.location, err)
	}
	return nil
}

func validateJSON(sch *jsonschema.Schema, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var inst any
	if err := dec.Decode(&inst); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("more than one JSON value")
	}
	return sch.Validate(inst)
}

// match finds the path template for a concrete path: every segment equal, a
// {parameter} matching one non-empty segment; the most literal match wins.
func (o *OpenAPI) match(path string) *openAPIPath {
	segs := strings.Split(path, "/")
	var best *openAPIPath
	bestLiterals := -1
	for _, p := range o.paths {
		if len(p.segments) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, s := range p.segments {
			switch {
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
				ok = segs[i] != ""
			case s == segs[i]:
				literals++
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = p, literals
		}
	}
	return best
}

func (p *openAPIPath) methods() []string {
	out := make([]string, 0, len(p.ops))
	for m := range p.ops {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// bestMediaRange picks the documented media range for a media type: exact,
// then type/*, then */*.
func bestMediaRange(ranges []string, mediaType string) (string, bool) {
	typ, _, _ := strings.Cut(mediaType, "/")
	for _, want := range []string{mediaType, typ + "/*", "*/*"} {
		for _, r := range ranges {
			if strings.EqualFold(strings.TrimSpace(strings.Split(r, ";")[0]), want) {
				return r, true
			}
		}
	}
	return "", false
}

func isJSON(mediaType string) bool {
	mediaType = strings.ToLower(strings.TrimSpace(strings.Split(mediaType, ";")[0]))
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// rawPointer builds an RFC 6901 JSON pointer, for messages.
func rawPointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// jsonPointer is rawPointer escaped for a URI fragment.
func jsonPointer(tokens ...string) string { return escapeFragment(rawPointer(tokens...)) }

// escapeFragment percent-encodes what a URI fragment may not hold as is.
func escapeFragment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
