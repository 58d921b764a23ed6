package eventschema

import (
	"fmt"
	"maps"
)

// upcaster lifts a payload of an older wire name to the next version. Chains
// are allowed (v1 → v2 → v3): Unmarshal applies them until it reaches a
// current name, so each breaking change adds one small step and never touches
// the earlier ones.
//
// The rule (see the package doc): adding an optional field keeps the wire
// name and needs no upcaster; any breaking change gets a new versioned name,
// a new schema file, and an entry here from the old name.
type upcaster struct {
	to   string                            // the next wire name
	lift func(data []byte) ([]byte, error) // old JSON → JSON of `to`
}

// upcasters lists every retired wire name. None exist yet; the first breaking
// change would add, for example:
//
//	RenderRequestedV1: {to: RenderRequestedV2, lift: renderRequestedV1ToV2},
//
// with the old constant kept in names.go and its schema kept in schemas/.
func upcasters() map[string]upcaster {
	return map[string]upcaster{}
}

// chain returns the upcasters that lead from wireName to a current wire name,
// in the order they apply, and that name. The bound on the number of steps
// turns an accidental cycle into an error instead of a hang.
func (c *Codec) chain(wireName string) ([]upcaster, string, error) {
	var steps []upcaster
	name := wireName
	for range len(c.upcasters) + 1 {
		if _, ok := c.types[name]; ok {
			return steps, name, nil
		}
		u, ok := c.upcasters[name]
		if !ok {
			return nil, "", &UnknownEventTypeError{Name: wireName}
		}
		steps = append(steps, u)
		name = u.to
	}
	return nil, "", fmt.Errorf("eventschema: upcaster chain from %s does not end in a current wire name", wireName)
}

// currentName is the current wire name that wireName's payloads decode as.
func (c *Codec) currentName(wireName string) (string, error) {
	_, name, err := c.chain(wireName)
	return name, err
}

// Upcast lifts a payload stored under wireName, step by step, to the current
// version of its event, and returns that version's wire name and JSON. For a
// current name it returns the name and data unchanged. The relay publishes
// through it, so that Kafka only ever receives current wire names.
func (c *Codec) Upcast(wireName string, data []byte) (currentName string, current []byte, err error) {
	steps, name, err := c.chain(wireName)
	if err != nil {
		return "", nil, err
	}
	from := wireName
	for _, u := range steps {
		if data, err = u.lift(data); err != nil {
			return "", nil, fmt.Errorf("eventschema: upcast %s to %s: %w", from, u.to, err)
		}
		from = u.to
	}
	return name, data, nil
}

// WithUpcaster returns a copy of the codec that also upcasts retired to next
// with lift. It exists so that tests outside this package can rehearse a
// breaking change; renderd's own upcasters are listed in upcasters() and
// NewCodec installs them. An upcaster from a current wire name is never
// consulted.
func (c *Codec) WithUpcaster(retired, next string, lift func(data []byte) ([]byte, error)) *Codec {
	cp := *c
	cp.upcasters = make(map[string]upcaster, len(c.upcasters)+1)
	maps.Copy(cp.upcasters, c.upcasters)
	cp.upcasters[retired] = upcaster{to: next, lift: lift}
	return &cp
}
