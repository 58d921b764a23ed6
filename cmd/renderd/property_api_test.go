package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/ports/httpapi"
)

// Requests generated from the OpenAPI document, schemathesis-style: for
// every operation it describes (so routes added later are covered without
// a change here), valid requests built from its parameter and body schemas,
// and hostile variants of them. Every answer must be documented for the
// operation (status, body schema, headers), and none may be a 5xx other
// than a documented 503.
//
// How to replay a logged run and change its budget: README, "Two
// commands" (the paragraph on what make test sends).

// docNode is a decoded piece of the OpenAPI document.
type docNode = map[string]any

type propOp struct {
	method, path string
	node         docNode
	params       []docNode
	body         docNode // requestBody, nil without one
	public       bool
}

type propRequest struct {
	method, path, rawQuery string // path escaped, as sent
	header                 http.Header
	body                   []byte
	what                   string // the variant, for messages
	odd                    bool   // a path spelling no template documents
}

type prop struct {
	t    *testing.T
	s    *service
	f    fixtures
	rng  *rand.Rand
	doc  docNode
	api  *httpapi.OpenAPI
	http *http.Client
}

func (s *service) propertyCheck(t *testing.T, f fixtures) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("RENDERD_PROPERTY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RENDERD_PROPERTY_SEED: %v", err)
		}
		seed = n
	}
	budget := 800
	if v := os.Getenv("RENDERD_PROPERTY_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RENDERD_PROPERTY_REQUESTS: %q", v)
		}
		budget = n
	}
	t.Logf("property requests: seed %d, budget %d (RENDERD_PROPERTY_SEED=%d replays them)", seed, budget, seed)
	p := s.newProp(t, f, seed)
	ops := p.operations()
	if len(ops) < 20 {
		t.Fatalf("only %d operations in the document", len(ops))
	}
	statuses := map[int]int{}
	succeeded := map[string]int{}       // documented 2xx answers per operation
	answers := map[string]map[int]int{} // statuses per operation, valid requests
	send := func(op propOp, req propRequest) {
		status := p.send(op, req)
		statuses[status]++
		if req.what == "valid" {
			name := op.method + " " + op.path
			if answers[name] == nil {
				answers[name] = map[int]int{}
			}
			answers[name][status]++
		}
		if status >= 200 && status < 300 && req.method == op.method && !req.odd {
			succeeded[op.method+" "+op.path]++
		}
	}
	for i := range budget {
		op := ops[i%len(ops)]
		send(op, p.request(op, p.chance(70)))
	}
	t.Logf("statuses: %v; 2xx by operation: %v", statuses, succeeded)
	ok := 0
	for status, n := range statuses {
		if status >= 200 && status < 300 {
			ok += n
		}
	}
	if ok < budget/10 {
		t.Errorf("only %d of %d generated requests succeeded: the generator no longer builds valid requests", ok, budget)
	}
	// Every operation's success answers are checked too, not only its
	// errors: one the budget left without a 2xx gets valid requests until
	// one succeeds. Most valid requests do; the least likely, a render
	// (audio asset, audio format, no video settings), about one in seven.
	// Every served operation has the fixtures to succeed: no exceptions.
	for _, op := range ops {
		name := op.method + " " + op.path
		for extra := range 60 {
			if succeeded[name] > 0 {
				if extra > 0 {
					t.Logf("%s: a 2xx after %d more valid requests", name, extra)
				}
				break
			}
			send(op, p.request(op, false))
		}
		if succeeded[name] == 0 {
			t.Errorf("%s never answered a 2xx: its success responses went unchecked (a fixture missing?); its valid requests' statuses: %v", name, answers[name])
		}
	}
}

// newProp generates requests from the document s serves, as an outside
// client reads it, with f's ids and credentials.
func (s *service) newProp(t *testing.T, f fixtures, seed uint64) *prop {
	served, err := http.Get(s.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc docNode
	err = json.NewDecoder(served.Body).Decode(&doc)
	served.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	return &prop{t: t, s: s, f: f, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), doc: doc, api: api,
		http: &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// operations lists the document's served operations in a stable order.
func (p *prop) operations() []propOp {
	paths := p.doc["paths"].(docNode)
	var out []propOp
	for path, raw := range paths {
		item := raw.(docNode)
		for method, rawOp := range item {
			op, ok := rawOp.(docNode)
			if !ok || !slices.Contains([]string{"get", "put", "post", "delete", "patch"}, method) {
				continue
			}
			if op["x-renderd-status"] == "planned" {
				continue
			}
			o := propOp{method: strings.ToUpper(method), path: path, node: op}
			for _, prm := range op["parameters"].([]any) {
				o.params = append(o.params, p.resolve(prm.(docNode)))
			}
			if b, ok := op["requestBody"].(docNode); ok {
				o.body = p.resolve(b)
			}
			if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
				o.public = true
			}
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// resolve follows a local $ref.
func (p *prop) resolve(n docNode) docNode {
	for {
		ref, ok := n["$ref"].(string)
		if !ok {
			return n
		}
		var cur any = p.doc
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(docNode)[tok]
		}
		n = cur.(docNode)
	}
}

func (p *prop) chance(percent int) bool { return p.rng.IntN(100) < percent }

func pick[T any](p *prop, xs ...T) T { return xs[p.rng.IntN(len(xs))] }

// ---- generation

// hostileStrings are strings a client may send anywhere a string goes.
var hostileStrings = []string{"\x00", "a\x00b", "\xff\xfe", "\xc3", "ä\u202e", strings.Repeat("x", 300), strings.Repeat("é", 3000),
	"%00", "../../etc/passwd", "' OR 1=1 --", "\u0000\u0000", "\x7f", " ", "", "null", "🎬"}

// request builds a valid or hostile request for op.
func (p *prop) request(op propOp, hostile bool) propRequest {
	r := propRequest{method: op.method, header: http.Header{}, what: "valid"}
	// The path.
	segs := strings.Split(op.path, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "{") {
			continue
		}
		collection := ""
		if i > 0 {
			collection = segs[i-1]
		}
		// A DELETE removes its object, an upload fills its part once.
		var spares []string
		if op.method == http.MethodDelete && i == len(segs)-1 || op.method == http.MethodPut {
			spares = p.sparesFor(op, collection)
		}
		v := p.pathValue(collection, spares, hostile && p.chance(40), &r)
		if own := append([]string{p.f.asset}, append(p.f.uploads, p.f.audioUploads...)...); collection == "assets" && op.method == http.MethodDelete && slices.Contains(own, v) {
			// Deleting an asset takes its cuts and renders along: only
			// the assets made for it, so the others keep theirs.
			v = pick(p, p.f.doomed...)
		}
		segs[i] = url.PathEscape(v)
	}
	r.path = strings.Join(segs, "/")
	if hostile && p.chance(8) {
		r.path, r.odd, r.what = p.oddSpelling(r.path), true, "odd path spelling"
	}
	// The query and headers.
	q := []string{}
	for _, prm := range op.params {
		name, _ := prm["name"].(string)
		sch, _ := prm["schema"].(docNode)
		switch prm["in"] {
		case "query":
			if !hostile && !p.chance(50) {
				continue
			}
			v := p.queryValue(name, sch, hostile && p.chance(40), &r)
			q = append(q, url.QueryEscape(name)+"="+v)
		case "header":
			if hostile && p.chance(20) {
				r.header[http.CanonicalHeaderKey(name)] = []string{pick(p, "\x00", "\xff", strings.Repeat("h", 200), "a b", "bytes=-", "bytes=99999999-1")}
				r.what = "hostile header " + name
			} else if required, _ := prm["required"].(bool); required || p.chance(30) {
				r.header.Set(name, p.headerFor(name, sch, r.path))
			}
		}
	}
	if hostile && p.chance(15) {
		q = append(q, pick(p, "x_extra=1", "limit=%FF", "cursor=%00", "%zz=1", "a=1;b=2", "limit=1&limit=1000", "asset_id=&state="))
		r.what = "extra query " + q[len(q)-1]
	}
	r.rawQuery = strings.Join(q, "&")
	// The body.
	if op.body != nil {
		r.body, r.header["Content-Type"] = p.bodyFor(op, hostile && p.chance(60), &r)
	}
	// The credentials.
	if !op.public {
		key := p.f.key
		if hostile && p.chance(10) {
			key = pick(p, p.f.otherKey, "", "rdk_forged", "\x00")
			r.what = "other or no credentials"
		}
		if key != "" {
			r.header["Authorization"] = []string{"Bearer " + key}
		}
	}
	if hostile && p.chance(5) {
		r.method, r.what = pick(p, "PATCH", "OPTIONS", "TRACE", "PROPFIND"), "undocumented method"
	}
	return r
}

// sparesFor is the fixtures op consumes in collection (nil: it takes the
// usual ones). Each part's uploads have spares of their own: an upload's
// bytes are no media, so its probe fails the asset, which then refuses
// its other part; an audio upload first would leave the source's no asset
// to succeed on.
func (p *prop) sparesFor(op propOp, collection string) []string {
	if collection == "assets" && strings.HasSuffix(op.path, "/audio") {
		return p.f.audioUploads
	}
	return map[string][]string{"webhook-endpoints": p.f.spareEndpoints, "assets": p.f.uploads, "uploads": p.f.spareTusUploads}[collection]
}

// pathValue is an id for a {parameter} after collection: the fixture of
// the right type (one of spares where the operation consumes it, so the
// other operations keep theirs), or (hostile) another type's, another
// account's, or bytes no id holds.
func (p *prop) pathValue(collection string, spares []string, hostile bool, r *propRequest) string {
	right := map[string][]string{"assets": {p.f.asset, p.f.uploading}, "cuts": {p.f.cut}, "renders": {p.f.render},
		"webhook-endpoints": {p.f.endpoint, p.f.deliveryEndpoint}, "webhook-deliveries": {p.f.delivery}, "api-keys": p.f.keys,
		"downloads": {p.f.download}, "uploads": p.f.tusUploads}[collection]
	if spares != nil {
		right = spares
	}
	if !hostile && len(right) > 0 {
		return pick(p, right...)
	}
	ids := p.f.ids()
	var all []string
	for _, typ := range []string{"asset", "cut", "render", "endpoint", "delivery", "key"} {
		all = append(all, ids[typ])
	}
	for _, other := range slices.Sorted(maps.Keys(p.f.others())) {
		all = append(all, p.f.others()[other])
	}
	v := pick(p, append(all, "\xff", "\x00", "ast_\xff", idPrefix(collection)+"\x00",
		idPrefix(collection)+strings.Repeat("9", 80), "ä", "..", "%2F", "rdk_x", strings.Repeat("z", 5000), "a b")...)
	r.what = fmt.Sprintf("path id %q", v)
	r.odd = r.odd || v == ".." // cleaned away by the router
	return v
}

func (p *prop) oddSpelling(path string) string {
	switch p.rng.IntN(6) {
	case 0:
		return strings.Replace(path, "/v1/", "/v1//", 1)
	case 1:
		return path + "/"
	case 2:
		return strings.ToUpper(path)
	case 3:
		return strings.Replace(path, "/v1/", "/v1/./", 1)
	case 4:
		return strings.Replace(path, "/v1/", "/v1/x/../", 1)
	}
	return strings.Replace(path, "/v1/", "/%76%31/", 1)
}

// queryValue is an escaped query value for a parameter.
func (p *prop) queryValue(name string, sch docNode, hostile bool, r *propRequest) string {
	if hostile {
		v := pick(p, "%00", "%FF", "%zz", "-1", "0", "1e3", "99999999999999999999", "%E2%80%AE", "ast_x", p.f.render,
			url.QueryEscape(strings.Repeat("c", 600)), "%0A", "true")
		r.what = fmt.Sprintf("query %s=%s", name, v)
		return v
	}
	if name == "asset_id" {
		return url.QueryEscape(pick(p, p.f.asset, p.f.otherAsset))
	}
	return url.QueryEscape(fmt.Sprint(p.gen(sch, name, 0)))
}

// bodyFor builds a request body for op and its Content-Type.
func (p *prop) bodyFor(op propOp, hostile bool, r *propRequest) ([]byte, []string) {
	content, _ := op.body["content"].(docNode)
	var types []string
	for ct := range content {
		types = append(types, ct)
	}
	sort.Strings(types)
	ct := types[0]
	media, _ := content[ct].(docNode)
	sch, _ := media["schema"].(docNode)
	if !strings.Contains(ct, "json") {
		// Raw media: some bytes; the probe decides later.
		body := []byte("not really media")
		if hostile {
			body = []byte(pick(p, "", "\x00\x00\x00", strings.Repeat("\xff", 2000)))
			r.what = "hostile media"
		}
		if ct == "*/*" {
			ct = "application/octet-stream"
		}
		return body, []string{ct}
	}
	v := p.gen(sch, "", 0)
	if !hostile {
		b, _ := json.Marshal(v)
		return b, []string{"application/json"}
	}
	switch p.rng.IntN(8) {
	case 0:
		r.what = "not JSON"
		return []byte(pick(p, "", "{", "[]", "null", "\x00", "{}{}", `{"a":`, "\xff{}", strings.Repeat("[", 5000))), []string{"application/json"}
	case 1:
		b, _ := json.Marshal(v)
		c := pick(p, "text/plain", "application/xml", "application/json; charset=latin1", "", "\x7f", "application/json\x00")
		r.what = fmt.Sprintf("content type %q", c)
		if c == "" {
			return b, nil
		}
		return b, []string{c}
	case 2:
		r.what = "over-long body"
		b, _ := json.Marshal(map[string]string{"name": strings.Repeat("x", 20000)})
		return b, []string{"application/json"}
	}
	// A mutated document: one leaf, or one field, changed.
	mutated, what := p.mutate(v)
	r.what = "body: " + what
	b, _ := json.Marshal(mutated)
	// Invalid UTF-8 cannot be marshalled: it goes in raw, where marked.
	b = bytes.ReplaceAll(b, []byte(`\ufffdRAW\ufffd`), []byte("\xff\xfe"))
	return b, []string{"application/json"}
}

// mutate changes one place of a generated JSON value in a hostile way.
func (p *prop) mutate(v any) (any, string) {
	obj, ok := v.(map[string]any)
	if !ok || len(obj) == 0 {
		return pick[any](p, "\x00", 1e308, []any{}, nil), "not an object"
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	k := pick(p, keys...)
	out := map[string]any{}
	for kk, vv := range obj {
		out[kk] = vv
	}
	switch p.rng.IntN(5) {
	case 0:
		delete(out, k)
		return out, "without " + k
	case 1:
		out["x_extra"] = 1
		return out, "an extra field"
	case 2:
		if inner, ok := out[k].(map[string]any); ok && len(inner) > 0 {
			m, what := p.mutate(inner)
			out[k] = m
			return out, k + "." + what
		}
		if arr, ok := out[k].([]any); ok && len(arr) > 0 {
			m, what := p.mutate(arr[0])
			out[k] = append([]any{m}, arr[1:]...)
			return out, k + "[0]." + what
		}
	case 3:
		out[k] = pick[any](p, 1e308, -1e308, -1, 0, 9.2233720368547758e18, 1e-320, true, nil, []any{1}, map[string]any{"a": 1})
		return out, fmt.Sprintf("%s = %v", k, out[k])
	}
	s := pick(p, hostileStrings...)
	if p.chance(25) {
		s = "\ufffdRAW\ufffd" // replaced by raw invalid UTF-8 bytes
	}
	out[k] = s
	return out, fmt.Sprintf("%s = %q", k, s)
}

// gen makes a value valid against sch (as far as the generator knows):
// enums, consts, types, bounds, required properties and oneOf branches;
// fields naming ids get the fixtures'.
func (p *prop) gen(sch docNode, name string, depth int) any {
	sch = p.resolve(sch)
	switch name {
	case "asset_id":
		return pick(p, p.f.asset, p.f.asset, p.f.asset, p.f.uploading)
	case "cut_id":
		return pick[any](p, p.f.cut, nil)
	case "url":
		// Not one of the fixtures' URLs: a new endpoint is not a duplicate.
		return "https://example.com/hook/" + strconv.Itoa(p.rng.IntN(1e6))
	}
	if c, ok := sch["const"]; ok {
		return c
	}
	if e, ok := sch["enum"].([]any); ok {
		return e[p.rng.IntN(len(e))]
	}
	if all, ok := sch["allOf"].([]any); ok && len(all) > 0 {
		return p.gen(all[0].(docNode), name, depth+1)
	}
	if any1, ok := sch["anyOf"].([]any); ok && len(any1) > 0 {
		return p.gen(pick(p, any1...).(docNode), name, depth+1)
	}
	typ := sch["type"]
	if ts, ok := typ.([]any); ok {
		var nonNull []any
		for _, t := range ts {
			if t != "null" {
				nonNull = append(nonNull, t)
			}
		}
		typ = pick(p, nonNull...)
	}
	if typ == nil {
		if _, ok := sch["properties"]; ok {
			typ = "object"
		}
	}
	num := func(def float64) (float64, float64) {
		lo, hi := 0.0, def
		if v, ok := sch["minimum"].(float64); ok {
			lo = v
		}
		if v, ok := sch["maximum"].(float64); ok {
			hi = v
		}
		if v, ok := sch["exclusiveMaximum"].(float64); ok {
			hi = v - 0.001
		}
		if lo > hi {
			hi = lo
		}
		return lo, hi
	}
	switch typ {
	case "integer":
		lo, hi := num(100)
		return int(lo) + p.rng.IntN(int(hi-lo)+1)
	case "number":
		lo, hi := num(10)
		return lo + p.rng.Float64()*(hi-lo)
	case "boolean":
		return p.chance(50)
	case "string":
		return p.stringFor(name, sch)
	case "array":
		items, _ := sch["items"].(docNode)
		n := 1 + p.rng.IntN(3)
		if v, ok := sch["minItems"].(float64); ok && n < int(v) {
			n = int(v)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = p.gen(items, "", depth+1)
		}
		return out
	case "object":
		props, _ := sch["properties"].(docNode)
		required := map[string]bool{}
		for _, r := range asList(sch["required"]) {
			required[r] = true
		}
		// oneOf of required lists: take one branch, leave the others out.
		excluded := map[string]bool{}
		if branches, ok := sch["oneOf"].([]any); ok && len(branches) > 0 {
			chosen := p.rng.IntN(len(branches))
			for i, b := range branches {
				for _, r := range asList(b.(docNode)["required"]) {
					if i == chosen {
						required[r] = true
					} else {
						excluded[r] = true
					}
				}
			}
		}
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names) // a seed replays the same values
		out := map[string]any{}
		for _, k := range names {
			if excluded[k] && !required[k] || depth > 4 {
				continue
			}
			if required[k] || p.chance(50) {
				out[k] = p.gen(props[k].(docNode), k, depth+1)
			}
		}
		return out
	}
	return nil
}

// headerFor is a valid value of a header parameter of a request to path:
// its const, the tus protocol's headers for the fixtures' uploads, else a
// string.
func (p *prop) headerFor(name string, sch docNode, path string) string {
	if c, ok := sch["const"].(string); ok {
		return c
	}
	b64 := func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
	switch name {
	case "Upload-Length":
		return strconv.Itoa(1000 + p.rng.IntN(1000))
	case "Upload-Offset":
		return p.uploadOffset(path)
	case "Upload-Metadata":
		return "asset_id " + b64(pick(p, p.f.tusAssets...)) + ",part " + b64("source")
	}
	return p.stringFor(name, sch)
}

// uploadOffset is the offset the server holds for the upload at path
// (every PATCH that succeeds moves it), as a tus client asks for it before
// resuming; "0" when HEAD does not tell (an outage, a path no upload has).
func (p *prop) uploadOffset(path string) string {
	req, err := http.NewRequestWithContext(p.t.Context(), http.MethodHead, p.s.base+"/", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	req.URL.Opaque = path
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+p.f.key)
	resp, err := p.http.Do(req)
	if err != nil {
		return "0"
	}
	resp.Body.Close()
	if off := resp.Header.Get("Upload-Offset"); resp.StatusCode == http.StatusOK && off != "" {
		return off
	}
	return "0"
}

func (p *prop) stringFor(name string, sch docNode) string {
	switch sch["format"] {
	case "date-time":
		return time.Now().Add(time.Duration(1+p.rng.IntN(72)) * time.Hour).UTC().Format(time.RFC3339)
	case "uri":
		return "https://example.com/" + strconv.Itoa(p.rng.IntN(1000))
	}
	if pat, _ := sch["pattern"].(string); pat != "" {
		if ex, ok := sch["example"].(string); ok {
			return ex
		}
		if pat == "^[!-~]{1,128}$" {
			return "prop-" + strconv.Itoa(p.rng.IntN(1e6))
		}
	}
	n := 1 + p.rng.IntN(12)
	if v, ok := sch["maxLength"].(float64); ok && n > int(v) {
		n = int(v)
	}
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 -"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[p.rng.IntN(len(letters))]
	}
	return string(b)
}

func asList(v any) []string {
	var out []string
	for _, x := range asAnyList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asAnyList(v any) []any { l, _ := v.([]any); return l }

// ---- sending and checking

func (p *prop) send(op propOp, r propRequest) int {
	t := p.t
	t.Helper()
	target := p.s.base + r.path
	if r.rawQuery != "" {
		target += "?" + r.rawQuery
	}
	req, err := http.NewRequestWithContext(t.Context(), r.method, p.s.base+"/", bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	// Set as generated: url.Parse would refuse some of it (it is hostile).
	req.URL.Opaque = r.path
	req.URL.RawQuery = r.rawQuery
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	resp, err := p.http.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid header field value") || strings.Contains(err.Error(), "invalid method") {
			return 0 // the client refused to send it: nothing reached the server
		}
		t.Fatalf("%s %s (%s): %v", r.method, target, r.what, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s %s (%s, for %s %s) → %d: %s\n%s", r.method, target, r.what, op.method, op.path, resp.StatusCode,
			fmt.Sprintf(format, args...), raw)
	}
	path, err := url.PathUnescape(r.path)
	if err != nil {
		path = r.path
	}
	path = strings.ReplaceAll(path, "?", "%3F") // the validator cuts a query off at "?"
	if resp.StatusCode >= 500 && !(resp.StatusCode == http.StatusServiceUnavailable && p.documents(op, "503")) {
		fail("a server error")
	}
	if resp.Header.Get("X-Request-Id") == "" {
		fail("no X-Request-Id")
	}
	switch {
	case r.method == http.MethodHead:
	case resp.StatusCode == http.StatusMovedPermanently && r.odd:
		// gorilla/mux answers a path it would clean (//, /./, /../) with a
		// redirect to the clean one.
		if resp.Header.Get("Location") == "" {
			fail("a redirect without a Location")
		}
	case resp.StatusCode == http.StatusNotFound && r.odd:
		if err := p.api.ValidateSchema("Error", raw); err != nil {
			fail("%v", err)
		}
	case !documented(p.api, path):
		if resp.StatusCode != http.StatusNotFound {
			fail("an undocumented path answered other than 404")
		} else if err := p.api.ValidateSchema("Error", raw); err != nil {
			fail("%v", err)
		}
	default:
		if err := p.api.ValidateResponse(r.method, path, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
			fail("%v", err)
		}
		if err := p.api.ValidateHeaders(r.method, path, resp.StatusCode, resp.Header); err != nil {
			fail("%v", err)
		}
	}
	return resp.StatusCode
}

func (p *prop) documents(op propOp, status string) bool {
	_, ok := op.node["responses"].(docNode)[status]
	return ok
}
