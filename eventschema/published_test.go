package eventschema

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var updatePublished = flag.Bool("update-published", false,
	"add a snapshot under testdata/published for every schema that is new or changed compatibly (never overwrites one)")

// publishedDir holds every schema version consumers may have downloaded:
// <wire name>/<n>.json, numbered from 1 with no gaps, each a byte copy of
// schemas/<wire name>.json as it stood when it was published. Snapshots are
// only ever added.
var publishedDir = filepath.Join("testdata", "published")

// snapshot is one published version of a wire name's schema.
type snapshot struct {
	file   string
	doc    map[string]any
	schema *jsonschema.Schema
}

// readPublished returns the snapshots of every wire name, oldest first, each
// compiled on its own (they share their $id).
func readPublished(t *testing.T) map[string][]snapshot {
	t.Helper()
	dirs, err := os.ReadDir(publishedDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	published := map[string][]snapshot{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(publishedDir, dir.Name(), "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			published[dir.Name()] = append(published[dir.Name()], readSnapshot(t, file))
		}
		slices.SortFunc(published[dir.Name()], func(a, b snapshot) int { return snapshotNumber(a.file) - snapshotNumber(b.file) })
	}
	return published
}

func readSnapshot(t *testing.T, file string) snapshot {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeSchema(t, file, raw)
	c := newSchemaCompiler()
	if err := c.AddResource(file, doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	sch, err := c.Compile(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return snapshot{file: file, doc: doc, schema: sch}
}

// snapshotNumber is n of <n>.json, or 0 for a misnamed file.
func snapshotNumber(file string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(file), ".json"))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

func decodeSchema(t *testing.T, name string, raw []byte) map[string]any {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("%s: a schema must be a JSON object", name)
	}
	return obj
}

// validateEverywhere checks a payload the codec writes against the current
// schema and against every published snapshot of its wire name: a consumer
// that validates with a schema it downloaded earlier must still accept it.
func validateEverywhere(t *testing.T, v *Validator, published map[string][]snapshot, wireName string, data []byte) {
	t.Helper()
	if err := v.Validate(wireName, data); err != nil {
		t.Error(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range published[wireName] {
		if err := s.schema.Validate(inst); err != nil {
			t.Errorf("rejected by the published %s: %v", s.file, err)
		}
	}
}

const breakingAdvice = "a breaking change needs a new wire name and an upcaster, never an edited schema (docs/events.md, section 5)"

func TestPublishedSchemas(t *testing.T) {
	// Every current and retired wire name has a schema file (TestSchemaFiles,
	// TestDomainEventCoverage, TestUpcasting), so the files are the list.
	files, err := fs.Glob(schemaFiles, "schemas/*.json")
	if err != nil {
		t.Fatal(err)
	}
	current := map[string][]byte{}
	for _, f := range files {
		if current[strings.TrimSuffix(path.Base(f), ".json")], err = schemaFiles.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	published := readPublished(t)

	t.Run("no_published_schema_is_deleted", func(t *testing.T) {
		for name := range published {
			if _, ok := current[name]; !ok {
				t.Errorf("%s is published (%s) but schemas/%s.json is gone: published schemas are never deleted", name, filepath.Join(publishedDir, name), name)
			}
		}
	})
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".json")
		doc := decodeSchema(t, f, current[name])
		snaps := published[name]
		var problems []string
		for i, s := range snaps {
			if snapshotNumber(s.file) != i+1 {
				problems = append(problems, fmt.Sprintf("%s: snapshots are numbered 1.json, 2.json, … with no gaps", s.file))
			}
			for _, p := range schemaChanges(s.doc, doc) {
				problems = append(problems, fmt.Sprintf("%s (published in %s)", p, s.file))
			}
		}
		t.Run(name+"/evolves_compatibly_from_every_published_snapshot", func(t *testing.T) {
			for _, p := range problems {
				t.Errorf("%s %s", name, p)
			}
			if len(problems) > 0 {
				t.Log(breakingAdvice)
			}
		})
		t.Run(name+"/is_published_as_it_stands", func(t *testing.T) {
			if len(snaps) > 0 && reflect.DeepEqual(snaps[len(snaps)-1].doc, doc) {
				return
			}
			next := filepath.Join(publishedDir, name, fmt.Sprintf("%d.json", len(snaps)+1))
			switch {
			case len(problems) > 0:
				t.Fatalf("%s: not publishing an incompatible schema; %s", name, breakingAdvice)
			case !*updatePublished:
				state := "has no published snapshot"
				if len(snaps) > 0 {
					state = "differs from its latest published snapshot " + snaps[len(snaps)-1].file
				}
				t.Fatalf("schemas/%s.json %s: record it as %s with\n\tgo test ./eventschema/ -run TestPublishedSchemas -update-published\nand commit the new file", name, state, next)
			}
			if err := writeNewFile(next, current[name]); err != nil {
				t.Fatal(err)
			}
			t.Logf("published %s", next)
		})
	}
}

// writeNewFile creates file with data and fails if it already exists: a
// snapshot is never overwritten.
func writeNewFile(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// schemaChanges lists, as "<JSON pointer into current>: <what changed>", every
// difference between a published schema and its current version that a
// consumer holding the published one, or an event stored under it, would
// notice. The only compatible changes are a new optional property and edited
// annotations (title, description, …): every constraint is part of the
// contract in both directions, since older consumers validate newer payloads
// and newer code reads older events.
func schemaChanges(published, current map[string]any) []string {
	w := &schemaWalk{publishedRoot: published, currentRoot: current, seen: map[[2]string]bool{}}
	w.compare("", published, "", current)
	return w.problems
}

type schemaWalk struct {
	publishedRoot, currentRoot map[string]any
	seen                       map[[2]string]bool // compared pointer pairs: $ref cycles end here
	problems                   []string
}

// annotations change nothing a validator decides.
var annotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true,
	"default": true, "deprecated": true, "readOnly": true, "writeOnly": true,
}

func (w *schemaWalk) problem(ptr, format string, args ...any) {
	w.problems = append(w.problems, "#"+ptr+": "+fmt.Sprintf(format, args...))
}

// compare walks a published subschema and the current one at the same place.
func (w *schemaWalk) compare(pubPtr string, pub any, curPtr string, cur any) {
	pub, pubPtr = deref(w.publishedRoot, pub, pubPtr)
	cur, curPtr = deref(w.currentRoot, cur, curPtr)
	if w.seen[[2]string{pubPtr, curPtr}] {
		return
	}
	w.seen[[2]string{pubPtr, curPtr}] = true

	pm, pubIsObj := pub.(map[string]any)
	cm, curIsObj := cur.(map[string]any)
	if !pubIsObj || !curIsObj { // a boolean schema
		if !reflect.DeepEqual(pub, cur) {
			w.problem(curPtr, "schema changed from %s to %s", show(pub), show(cur))
		}
		return
	}
	union := maps.Clone(pm)
	maps.Copy(union, cm)
	for _, k := range slices.Sorted(maps.Keys(union)) {
		pv, cv := pm[k], cm[k]
		ptr := curPtr + "/" + escapePointer(k)
		switch k {
		case "$defs":
			// compared where a $ref uses them
		case "properties":
			w.properties(pubPtr+"/properties", asObject(pv), ptr, asObject(cv))
		case "required":
			w.required(ptr, pv, cv)
		case "additionalProperties", "unevaluatedProperties":
			if isOpen(pv) && !isOpen(cv) {
				w.problem(ptr, "closed (%s): payloads with fields added later no longer validate", show(cv))
			} else if !isOpen(pv) {
				w.subschema(pubPtr+"/"+k, pv, ptr, cv, k)
			}
		case "type":
			if p, c := typeNames(pv), typeNames(cv); !slices.Equal(p, c) {
				w.problem(ptr, "type changed from %s to %s", strings.Join(p, "|"), strings.Join(c, "|"))
			}
		case "items", "contains", "not", "if", "then", "else", "propertyNames":
			w.subschema(pubPtr+"/"+k, pv, ptr, cv, k)
		case "allOf", "anyOf", "oneOf", "prefixItems":
			p, c := asList(pv), asList(cv)
			if len(p) != len(c) {
				w.problem(ptr, "%s has %d subschemas instead of %d", k, len(c), len(p))
				continue
			}
			for i := range p {
				w.compare(fmt.Sprintf("%s/%s/%d", pubPtr, k, i), p[i], fmt.Sprintf("%s/%d", ptr, i), c[i])
			}
		case "$ref": // next to other keywords, or unresolvable; deref followed the rest
			w.ref(ptr, pv, cv)
		default:
			if annotations[k] {
				continue
			}
			if !reflect.DeepEqual(pv, cv) {
				w.problem(ptr, "%s changed from %s to %s", k, show(pv), show(cv))
			}
		}
	}
}

// subschema compares a keyword whose value is a schema.
func (w *schemaWalk) subschema(pubPtr string, pub any, curPtr string, cur any, keyword string) {
	if pub == nil || cur == nil {
		if pub != cur {
			w.problem(curPtr, "%s changed from %s to %s", keyword, show(pub), show(cur))
		}
		return
	}
	w.compare(pubPtr, pub, curPtr, cur)
}

func (w *schemaWalk) ref(ptr string, pub, cur any) {
	pubRef, _ := pub.(string)
	curRef, _ := cur.(string)
	pubTarget, pubOK := resolveLocal(w.publishedRoot, pubRef)
	curTarget, curOK := resolveLocal(w.currentRoot, curRef)
	switch {
	case pub == nil || cur == nil:
		w.problem(ptr, "$ref changed from %s to %s", show(pub), show(cur))
	case !pubOK || !curOK:
		w.problem(ptr, "cannot follow $ref %s or %s: only same-document references are compared", show(pub), show(cur))
	default:
		w.compare(strings.TrimPrefix(pubRef, "#"), pubTarget, strings.TrimPrefix(curRef, "#"), curTarget)
	}
}

func (w *schemaWalk) properties(pubPtr string, pub map[string]any, curPtr string, cur map[string]any) {
	for _, name := range slices.Sorted(maps.Keys(pub)) {
		ptr := curPtr + "/" + escapePointer(name)
		c, ok := cur[name]
		if !ok {
			w.problem(ptr, "property removed: consumers of the published schema rely on it")
			continue
		}
		w.compare(pubPtr+"/"+escapePointer(name), pub[name], ptr, c)
	}
	// A property only in the current schema is a new optional field unless
	// "required" names it, which required reports.
}

func (w *schemaWalk) required(ptr string, pub, cur any) {
	p, c := asStrings(pub), asStrings(cur)
	for _, name := range c {
		if !slices.Contains(p, name) {
			w.problem(ptr, "%q is newly required: events stored without it no longer validate", name)
		}
	}
	for _, name := range p {
		if !slices.Contains(c, name) {
			w.problem(ptr, "%q is no longer required: consumers of the published schema reject payloads without it", name)
		}
	}
}

// deref follows a $ref that stands alone (but for annotations), so that a
// definition moved into $defs, or inlined, compares as what it is.
func deref(root map[string]any, node any, ptr string) (any, string) {
	for range 32 { // a chain of $refs; the bound only stops a $ref to itself
		m, ok := node.(map[string]any)
		if !ok {
			return node, ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok || !onlyRef(m) {
			return node, ptr
		}
		target, ok := resolveLocal(root, ref)
		if !ok {
			return node, ptr
		}
		node, ptr = target, strings.TrimPrefix(ref, "#")
	}
	return node, ptr
}

func onlyRef(m map[string]any) bool {
	for k := range m {
		if k != "$ref" && !annotations[k] {
			return false
		}
	}
	return true
}

// resolveLocal resolves a same-document reference "#/a/b"; renderd's schemas
// use no other kind.
func resolveLocal(root map[string]any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#") {
		return nil, false
	}
	var node any = root
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch n := node.(type) {
		case map[string]any:
			node = n[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
		if node == nil {
			return nil, false
		}
	}
	return node, true
}

func escapePointer(tok string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
}

// isOpen reports whether additionalProperties lets any extra field through.
func isOpen(v any) bool {
	m, ok := v.(map[string]any)
	return v == nil || v == true || (ok && len(m) == 0)
}

func typeNames(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	names := asStrings(v)
	if len(names) == 0 {
		return []string{"(any)"}
	}
	return slices.Sorted(slices.Values(names))
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// show renders a schema value for a message; nil is an absent keyword.
func show(v any) string {
	if v == nil {
		return "absent"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func TestSchemaChanges(t *testing.T) {
	// A published schema in miniature: a nested object, an array whose items
	// are a $ref into $defs.
	const published = `{
		"type": "object",
		"required": ["id", "spec"],
		"properties": {
			"id": {"type": "string", "description": "The id."},
			"spec": {"type": "object", "properties": {"width": {"type": "integer", "minimum": 0}}},
			"segments": {"type": "array", "items": {"$ref": "#/$defs/segment"}}
		},
		"$defs": {"segment": {"type": "object", "required": ["start"], "properties": {"start": {"type": "number"}}}}
	}`
	prop := func(m map[string]any, names ...string) map[string]any {
		for _, n := range names {
			m = m["properties"].(map[string]any)[n].(map[string]any)
		}
		return m
	}
	segment := func(m map[string]any) map[string]any {
		return m["$defs"].(map[string]any)["segment"].(map[string]any)
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   []string // the problems, in order; none for a compatible change
	}{
		{"new_optional_property_is_compatible", func(m map[string]any) {
			m["properties"].(map[string]any)["priority"] = map[string]any{"type": "integer"}
		}, nil},
		{"new_optional_nested_property_is_compatible", func(m map[string]any) {
			prop(m, "spec")["properties"].(map[string]any)["height"] = map[string]any{"type": "integer"}
		}, nil},
		{"edited_description_is_compatible", func(m map[string]any) { prop(m, "id")["description"] = "The render's id." }, nil},
		{"inlined_definition_is_compatible", func(m map[string]any) { prop(m, "segments")["items"] = segment(m) }, nil},
		{"removed_property_is_caught", func(m map[string]any) {
			delete(m["properties"].(map[string]any), "segments")
		}, []string{"#/properties/segments: property removed"}},
		{"removed_nested_property_is_caught", func(m map[string]any) {
			delete(prop(m, "spec")["properties"].(map[string]any), "width")
		}, []string{"#/properties/spec/properties/width: property removed"}},
		{"changed_type_is_caught", func(m map[string]any) {
			prop(m, "id")["type"] = "integer"
		}, []string{"#/properties/id/type: type changed from string to integer"}},
		{"widened_type_is_caught", func(m map[string]any) {
			prop(m, "spec", "width")["type"] = []any{"integer", "null"}
		}, []string{"#/properties/spec/properties/width/type: type changed from integer to integer|null"}},
		{"changed_type_behind_a_ref_is_caught", func(m map[string]any) {
			prop(segment(m), "start")["type"] = "string"
		}, []string{"#/$defs/segment/properties/start/type: type changed from number to string"}},
		{"newly_required_field_is_caught", func(m map[string]any) {
			m["required"] = []any{"id", "spec", "segments"}
		}, []string{`#/required: "segments" is newly required`}},
		{"newly_required_nested_field_is_caught", func(m map[string]any) {
			prop(m, "spec")["required"] = []any{"width"}
		}, []string{`#/properties/spec/required: "width" is newly required`}},
		{"field_no_longer_required_is_caught", func(m map[string]any) {
			segment(m)["required"] = []any{}
		}, []string{`#/$defs/segment/required: "start" is no longer required`}},
		{"closed_additional_properties_is_caught", func(m map[string]any) {
			prop(m, "spec")["additionalProperties"] = false
		}, []string{"#/properties/spec/additionalProperties: closed (false)"}},
		{"changed_constraint_is_caught", func(m map[string]any) {
			prop(m, "spec", "width")["minimum"] = 1
		}, []string{"#/properties/spec/properties/width/minimum: minimum changed from 0 to 1"}},
		{"new_constraint_is_caught", func(m map[string]any) {
			prop(m, "id")["enum"] = []any{"a"}
		}, []string{`#/properties/id/enum: enum changed from absent to ["a"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := decodeSchema(t, "published", []byte(published))
			cur := decodeSchema(t, "current", patch(t, []byte(published), tt.change))
			got := schemaChanges(pub, cur)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %q, want it to start %q", got[i], tt.want[i])
				}
			}
		})
	}
	t.Run("changed_type_behind_a_ref_beside_other_keywords_is_caught", func(t *testing.T) {
		const doc = `{"properties": {"a": {"$ref": "#/$defs/x", "minProperties": 1}}, "$defs": {"x": {"properties": {"n": {"type": "%s"}}}}}`
		got := schemaChanges(decodeSchema(t, "published", fmt.Appendf(nil, doc, "integer")), decodeSchema(t, "current", fmt.Appendf(nil, doc, "string")))
		if want := "#/$defs/x/properties/n/type: type changed from integer to string"; !slices.Equal(got, []string{want}) {
			t.Fatalf("problems %q, want %q", got, want)
		}
	})
	t.Run("a_recursive_ref_ends", func(t *testing.T) {
		doc := decodeSchema(t, "tree", []byte(`{"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}}`))
		if got := schemaChanges(doc, doc); len(got) != 0 {
			t.Fatalf("problems %q", got)
		}
	})
}
