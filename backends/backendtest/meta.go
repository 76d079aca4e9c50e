package backendtest

import (
	"context"
	"testing"
	"time"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testMeta checks a backend that implements confo.MetaStore: metadata round
// trips and lists by prefix, its guards and Check ops fail with ErrConflict
// naming the key, it commits atomically with configurations, and it is never
// seen as a namespace or a configuration (Namespaces, Load, Watch).
func (s *suite) testMeta(t *testing.T) {
	b := s.open(t, newStore(t))
	if _, ok := b.(confo.MetaStore); !ok {
		t.Skipf("%T does not implement confo.MetaStore", b)
	}
	t.Run("RoundTrip", s.testMetaRoundTrip)
	t.Run("PrefixListing", s.testMetaPrefix)
	t.Run("GuardConflicts", s.testMetaGuards)
	t.Run("Check", s.testMetaCheck)
	t.Run("AtomicWithConfigurations", s.testMetaAtomic)
	t.Run("Invisible", s.testMetaInvisible)
	t.Run("MissingNamespace", s.testMetaMissingNamespace)
	t.Run("InvalidKeys", s.testMetaInvalidKeys)
	t.Run("DeleteNamespace", s.testMetaDeleteNamespace)
}

// metaStore opens a client of a new store with namespace ns.
func (s *suite) metaStore(t testing.TB, ns string) (confo.Backend, confo.MetaStore, string) {
	t.Helper()
	store := newStore(t)
	b := s.open(t, store)
	require.NoError(t, b.CreateNamespace(t.Context(), ns))
	return b, b.(confo.MetaStore), store
}

// commitMeta commits ops and meta, which must succeed.
func commitMeta(t testing.TB, ms confo.MetaStore, ns string, ops []confo.Op, meta ...confo.MetaOp) []int64 {
	t.Helper()
	revs, err := ms.CommitMeta(t.Context(), ns, ops, meta)
	require.NoError(t, err, "CommitMeta to %q", ns)
	require.Len(t, revs, len(ops), "CommitMeta returns one revision per configuration op")
	return revs
}

// loadMeta returns the metadata of ns under prefix, which must load.
func loadMeta(t testing.TB, ms confo.MetaStore, ns, prefix string) map[string]confo.Entry {
	t.Helper()
	entries, err := ms.LoadMeta(t.Context(), ns, prefix)
	require.NoError(t, err, "LoadMeta %q %q", ns, prefix)
	for key, e := range entries {
		assert.Positive(t, e.Revision, "revision of metadata %q", key)
	}
	return entries
}

func metaPut(key, value string, rev int64) confo.MetaOp {
	return confo.MetaOp{Key: key, Value: []byte(value), Revision: rev}
}

func (s *suite) testMetaRoundTrip(t *testing.T) {
	const ns = "ns"
	_, ms, store := s.metaStore(t, ns)
	assert.Empty(t, loadMeta(t, ms, ns, ""), "a new namespace has no metadata")

	commitMeta(t, ms, ns, nil, metaPut("schema/mysql", `{"type":"object"}`, 0), metaPut("recipients", "age1xyz", confo.AnyRevision))
	other := s.open(t, store).(confo.MetaStore)
	got := loadMeta(t, other, ns, "")
	require.Len(t, got, 2)
	assert.Equal(t, `{"type":"object"}`, string(got["schema/mysql"].Value), "another client reads it")
	assert.Equal(t, "age1xyz", string(got["recipients"].Value))

	// Guarded update, then guarded delete.
	rev := got["schema/mysql"].Revision
	commitMeta(t, ms, ns, nil, metaPut("schema/mysql", `{"type":"object","required":["host"]}`, rev))
	got = loadMeta(t, ms, ns, "schema/mysql")
	assert.Equal(t, `{"type":"object","required":["host"]}`, string(got["schema/mysql"].Value))
	assert.NotEqual(t, rev, got["schema/mysql"].Revision, "a write gives a new revision")
	commitMeta(t, ms, ns, nil, confo.MetaOp{Key: "schema/mysql", Revision: got["schema/mysql"].Revision})
	got = loadMeta(t, other, ns, "")
	assert.NotContains(t, got, "schema/mysql", "deleted")
	assert.Contains(t, got, "recipients")

	// An unguarded delete of a missing entry is not an error.
	commitMeta(t, ms, ns, nil, confo.MetaOp{Key: "absent", Revision: confo.AnyRevision})
}

func (s *suite) testMetaPrefix(t *testing.T) {
	const ns = "ns"
	_, ms, _ := s.metaStore(t, ns)
	commitMeta(t, ms, ns, nil,
		metaPut("schema", `{}`, 0), metaPut("schema/mysql", `{}`, 0), metaPut("schema/redis", `{}`, 0),
		metaPut("changes/001", `{}`, 0), metaPut("changes/002", `{}`, 0), metaPut("recipients", "r", 0))
	keys := func(prefix string) []string {
		var out []string
		for k := range loadMeta(t, ms, ns, prefix) {
			out = append(out, k)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"schema", "schema/mysql", "schema/redis", "changes/001", "changes/002", "recipients"}, keys(""))
	assert.ElementsMatch(t, []string{"schema/mysql", "schema/redis"}, keys("schema/"))
	assert.ElementsMatch(t, []string{"schema", "schema/mysql", "schema/redis"}, keys("schema"))
	assert.ElementsMatch(t, []string{"changes/001", "changes/002"}, keys("changes/"))
	assert.Empty(t, keys("nothing/"))
}

func (s *suite) testMetaGuards(t *testing.T) {
	const ns = "ns"
	_, ms, _ := s.metaStore(t, ns)
	commitMeta(t, ms, ns, nil, metaPut("schema/guarded-key", `{"v":1}`, 0))
	old := loadMeta(t, ms, ns, "")["schema/guarded-key"].Revision
	commitMeta(t, ms, ns, nil, metaPut("schema/guarded-key", `{"v":2}`, old))
	cur := loadMeta(t, ms, ns, "")["schema/guarded-key"].Revision

	for name, op := range map[string]confo.MetaOp{
		"put with revision 0 on existing":   metaPut("schema/guarded-key", `{"v":3}`, 0),
		"put with stale revision":           metaPut("schema/guarded-key", `{"v":3}`, old),
		"delete with stale revision":        {Key: "schema/guarded-key", Revision: old},
		"put of missing with a revision":    metaPut("schema/absent-key", `{"v":3}`, cur),
		"delete of missing with a revision": {Key: "schema/absent-key", Revision: cur},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ms.CommitMeta(t.Context(), ns, nil, []confo.MetaOp{op})
			require.ErrorIs(t, err, confo.ErrConflict)
			assert.Contains(t, err.Error(), op.Key, "the error names the metadata key")
			got := loadMeta(t, ms, ns, "")
			assert.Len(t, got, 1, "nothing written")
			assert.Equal(t, `{"v":2}`, string(got["schema/guarded-key"].Value))
			assert.Equal(t, cur, got["schema/guarded-key"].Revision)
		})
	}
	t.Run("AnyRevision writes unguarded", func(t *testing.T) {
		commitMeta(t, ms, ns, nil, metaPut("schema/guarded-key", `{"v":4}`, confo.AnyRevision))
		assert.Equal(t, `{"v":4}`, string(loadMeta(t, ms, ns, "")["schema/guarded-key"].Value))
	})
}

func (s *suite) testMetaCheck(t *testing.T) {
	const ns = "ns"
	b, ms, _ := s.metaStore(t, ns)
	commitMeta(t, ms, ns, nil, metaPut("schema/checked-key", `{}`, 0))
	rev := loadMeta(t, ms, ns, "")["schema/checked-key"].Revision

	// A Check that holds lets the configurations through and writes nothing.
	r := commitMeta(t, ms, ns, []confo.Op{put("a", `{"v":1}`, 0)},
		confo.MetaOp{Key: "schema/checked-key", Revision: rev, Check: true, Value: []byte("ignored")},
		confo.MetaOp{Key: "schema/never-written", Revision: 0, Check: true})
	requireEntry(t, load(t, b, ns), "a", `{"v":1}`, r[0])
	got := loadMeta(t, ms, ns, "")
	assert.Len(t, got, 1, "a Check writes nothing")
	assert.Equal(t, "{}", string(got["schema/checked-key"].Value))
	assert.Equal(t, rev, got["schema/checked-key"].Revision)

	// A Check that fails writes nothing and names the key.
	commitMeta(t, ms, ns, nil, metaPut("schema/checked-key", `{"type":"object"}`, rev))
	_, err := ms.CommitMeta(t.Context(), ns, []confo.Op{put("a", `{"v":2}`, r[0])},
		[]confo.MetaOp{{Key: "schema/checked-key", Revision: rev, Check: true}})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "schema/checked-key")
	requireEntry(t, load(t, b, ns), "a", `{"v":1}`, r[0])

	_, err = ms.CommitMeta(t.Context(), ns, []confo.Op{put("b", `{}`, 0)},
		[]confo.MetaOp{{Key: "schema/checked-key", Revision: 0, Check: true}})
	require.ErrorIs(t, err, confo.ErrConflict, "a Check of revision 0 requires the entry to be absent")
	assert.NotContains(t, load(t, b, ns), "b")
}

func (s *suite) testMetaAtomic(t *testing.T) {
	const ns = "ns"
	b, ms, _ := s.metaStore(t, ns)
	ra := commit(t, b, ns, put("a", `{"v":1}`, 0))[0]
	commitMeta(t, ms, ns, nil, metaPut("changes/1", `{"n":1}`, 0))

	// Configuration and metadata together: both or none.
	revs := commitMeta(t, ms, ns, []confo.Op{put("a", `{"v":2}`, ra), put("b", `{"v":1}`, 0), del("a2", 0)},
		metaPut("changes/2", `{"n":2}`, 0))
	require.Len(t, revs, 3)
	assert.Positive(t, revs[0])
	assert.Zero(t, revs[2], "a delete's revision is 0")
	entries := load(t, b, ns)
	requireEntry(t, entries, "a", `{"v":2}`, revs[0])
	requireEntry(t, entries, "b", `{"v":1}`, revs[1])
	assert.Contains(t, loadMeta(t, ms, ns, ""), "changes/2")

	// A stale configuration: the metadata is not written.
	_, err := ms.CommitMeta(t.Context(), ns, []confo.Op{put("a", `{"v":3}`, ra)}, []confo.MetaOp{metaPut("changes/3", `{"n":3}`, 0)})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), `"a"`)
	assert.NotContains(t, loadMeta(t, ms, ns, ""), "changes/3", "nothing of the commit written")

	// A stale metadata entry: the configurations are not written.
	_, err = ms.CommitMeta(t.Context(), ns, []confo.Op{put("a", `{"v":3}`, revs[0]), put("c", `{}`, 0)},
		[]confo.MetaOp{metaPut("changes/1", `{"n":"again"}`, 0)})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "changes/1")
	entries = load(t, b, ns)
	requireEntry(t, entries, "a", `{"v":2}`, revs[0])
	assert.NotContains(t, entries, "c", "nothing of the commit written")
	assert.JSONEq(t, `{"n":1}`, string(loadMeta(t, ms, ns, "")["changes/1"].Value))
}

func (s *suite) testMetaInvisible(t *testing.T) {
	store := newStore(t)
	b := s.open(t, store)
	ms := b.(confo.MetaStore)
	ctx := t.Context()
	for _, ns := range []string{"app", "app2", "app.x", "app-x"} {
		require.NoError(t, b.CreateNamespace(ctx, ns))
	}
	commit(t, b, "app", put("mysql", `{"port":3306}`, 0))
	var meta []confo.MetaOp
	for _, k := range []string{"schema", "schema/mysql", "meta-only", "app2", "changes/0001"} {
		meta = append(meta, metaPut(k, `{"meta":true}`, 0))
	}
	commitMeta(t, ms, "app", nil, meta...)

	names, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"app", "app2", "app.x", "app-x"}, names, "metadata is not a namespace")
	entries := load(t, b, "app")
	assert.Len(t, entries, 1, "metadata is not a configuration")
	requireEntry(t, entries, "mysql", `{"port":3306}`, 0)
	assert.Empty(t, load(t, b, "app2"), "metadata keyed like another namespace stays in its own")
	assert.Empty(t, loadMeta(t, ms, "app2", ""), "metadata is per namespace")

	w, ok := b.(confo.Watcher)
	if !ok {
		return
	}
	snap, err := b.Load(ctx, "app")
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := w.Watch(wctx, "app", snap.Revision)
	require.NoError(t, err)
	commitMeta(t, ms, "app", nil, metaPut("changes/0002", `{}`, 0))
	rev := commit(t, b, "app", put("after", `{}`, 0))[0]
	timeout := time.After(watchTimeout)
	for {
		select {
		case batch, ok := <-ch:
			require.True(t, ok, "watch closed")
			require.NoError(t, batch.Err)
			for _, c := range batch.Changes {
				require.Contains(t, []string{"mysql", "after"}, c.Name, "a watch reports no metadata")
				if c.Name == "after" {
					require.Equal(t, rev, c.Revision)
					return
				}
			}
		case <-timeout:
			require.FailNow(t, "no change of \"after\" within "+watchTimeout.String())
		}
	}
}

func (s *suite) testMetaMissingNamespace(t *testing.T) {
	_, ms, _ := s.metaStore(t, "ns")
	_, err := ms.LoadMeta(t.Context(), "missing", "")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
	_, err = ms.CommitMeta(t.Context(), "missing", nil, []confo.MetaOp{metaPut("schema", `{}`, confo.AnyRevision)})
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
}

func (s *suite) testMetaInvalidKeys(t *testing.T) {
	const ns = "ns"
	_, ms, _ := s.metaStore(t, ns)
	for _, key := range []string{"", "/schema", "schema/", "a//b", "a/../b", "..", "bad\x00key"} {
		_, err := ms.CommitMeta(t.Context(), ns, nil, []confo.MetaOp{metaPut(key, `{}`, confo.AnyRevision)})
		require.ErrorIs(t, err, confo.ErrInvalidName, "key %q", key)
	}
	_, err := ms.LoadMeta(t.Context(), ns, "a//")
	require.ErrorIs(t, err, confo.ErrInvalidName)
	_, err = ms.CommitMeta(t.Context(), ns, nil, []confo.MetaOp{metaPut("twice", "1", 0), metaPut("twice", "2", confo.AnyRevision)})
	require.ErrorIs(t, err, confo.ErrInvalidValue, "one key written twice in one commit")
	assert.Empty(t, loadMeta(t, ms, ns, ""))
}

func (s *suite) testMetaDeleteNamespace(t *testing.T) {
	const ns = "gone"
	b, ms, _ := s.metaStore(t, ns)
	nd, ok := b.(confo.NamespaceDeleter)
	if !ok {
		t.Skipf("%T does not implement confo.NamespaceDeleter", b)
	}
	commitMeta(t, ms, ns, []confo.Op{put("a", `{}`, 0)}, metaPut("schema", `{}`, 0))
	require.NoError(t, nd.DeleteNamespace(t.Context(), ns))
	require.NoError(t, b.CreateNamespace(t.Context(), ns))
	assert.Empty(t, loadMeta(t, ms, ns, ""), "a namespace created again has no metadata")
}
