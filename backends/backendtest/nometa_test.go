package backendtest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/memory"
)

// noMeta is a memory store seen through a Backend that keeps no metadata
// (no confo.MetaStore), as a store written outside this module may be: it
// forwards Watch and nothing else optional.
type noMeta struct {
	confo.Backend
	w confo.Watcher
}

func (b noMeta) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	return b.w.Watch(ctx, ns, afterRev)
}

// TestRunWithoutMeta runs the suite on a store without metadata: its
// Schema and Records subtests then check that the layers report
// errors.ErrUnsupported instead of pretending, and the rest holds as on any
// store.
func TestRunWithoutMeta(t *testing.T) {
	var mu sync.Mutex
	stores := make(map[string]*memory.Backend)
	get := func(store string) *memory.Backend {
		mu.Lock()
		defer mu.Unlock()
		b, ok := stores[store]
		if !ok {
			b = memory.New()
			stores[store] = b
		}
		return b
	}
	backendtest.Run(t, backendtest.Harness{
		Open: func(_ testing.TB, store string) confo.Backend {
			b := get(store)
			return noMeta{Backend: b, w: b}
		},
		PutRaw: func(_ testing.TB, store, ns, name string, raw []byte) { get(store).Put(ns, name, raw) },
	})
}
