package eventschema

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFiles holds one JSON Schema per wire name, current and retired: a
// retired name's schema stays so that stored history can still be checked.
//
//go:embed schemas/*.json
var schemaFiles embed.FS

const schemaIDBase = "https://schemas.renderd.dev/events/"

// SchemaID returns the $id of a wire name's JSON Schema, which is also the
// CloudEvents dataschema attribute.
func SchemaID(wireName string) string {
	return schemaIDBase + wireName + ".json"
}

// Validator checks payloads against the embedded JSON Schemas (draft 2020-12).
// Build one with NewValidator; it is safe for concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema
}

// NewValidator compiles every embedded schema. It fails if a file's $id does
// not match its file name, so a copied schema cannot silently keep the $id of
// the file it was copied from.
func NewValidator() (*Validator, error) {
	files, err := fs.Glob(schemaFiles, "schemas/*.json")
	if err != nil {
		return nil, fmt.Errorf("eventschema: list schemas: %w", err)
	}
	c := newSchemaCompiler()
	names := make([]string, 0, len(files))
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".json")
		raw, err := schemaFiles.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("eventschema: read schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("eventschema: parse schema %s: %w", name, err)
		}
		obj, ok := doc.(map[string]any)
		if !ok || obj["$id"] != SchemaID(name) {
			return nil, fmt.Errorf("eventschema: schema %s: $id must be %q", name, SchemaID(name))
		}
		if err := c.AddResource(SchemaID(name), doc); err != nil {
			return nil, fmt.Errorf("eventschema: add schema %s: %w", name, err)
		}
		names = append(names, name)
	}

	v := &Validator{schemas: make(map[string]*jsonschema.Schema, len(names))}
	for _, name := range names {
		sch, err := c.Compile(SchemaID(name))
		if err != nil {
			return nil, fmt.Errorf("eventschema: compile schema %s: %w", name, err)
		}
		v.schemas[name] = sch
	}
	return v, nil
}

// newSchemaCompiler is how every schema of ours is compiled, the published
// snapshots the tests keep included.
func newSchemaCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats are annotations only in 2020-12 by default; we want a malformed
	// lease_until to fail validation.
	c.AssertFormat()
	return c
}

// Validate checks a payload against the schema of its wire name. An unknown
// name yields ErrUnknownEventType; a violation yields ErrInvalidPayload, which
// also wraps the *jsonschema.ValidationError with every failing location.
func (v *Validator) Validate(wireName string, data []byte) error {
	sch, ok := v.schemas[wireName]
	if !ok {
		return &UnknownEventTypeError{Name: wireName}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("eventschema: %s: %w: malformed JSON: %w", wireName, ErrInvalidPayload, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("eventschema: %s: %w: %w", wireName, ErrInvalidPayload, err)
	}
	return nil
}
