// Package eventschema is renderd's public event contract: the versioned wire
// names, the JSON payloads and their JSON Schemas, and the CloudEvents
// attributes that travel with every event on Kafka.
//
// The domain package knows nothing about JSON. This package maps every domain
// event explicitly, field by field, to a wire struct and back, so that a
// refactoring of the domain cannot silently change what consumers receive.
//
// # Payload conventions
//
//   - Field names are snake_case.
//   - Durations are seconds as JSON numbers, in fields named *_seconds, with
//     microsecond precision: a duration is rounded to whole microseconds, and
//     every whole-microsecond value (hence every millisecond value) below
//     about 285 years round-trips exactly. Kept segments keep the public
//     API's shape {"start": 1.5, "end": 9.0}, also in seconds.
//   - Durations that are not time.Duration in the domain keep their unit in
//     the name: credits are whole seconds (required_seconds, seconds).
//   - Bitrates are bits per second in fields named *_bps, except the requested
//     output spec, which keeps the REST API's shape (video_bitrate in Mbps,
//     audio_bitrate in kbps).
//   - Times are RFC 3339 in UTC.
//   - Optional fields and empty optional ids are omitted, not null.
//
// # Evolution rules
//
// A wire name is <aggregate>.<fact>.v<N> and is never derived from a Go type
// name. Consumers must ignore fields they do not know, and the schemas allow
// additional properties, so a consumer validating a newer payload with an
// older schema still passes.
//
//   - Adding an optional field is compatible: keep the wire name, add the
//     property to the schema (never to "required").
//   - Anything else is breaking (removing or renaming a field, changing its
//     type, unit or meaning, adding a required field or dropping one from
//     "required", closing additionalProperties, changing any constraint such
//     as an enum, a bound or a format): introduce a new wire name with the
//     next version, add its schema file next to the old one (old schema
//     files are never deleted or changed incompatibly), make Marshal write
//     only the new name, and register an upcaster from the old name in
//     [NewCodec] so that stored history keeps decoding.
//
// Every published version of a schema is frozen in
// testdata/published/<wire name>/<n>.json (1.json, 2.json, …). The tests
// check that each schema file evolves compatibly from all of its snapshots,
// that what the codec writes satisfies every snapshot, and that the latest
// snapshot is the schema file as it stands. After a compatible change or a
// new wire name, add the snapshot with
//
//	go test ./eventschema/ -run TestPublishedSchemas -update-published
//
// which only ever adds files, and commit it.
//
// The relay publishes stored events through [Codec.Upcast], so Kafka only
// receives current wire names; records published before a breaking change
// keep the old name, which [Codec.Unmarshal] still decodes.
//
// Public webhook types are unversioned (see [PublicType]); Kafka ce_type
// attributes carry the versioned wire name.
package eventschema
