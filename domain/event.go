// Package domain holds renderd's aggregates, their events and value objects.
// It is pure: standard library only, no clock (time is passed in), no I/O.
package domain

import "time"

// AggregateType names a kind of event stream. It decides, for instance, which
// Kafka topic a stream's events travel on.
type AggregateType string

const (
	AggregateAsset  AggregateType = "asset"
	AggregateCut    AggregateType = "cut"
	AggregateRender AggregateType = "render"
)

// AggregateTypes lists every aggregate type, in a stable order.
func AggregateTypes() []AggregateType {
	return []AggregateType{AggregateAsset, AggregateCut, AggregateRender}
}

// Event is a fact recorded on one aggregate's stream. The set is closed: only
// this package defines events.
type Event interface {
	// AggregateType is the type of stream the event belongs on.
	AggregateType() AggregateType
	isEvent()
}

// Metadata travels with every event but is not part of the fact itself.
type Metadata struct {
	AccountID     string
	CorrelationID string // the request or job that caused a chain of events
	CausationID   string // the event or command that caused this one
	OccurredAt    time.Time
	// TraceParent and TraceState are the W3C trace context (traceparent,
	// tracestate) of the work that recorded the event, so that whoever
	// handles it later, in another process, continues the same trace.
	// Empty when that work was not traced; an event recorded before they
	// existed has neither.
	TraceParent string
	TraceState  string
}

// Recorded is an event as the event store holds it.
type Recorded struct {
	ID            string // event id (UUID), unique across the store
	StreamID      string // aggregate id
	StreamType    AggregateType
	StreamVersion int64 // 1 for a stream's first event, contiguous
	Position      int64 // global position, unique, increasing in insert order
	Metadata
	Event Event
}
