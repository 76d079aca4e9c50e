package etcd_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/etcd"
)

// TestConformance runs the backend conformance suite on one in-process
// cluster, each store under a key prefix of its own.
func TestConformance(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)
	prefix := func(store string) string { return "/conformance/" + store }
	backendtest.Run(t, backendtest.Harness{
		Open: func(t testing.TB, store string) confo.Backend {
			b, err := etcd.New(t.Context(), etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix(store)})
			require.NoError(t, err)
			return b
		},
		PutRaw: func(t testing.TB, store, ns, name string, value []byte) {
			_, err := raw.Put(t.Context(), etcd.NewFromClient(raw, etcd.Config{Prefix: prefix(store)}).Key(ns, name), string(value))
			require.NoError(t, err)
		},
		PutForeign: func(t testing.TB, store, ns, name string, value []byte) bool {
			// A key holds any bytes: "<prefix>/<ns>/" + name.
			_, err := raw.Put(t.Context(), etcd.NewFromClient(raw, etcd.Config{Prefix: prefix(store)}).Key(ns, name), string(value))
			require.NoError(t, err)
			return true
		},
	})
}
