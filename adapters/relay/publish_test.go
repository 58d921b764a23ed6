package relay_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/eventschema"
)

// scriptedPublisher fails, on each call, the messages whose ids the script
// names for that call (an id of "*" fails the call without naming any), and
// records what each call was given.
type scriptedPublisher struct {
	script [][]string
	calls  [][]string
}

func (p *scriptedPublisher) Publish(msgs []kafka.Outgoing) error {
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.Message.UUID)
	}
	p.calls = append(p.calls, ids)
	if len(p.calls) > len(p.script) {
		return nil
	}
	fail := p.script[len(p.calls)-1]
	if len(fail) == 1 && fail[0] == "*" {
		return errors.New("broker unreachable")
	}
	pe := &kafka.PublishError{Err: errors.New("NOT_LEADER_OR_FOLLOWER")}
	for i, id := range ids {
		for _, f := range fail {
			if id == f {
				pe.Failed = append(pe.Failed, i)
			}
		}
	}
	if len(pe.Failed) == 0 {
		return nil
	}
	return pe
}

// batch builds messages named "<key><n>" (optionally "<topic>:<key><n>"),
// keyed by <key>, in the given order.
func batch(names ...string) []kafka.Outgoing {
	var out []kafka.Outgoing
	for _, name := range names {
		topic, id := "renderd.renders", name
		if t, rest, ok := strings.Cut(name, ":"); ok {
			topic, id = t, rest
		}
		m := message.NewMessage(name, nil)
		m.Metadata.Set(eventschema.ExtPartitionKey, strings.TrimRight(id, "0123456789"))
		out = append(out, kafka.Outgoing{Topic: topic, Message: m})
	}
	return out
}

func alive(context.Context) error { return nil }

func TestPublishAll_resends_each_key_from_its_first_failed_message_in_order(t *testing.T) {
	pub := &scriptedPublisher{script: [][]string{
		// Key a fails in the middle (a2, a later a3 was written), key b
		// fails at its first and third message, key c not at all.
		{"a2", "b1", "b3"},
		// Of the re-sent ones, only a3 fails again.
		{"a3"},
	}}
	msgs := batch("a1", "b1", "a2", "c1", "b2", "a3", "c2", "b3", "x:a1")
	if err := relay.PublishAll(t.Context(), pub, msgs, alive, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"a1", "b1", "a2", "c1", "b2", "a3", "c2", "b3", "x:a1"},
		// b from b1 on (b2 was written, but goes again after b1 so that
		// b keeps its order), a from a2 on; c and the other topic's a1
		// are not sent again.
		{"b1", "a2", "b2", "a3", "b3"},
		{"a3"},
	}
	if !reflect.DeepEqual(pub.calls, want) {
		t.Fatalf("publish calls:\n got %v\nwant %v", pub.calls, want)
	}
}

func TestPublishAll_an_error_naming_no_messages_sends_the_rest_whole_again(t *testing.T) {
	pub := &scriptedPublisher{script: [][]string{{"b1"}, {"*"}}}
	if err := relay.PublishAll(t.Context(), pub, batch("a1", "b1", "b2"), alive, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a1", "b1", "b2"}, {"b1", "b2"}, {"b1", "b2"}}
	if !reflect.DeepEqual(pub.calls, want) {
		t.Fatalf("publish calls:\n got %v\nwant %v", pub.calls, want)
	}
}

func TestPublishAll_gives_up_when_the_leader_connection_is_lost(t *testing.T) {
	pub := &scriptedPublisher{script: [][]string{{"a1"}}}
	lost := errors.New("connection reset")
	err := relay.PublishAll(t.Context(), pub, batch("a1", "b1"), func(context.Context) error { return lost }, testenv.Logger(t))
	if !errors.Is(err, lost) {
		t.Fatalf("PublishAll = %v, want the lost connection", err)
	}
	if len(pub.calls) != 1 {
		t.Fatalf("published %d times after losing the lead, want once", len(pub.calls))
	}
}

func TestPublishAll_stops_when_its_context_ends(t *testing.T) {
	pub := &scriptedPublisher{script: [][]string{{"*"}, {"*"}, {"*"}, {"*"}, {"*"}, {"*"}, {"*"}, {"*"}}}
	ctx, cancel := context.WithCancel(t.Context())
	stopAfterTwo := func(context.Context) error {
		if len(pub.calls) == 2 {
			cancel()
		}
		return nil
	}
	err := relay.PublishAll(ctx, pub, batch("a1"), stopAfterTwo, testenv.Logger(t))
	if !errors.Is(err, context.Canceled) || len(pub.calls) != 2 {
		t.Fatalf("PublishAll = %v after %d calls, want cancelled after 2", err, len(pub.calls))
	}
}
