package memstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/renderd/renderd/adapters/eventstoretest"
	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
)

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Subject {
		var n atomic.Int64
		store := memstore.New(func() string { return fmt.Sprintf("evt-%d", n.Add(1)) })
		return eventstoretest.Subject{Store: store, Account: "acc_1",
			MediaJobs: func(context.Context) ([]commands.MediaJob, error) { return store.MediaJobs(), nil }}
	})
}
