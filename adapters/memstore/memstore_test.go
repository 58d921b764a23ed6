package memstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/renderd/renderd/adapters/eventstoretest"
	"github.com/renderd/renderd/adapters/memstore"
)

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Subject {
		var n atomic.Int64
		return eventstoretest.Subject{Store: memstore.New(func() string { return fmt.Sprintf("evt-%d", n.Add(1)) }), Account: "acc_1"}
	})
}
