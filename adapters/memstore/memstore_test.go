package memstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/renderd/renderd/adapters/eventstoretest"
	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
)

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) commands.EventStore {
		var n atomic.Int64
		return memstore.New(func() string { return fmt.Sprintf("evt-%d", n.Add(1)) })
	})
}
