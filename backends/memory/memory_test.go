package memory_test

import (
	"sync"
	"testing"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/memory"
)

// TestConformance runs the backend conformance suite. A memory store lives
// in its Backend, so every Open of one store returns the same *Backend: the
// suite's two "clients" of a store share it, and closing it, which the
// suite does only once it is done with the store, closes the store.
func TestConformance(t *testing.T) {
	var (
		mu     sync.Mutex
		stores = make(map[string]*memory.Backend)
	)
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
		Open: func(_ testing.TB, store string) confo.Backend { return get(store) },
		PutRaw: func(_ testing.TB, store, ns, name string, raw []byte) {
			get(store).Put(ns, name, raw)
		},
	})
}

// TestCredentialRules runs the credential rules of the conformance suite.
func TestCredentialRules(t *testing.T) {
	backendtest.RunCredentials(t, backendtest.Credentials{
		Kind:  confo.MemoryBackend,
		Valid: func(testing.TB) confo.Credentials { return confo.Credentials{"namespaces": []string{"a"}} },
	})
}
