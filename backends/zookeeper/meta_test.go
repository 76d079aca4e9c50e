package zookeeper_test

import (
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/zookeeper"
)

// TestMetaLayout checks where metadata lives: one znode per entry under
// <prefix>.meta/<namespace>, the key's slashes and percent signs escaped,
// and nothing of it under the prefix.
func TestMetaLayout(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "database"))
	_, err := b.CommitMeta(ctx, "database", nil, []confo.MetaOp{
		{Key: "schema/mysql", Value: []byte(`{"type":"object"}`)},
		{Key: "100%/a", Value: []byte("pct")},
	})
	require.NoError(t, err)

	path := b.MetaPath("database", "schema/mysql")
	assert.Regexp(t, `^/test\d+/confo\.meta/database/schema%2Fmysql$`, path)
	data, st, err := b.Conn().Get(path)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"object"}`, string(data))
	assert.Regexp(t, `/100%25%2Fa$`, b.MetaPath("database", "100%/a"))

	got, err := b.LoadMeta(ctx, "database", "")
	require.NoError(t, err)
	assert.Equal(t, map[string]confo.Entry{
		"schema/mysql": {Value: []byte(`{"type":"object"}`), Revision: st.Mzxid},
		"100%/a":       got["100%/a"],
	}, got)
	assert.Equal(t, "pct", string(got["100%/a"].Value))

	// A znode no MetaStore wrote (not a valid escaped key) is not listed.
	_, err = b.Conn().Create(b.MetaPath("database", "x")+"%2", nil, 0, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	got, err = b.LoadMeta(ctx, "database", "")
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

// TestMetaConflictInMulti changes a metadata entry between CommitMeta's
// two round trips: the first saw the guard hold, the multi must still
// refuse, naming the key, and write nothing.
func TestMetaConflictInMulti(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	_, err := b.CommitMeta(ctx, "ns", nil, []confo.MetaOp{{Key: "schema/a", Value: []byte("1")}})
	require.NoError(t, err)
	rev := mustMeta(t, b, "ns")["schema/a"].Revision

	for name, op := range map[string]confo.MetaOp{
		"guarded put":  {Key: "schema/a", Value: []byte("mine"), Revision: rev},
		"check":        {Key: "schema/a", Revision: rev, Check: true},
		"check absent": {Key: "schema/b", Check: true},
	} {
		t.Run(name, func(t *testing.T) {
			path := b.MetaPath("ns", op.Key)
			restore := zookeeper.SetBeforeMulti(func() {
				if op.Revision == 0 {
					_, err := b.Conn().Create(path, []byte("theirs"), 0, zk.WorldACL(zk.PermAll))
					require.NoError(t, err)
					return
				}
				_, err := b.Conn().Set(path, []byte("theirs"), -1)
				require.NoError(t, err)
			})
			_, err := b.CommitMeta(ctx, "ns", []confo.Op{{Name: "c", Value: []byte(`{}`)}}, []confo.MetaOp{op})
			restore()
			require.ErrorIs(t, err, confo.ErrConflict)
			assert.Contains(t, err.Error(), op.Key)
			snap, err := b.Load(ctx, "ns")
			require.NoError(t, err)
			assert.NotContains(t, snap.Entries, "c", "nothing of the commit written")
			assert.Equal(t, "theirs", string(mustMeta(t, b, "ns")[op.Key].Value))
			rev = mustMeta(t, b, "ns")["schema/a"].Revision
		})
	}
}

func mustMeta(t *testing.T, b *zookeeper.Backend, ns string) map[string]confo.Entry {
	t.Helper()
	got, err := b.LoadMeta(t.Context(), ns, "")
	require.NoError(t, err)
	return got
}

// TestDeleteNamespaceRemovesMeta checks that DeleteNamespace leaves no
// znode of the namespace behind, metadata directory included.
func TestDeleteNamespaceRemovesMeta(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "gone"))
	_, err := b.CommitMeta(ctx, "gone", []confo.Op{{Name: "a", Value: []byte(`{}`)}},
		[]confo.MetaOp{{Key: "schema/a", Value: []byte(`{}`)}})
	require.NoError(t, err)
	require.NoError(t, b.DeleteNamespace(ctx, "gone"))
	for _, path := range []string{b.Path("gone", ""), b.MetaPath("gone", "schema/a")[:len(b.MetaPath("gone", "schema/a"))-len("/schema%2Fa")]} {
		ok, _, err := b.Conn().Exists(path)
		require.NoError(t, err)
		assert.False(t, ok, "%s deleted", path)
	}
	_, err = b.LoadMeta(ctx, "gone", "")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
}
