package etcd_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// TestMeta checks what the conformance suite cannot see of the etcd
// metadata: its keys, the listing of namespaces past many metadata keys,
// and the transaction's op count.
func TestMeta(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)

	t.Run("KeyLayout", func(t *testing.T) {
		prefix := uniquePrefix("layout")
		b, err := etcd.New(t.Context(), etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		require.NoError(t, b.CreateNamespace(t.Context(), "database"))
		_, err = b.CommitMeta(t.Context(), "database", []confo.Op{{Name: "mysql", Value: []byte(`{"port":3306}`)}},
			[]confo.MetaOp{{Key: "schema/mysql", Value: []byte(`{"type":"object"}`)}})
		require.NoError(t, err)
		assert.Equal(t, prefix+"//database/schema/mysql", b.MetaKey("database", "schema/mysql"))
		v, ok := etcdValue(t, raw, prefix+"//database/schema/mysql")
		require.True(t, ok, "etcdctl get %s//database/schema/mysql prints it", prefix)
		assert.Equal(t, `{"type":"object"}`, v)
		v, _ = etcdValue(t, raw, prefix+"/database/mysql")
		assert.Equal(t, `{"port":3306}`, v)
	})

	t.Run("NamespacesSkipMetadataPages", func(t *testing.T) {
		prefix := uniquePrefix("pages")
		b, rc := countingBackend(t, c, prefix)
		t.Cleanup(func() { b.Close() })
		paged := etcd.NewFromClient(b.Client(), etcd.Config{Prefix: prefix, PageSize: 4})
		for _, ns := range []string{"a", "b", "b-2", "c"} {
			require.NoError(t, b.CreateNamespace(t.Context(), ns))
		}
		var meta []confo.MetaOp
		for i := range 40 {
			meta = append(meta, confo.MetaOp{Key: fmt.Sprintf("changes/%04d", i), Value: []byte("{}"), Revision: confo.AnyRevision})
		}
		_, err := b.CommitMeta(t.Context(), "b", nil, meta)
		require.NoError(t, err)
		rc.rng.Store(0)
		names, err := paged.Namespaces(t.Context())
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"a", "b", "b-2", "c"}, names)
		// Pages: [a b b-2 b/changes/0000], then past b's metadata: [c].
		assert.LessOrEqual(t, rc.rng.Load(), int64(3), "a listing does not page through 40 metadata keys")
	})

	t.Run("MaxTxnOps", func(t *testing.T) {
		prefix := uniquePrefix("txnops")
		b, err := etcd.New(t.Context(), etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix, MaxTxnOps: 8})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
		ops := func(n int) []confo.Op {
			var out []confo.Op
			for i := range n {
				out = append(out, confo.Op{Name: fmt.Sprintf("c%d", i), Value: []byte("{}")})
			}
			return out
		}
		check := []confo.MetaOp{{Key: "schema", Revision: 0, Check: true}}
		_, err = b.CommitMeta(t.Context(), "ns", ops(7), check)
		require.Error(t, err, "7 configurations, 1 metadata op and the namespace check exceed 8")
		assert.Contains(t, err.Error(), "max_txn_ops")
		revs, err := b.CommitMeta(t.Context(), "ns", ops(6), check)
		require.NoError(t, err, "6 + 1 + 1 fit")
		assert.Len(t, revs, 6)
	})

	t.Run("MarkerRequired", func(t *testing.T) {
		prefix := uniquePrefix("marker")
		b, err := etcd.New(t.Context(), etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		_, err = raw.Put(t.Context(), b.Key("unmarked", "mysql"), `{}`) // written by etcdctl, no marker
		require.NoError(t, err)
		got, err := b.LoadMeta(t.Context(), "unmarked", "")
		require.NoError(t, err, "a namespace without a marker but with keys exists")
		assert.Empty(t, got)
		_, err = b.CommitMeta(t.Context(), "unmarked", nil, []confo.MetaOp{{Key: "schema", Value: []byte("{}"), Revision: 0}})
		require.ErrorIs(t, err, confo.ErrNamespaceNotFound, "metadata needs the marker")
		assert.Contains(t, err.Error(), b.NamespaceKey("unmarked"))
	})
}
