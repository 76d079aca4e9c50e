package confo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// beforeCommit is a memory store whose Commit first calls a hook, so that a
// test can write as another process would between a Rollback's read and
// its write. History and Version go to the store as they are.
type beforeCommit struct {
	*memory.Backend
	hook func()
}

func (b *beforeCommit) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	if b.hook != nil {
		b.hook()
	}
	return b.Backend.Commit(ctx, ns, ops)
}

// newHistoryManager returns a manager on a fresh memory store with namespace
// "database" in use, and the store.
func newHistoryManager(t testing.TB, opts ...confo.Option) (*confo.Manager, *beforeCommit) {
	t.Helper()
	store := &beforeCommit{Backend: memory.New()}
	m := confo.New(opts...)
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	require.NoError(t, m.AddBackend("mem", store))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.CreateNamespace(t.Context(), "database"))
	require.NoError(t, m.UseNamespace(t.Context(), "database"))
	return m, store
}

// persistPort sets mysql's port and persists it, returning the new revision.
func persistPort(t testing.TB, m *confo.Manager, port int) int64 {
	t.Helper()
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db", "port": port}))
	require.NoError(t, m.PersistConfig(t.Context(), "database", "mysql"))
	h, err := m.History(t.Context(), "database", "mysql")
	require.NoError(t, err)
	return h[0].Revision
}

func ports(t testing.TB, h []confo.ConfigVersion) []any {
	t.Helper()
	var out []any
	for _, v := range h {
		if v.Deleted {
			out = append(out, "deleted")
			continue
		}
		require.NoError(t, v.Err)
		out = append(out, v.Value["port"])
	}
	return out
}

func TestManagerHistoryRollback(t *testing.T) {
	ctx := t.Context()
	m, store := newHistoryManager(t)
	r1 := persistPort(t, m, 1)
	r2 := persistPort(t, m, 2)
	r3 := persistPort(t, m, 3)
	require.Less(t, r1, r2)
	require.Less(t, r2, r3)

	h, err := m.History(ctx, "database", "mysql")
	require.NoError(t, err)
	assert.Equal(t, []any{int64(3), int64(2), int64(1)}, ports(t, h), "newest first")
	assert.Equal(t, []int64{r3, r2, r1}, []int64{h[0].Revision, h[1].Revision, h[2].Revision})

	require.NoError(t, m.Rollback(ctx, "database", "mysql", r1))
	got, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "db", "port": int64(1)}, got, "the view holds the rolled-back value")
	snap, err := store.Load(ctx, "database")
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"db","port":1}`, string(snap.Entries["mysql"].Value))
	assert.Greater(t, snap.Entries["mysql"].Revision, r3, "a new revision")

	h, err = m.History(ctx, "database", "mysql")
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), int64(3), int64(2), int64(1)}, ports(t, h))

	// The view's revision is the store's: the next Persist is not a conflict.
	require.NoError(t, m.SetField("mysql", "port", 4))
	require.NoError(t, m.Persist(ctx))

	t.Run("Deletion", func(t *testing.T) {
		store.Remove("database", "mysql")
		h, err := m.History(ctx, "database", "mysql")
		require.NoError(t, err)
		require.True(t, h[0].Deleted, "the memory store reports deletions")
		assert.Nil(t, h[0].Value)
		// Undelete: roll back to the last put.
		require.NoError(t, m.Reload(ctx))
		require.NoError(t, m.Rollback(ctx, "database", "mysql", h[1].Revision))
		got, err := m.Get("mysql")
		require.NoError(t, err)
		assert.Equal(t, int64(4), got["port"])
		// Rolling back to the deletion deletes it again.
		require.NoError(t, m.Rollback(ctx, "database", "mysql", h[0].Revision))
		_, err = m.Get("mysql")
		require.ErrorIs(t, err, confo.ErrConfigNotFound)
		snap, err := store.Load(ctx, "database")
		require.NoError(t, err)
		assert.NotContains(t, snap.Entries, "mysql")
	})
}

func TestManagerHistoryLimit(t *testing.T) {
	m, _ := newHistoryManager(t, confo.WithHistoryLimit(2))
	for port := range 5 {
		persistPort(t, m, port)
	}
	h, err := m.History(t.Context(), "database", "mysql")
	require.NoError(t, err)
	assert.Equal(t, []any{int64(4), int64(3)}, ports(t, h))
}

// TestManagerRollbackConflict writes between the Rollback's read of the
// current revision and its guarded write: ErrConflict naming the
// configuration, the other writer's value stays, and the view is unchanged.
func TestManagerRollbackConflict(t *testing.T) {
	ctx := t.Context()
	m, store := newHistoryManager(t)
	r1 := persistPort(t, m, 1)
	persistPort(t, m, 2)
	store.hook = func() {
		store.hook = nil
		store.Put("database", "mysql", []byte(`{"host":"other","port":9}`))
	}
	err := m.Rollback(ctx, "database", "mysql", r1)
	requireError(t, err, confo.ErrConflict, `"mysql"`, `"database"`)
	snap, err := store.Load(ctx, "database")
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"other","port":9}`, string(snap.Entries["mysql"].Value), "the store keeps the other writer's value")
	got, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got["port"], "the view is unchanged")
}

func TestManagerHistoryErrors(t *testing.T) {
	ctx := t.Context()
	m, store := newHistoryManager(t)
	r1 := persistPort(t, m, 1)
	store.Put("database", "broken", []byte(`[1,2]`))
	rb := store.Put("database", "broken", []byte(`{"ok":true}`)) - 1

	t.Run("InvalidName", func(t *testing.T) {
		_, err := m.History(ctx, "a/b", "mysql")
		require.ErrorIs(t, err, confo.ErrInvalidName)
		_, err = m.History(ctx, "database", "")
		require.ErrorIs(t, err, confo.ErrInvalidName)
		require.ErrorIs(t, m.Rollback(ctx, "..", "mysql", r1), confo.ErrInvalidName)
		require.ErrorIs(t, m.Rollback(ctx, "database", "x\x00", r1), confo.ErrInvalidName)
	})
	t.Run("ConfigNotFound", func(t *testing.T) {
		_, err := m.History(ctx, "database", "redis")
		requireError(t, err, confo.ErrConfigNotFound, `"redis"`, `"database"`)
	})
	t.Run("RevisionNotFound", func(t *testing.T) {
		for _, rev := range []int64{0, -1, r1 + 1000} {
			err := m.Rollback(ctx, "database", "mysql", rev)
			requireError(t, err, confo.ErrRevisionNotFound, `"mysql"`)
		}
		// A revision of another configuration is not one of mysql's.
		requireError(t, m.Rollback(ctx, "database", "mysql", rb), confo.ErrRevisionNotFound)
	})
	t.Run("Corrupt", func(t *testing.T) {
		h, err := m.History(ctx, "database", "broken")
		require.NoError(t, err, "one bad version does not hide the others")
		require.Len(t, h, 2)
		assert.NoError(t, h[0].Err)
		assert.ErrorIs(t, h[1].Err, confo.ErrCorruptValue)
		assert.Nil(t, h[1].Value)
		requireError(t, m.Rollback(ctx, "database", "broken", h[1].Revision), confo.ErrCorruptValue, `"broken"`)
	})
	t.Run("Compacted", func(t *testing.T) {
		persistPort(t, m, 2)
		h, err := m.History(ctx, "database", "mysql")
		require.NoError(t, err)
		store.Compact(h[0].Revision)
		h, err = m.History(ctx, "database", "mysql")
		require.NoError(t, err)
		assert.Equal(t, []any{int64(2)}, ports(t, h), "only what the store keeps")
		err = m.Rollback(ctx, "database", "mysql", r1)
		requireError(t, err, confo.ErrRevisionNotFound, "compacted")
	})
	t.Run("Unsupported", func(t *testing.T) {
		m2 := newManager(t, shared{memory.New()})
		_, err := m2.History(ctx, "database", "mysql")
		require.ErrorIs(t, err, errors.ErrUnsupported)
		assert.Contains(t, err.Error(), `"test"`, "names the backend")
		require.ErrorIs(t, m2.Rollback(ctx, "database", "mysql", 1), errors.ErrUnsupported)
	})
	t.Run("NoBackend", func(t *testing.T) {
		_, err := confo.New().History(ctx, "database", "mysql")
		require.ErrorIs(t, err, confo.ErrBackendNotActive)
	})
}

func TestHistoryErrorsAreDistinct(t *testing.T) {
	others := []error{
		confo.ErrConfigNotFound, confo.ErrNamespaceNotFound, confo.ErrConflict, confo.ErrCompacted,
		confo.ErrCorruptValue, confo.ErrClosed, confo.ErrNamespaceNotLoaded,
	}
	for _, e := range []error{confo.ErrRevisionNotFound, confo.ErrStale} {
		assert.Contains(t, e.Error(), "confo: ")
		for _, o := range others {
			assert.NotErrorIs(t, e, o)
			assert.NotErrorIs(t, o, e)
		}
	}
	assert.NotErrorIs(t, confo.ErrRevisionNotFound, confo.ErrStale)
}
