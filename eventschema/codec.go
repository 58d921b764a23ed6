package eventschema

import (
	"bytes"
	"fmt"

	"github.com/renderd/renderd/domain"
)

// Codec maps domain events to their versioned wire form and back. Build one
// with NewCodec in the composition root and pass it to whoever needs it; it is
// immutable after construction and safe for concurrent use.
type Codec struct {
	types     map[string]eventType // current wire names only
	order     []string
	upcasters map[string]upcaster // older wire names; see upcast.go
}

// eventType is one current wire name: its aggregate and its decoder.
type eventType struct {
	name      string
	aggregate domain.AggregateType
	decode    func(data []byte) (domain.Event, error)
}

// NewCodec builds the table of wire names. The order of the list is the order
// Names returns: by aggregate, then by lifecycle.
func NewCodec() *Codec {
	list := []eventType{
		{AssetCreatedV1, domain.AggregateAsset, decodePayload[assetCreatedV1]},
		{AssetSourceUploadedV1, domain.AggregateAsset, decodePayload[assetSourceUploadedV1]},
		{AssetAudioUploadedV1, domain.AggregateAsset, decodePayload[assetAudioUploadedV1]},
		{AssetProbedV1, domain.AggregateAsset, decodePayload[assetProbedV1]},
		{AssetPaymentRequiredV1, domain.AggregateAsset, decodePayload[assetPaymentRequiredV1]},
		{AssetChargedV1, domain.AggregateAsset, decodePayload[assetChargedV1]},
		{AssetReadyV1, domain.AggregateAsset, decodePayload[assetReadyV1]},
		{AssetFailedV1, domain.AggregateAsset, decodePayload[assetFailedV1]},
		{AssetPartRefusedV1, domain.AggregateAsset, decodePayload[assetPartRefusedV1]},
		{AssetDeletedV1, domain.AggregateAsset, decodePayload[assetDeletedV1]},

		{CutRequestedV1, domain.AggregateCut, decodePayload[cutRequestedV1]},
		{CutCompletedV1, domain.AggregateCut, decodePayload[cutCompletedV1]},
		{CutFailedV1, domain.AggregateCut, decodePayload[cutFailedV1]},
		{CutDeletedV1, domain.AggregateCut, decodePayload[cutDeletedV1]},

		{RenderRequestedV1, domain.AggregateRender, decodePayload[renderRequestedV1]},
		{RenderStartedV1, domain.AggregateRender, decodePayload[renderStartedV1]},
		{RenderProgressedV1, domain.AggregateRender, decodePayload[renderProgressedV1]},
		{RenderCompletedV1, domain.AggregateRender, decodePayload[renderCompletedV1]},
		{RenderFailedV1, domain.AggregateRender, decodePayload[renderFailedV1]},
		{RenderCancelledV1, domain.AggregateRender, decodePayload[renderCancelledV1]},
		{RenderRetriedV1, domain.AggregateRender, decodePayload[renderRetriedV1]},
		{RenderOutputExpiredV1, domain.AggregateRender, decodePayload[renderOutputExpiredV1]},
		{RenderDeletedV1, domain.AggregateRender, decodePayload[renderDeletedV1]},
	}
	c := &Codec{
		types:     make(map[string]eventType, len(list)),
		order:     make([]string, 0, len(list)),
		upcasters: upcasters(),
	}
	for _, t := range list {
		c.types[t.name] = t
		c.order = append(c.order, t.name)
	}
	return c
}

// Names returns the current wire names in a stable order (asset, cut, render
// events, each in lifecycle order). Older names that are only upcast are not
// listed: nothing is ever written under them.
func (c *Codec) Names() []string {
	return append([]string(nil), c.order...)
}

// AggregateOf returns the aggregate type whose stream carries events of the
// wire name, following upcasters for older names. It returns "" for an
// unknown name.
func (c *Codec) AggregateOf(wireName string) domain.AggregateType {
	name, err := c.currentName(wireName)
	if err != nil {
		return ""
	}
	return c.types[name].aggregate
}

// Marshal returns the current wire name and the JSON payload of a domain
// event. Events are passed by value, as the domain records them.
func (c *Codec) Marshal(e domain.Event) (wireName string, data []byte, err error) {
	name, wire, err := toWire(e)
	if err != nil {
		return "", nil, err
	}
	data, err = encodePayload(wire)
	if err != nil {
		return "", nil, fmt.Errorf("eventschema: encode %s: %w", name, err)
	}
	return name, data, nil
}

// MarshalStored is Marshal that also returns the event as Unmarshal reads it
// back from data (durations to the microsecond), for an event store that
// returns what it appended as it will load it. It maps the wire struct back
// rather than decoding data: the JSON between them changes nothing but
// strings that are not valid UTF-8, which the encoder replaces (writing
// \ufffd), and only those payloads are decoded.
func (c *Codec) MarshalStored(e domain.Event) (wireName string, data []byte, stored domain.Event, err error) {
	name, wire, err := toWire(e)
	if err != nil {
		return "", nil, nil, err
	}
	if data, err = encodePayload(wire); err != nil {
		return "", nil, nil, fmt.Errorf("eventschema: encode %s: %w", name, err)
	}
	if bytes.Contains(data, []byte(`\ufffd`)) {
		stored, err = c.types[name].decode(data)
	} else {
		stored, err = wire.(wirePayload).toDomain()
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("eventschema: decode %s: %w", name, err)
	}
	return name, data, stored, nil
}

// toWire is the one place that says which wire struct a domain event becomes.
// A type switch, not reflection, so that the compiler and the completeness
// test (codec_test.go) keep it honest.
func toWire(e domain.Event) (string, any, error) {
	switch e := e.(type) {
	case domain.AssetCreated:
		return AssetCreatedV1, assetCreatedToWire(e), nil
	case domain.AssetSourceUploaded:
		return AssetSourceUploadedV1, assetSourceUploadedToWire(e), nil
	case domain.AssetAudioUploaded:
		return AssetAudioUploadedV1, assetAudioUploadedToWire(e), nil
	case domain.AssetProbed:
		return AssetProbedV1, assetProbedToWire(e), nil
	case domain.AssetPaymentRequired:
		return AssetPaymentRequiredV1, assetPaymentRequiredToWire(e), nil
	case domain.AssetCharged:
		return AssetChargedV1, assetChargedToWire(e), nil
	case domain.AssetReady:
		return AssetReadyV1, assetReadyToWire(e), nil
	case domain.AssetFailed:
		return AssetFailedV1, assetFailedToWire(e), nil
	case domain.AssetPartRefused:
		return AssetPartRefusedV1, assetPartRefusedToWire(e), nil
	case domain.AssetDeleted:
		return AssetDeletedV1, assetDeletedV1{}, nil

	case domain.CutRequested:
		return CutRequestedV1, cutRequestedToWire(e), nil
	case domain.CutCompleted:
		return CutCompletedV1, cutCompletedToWire(e), nil
	case domain.CutFailed:
		return CutFailedV1, cutFailedToWire(e), nil
	case domain.CutDeleted:
		return CutDeletedV1, cutDeletedV1{}, nil

	case domain.RenderRequested:
		return RenderRequestedV1, renderRequestedToWire(e), nil
	case domain.RenderStarted:
		return RenderStartedV1, renderStartedToWire(e), nil
	case domain.RenderProgressed:
		return RenderProgressedV1, renderProgressedToWire(e), nil
	case domain.RenderCompleted:
		return RenderCompletedV1, renderCompletedToWire(e), nil
	case domain.RenderFailed:
		return RenderFailedV1, renderFailedToWire(e), nil
	case domain.RenderCancelled:
		return RenderCancelledV1, renderCancelledToWire(e), nil
	case domain.RenderRetried:
		return RenderRetriedV1, renderRetriedToWire(e), nil
	case domain.RenderOutputExpired:
		return RenderOutputExpiredV1, renderOutputExpiredV1{Attempt: e.Attempt, BlobKey: e.BlobKey}, nil
	case domain.RenderDeleted:
		return RenderDeletedV1, renderDeletedV1{}, nil
	}
	// %T only names the culprit in the error; it never becomes a wire name.
	return "", nil, fmt.Errorf("eventschema: marshal: %w", &UnknownEventTypeError{Name: fmt.Sprintf("%T", e)})
}

// Unmarshal decodes a payload written under wireName, upcasting payloads of
// older wire names to the current version first. It does not validate against
// the JSON Schema (use Validator for untrusted input) and ignores unknown
// fields, so payloads from a newer producer that only added optional fields
// still decode.
func (c *Codec) Unmarshal(wireName string, data []byte) (domain.Event, error) {
	name, data, err := c.Upcast(wireName, data)
	if err != nil {
		return nil, err
	}
	e, err := c.types[name].decode(data)
	if err != nil {
		return nil, fmt.Errorf("eventschema: decode %s: %w", name, err)
	}
	return e, nil
}
