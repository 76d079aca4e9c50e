package confo_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// opNames returns the names of ops, in order.
func opNames(ops []confo.Op) []string {
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = op.Name
	}
	return names
}

func TestManagerPersistOnlyChanges(t *testing.T) {
	ctx := t.Context()

	t.Run("no changes, no commit", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.Persist(ctx))
		require.NoError(t, m.PersistNamespace(ctx, "database"))
		require.NoError(t, m.PersistConfig(ctx, "database", "mysql"))
		assert.Empty(t, rec.recorded())

		require.NoError(t, m.SetField("mysql", "port", 1))
		require.NoError(t, m.Persist(ctx))
		require.Len(t, rec.commits(), 1)
		rec.reset()
		require.NoError(t, m.Persist(ctx), "a second persist has nothing to send")
		assert.Empty(t, rec.recorded())
	})

	t.Run("one of 100", func(t *testing.T) {
		m, rec := newTestManager(t)
		for i := range 100 {
			require.NoError(t, m.Set(fmt.Sprintf("c%03d", i), map[string]any{"i": i}))
		}
		require.NoError(t, m.Persist(ctx))
		require.NoError(t, m.Reload(ctx))
		rec.reset()

		require.NoError(t, m.SetField("c042", "i", "changed"))
		require.NoError(t, m.Persist(ctx))
		commits := rec.commits()
		require.Len(t, commits, 1)
		require.Len(t, commits[0], 1)
		assert.Equal(t, "c042", commits[0][0].Name)
		assert.JSONEq(t, `{"i":"changed"}`, string(commits[0][0].Value))
		assert.NotZero(t, commits[0][0].Revision, "guarded by the revision it was read at")
		assert.Equal(t, []string{"commit database"}, rec.recorded(), "no read before the write")
	})

	t.Run("delete is sent", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.Set("redis", map[string]any{"port": 6379}))
		require.NoError(t, m.Persist(ctx))
		rec.reset()

		require.NoError(t, m.Delete("mysql"))
		n, err := m.ConfigCount()
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		require.NoError(t, m.Persist(ctx))
		commits := rec.commits()
		require.Len(t, commits, 1)
		require.Len(t, commits[0], 1)
		assert.Equal(t, "mysql", commits[0][0].Name)
		assert.Nil(t, commits[0][0].Value, "a delete")
		assert.NotZero(t, commits[0][0].Revision)
		assert.Equal(t, map[string]map[string]any{"redis": {"port": int64(6379)}}, storeView(t, rec.store, "database"))

		rec.reset()
		require.NoError(t, m.Persist(ctx))
		assert.Empty(t, rec.recorded(), "the delete is not sent twice")
	})

	t.Run("delete then set again", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.Delete("mysql"))
		require.NoError(t, m.Set("mysql", map[string]any{"host": "db"}))
		require.NoError(t, m.Persist(ctx))
		require.Len(t, rec.commits(), 1)
		assert.Equal(t, map[string]map[string]any{"mysql": {"host": "db"}}, storeView(t, rec.store, "database"))
	})

	t.Run("deleted before ever persisted sends nothing", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.Set("redis", map[string]any{"port": 6379}))
		require.NoError(t, m.SetField("redis", "host", "x"))
		require.NoError(t, m.Delete("redis"))
		require.NoError(t, m.Persist(ctx))
		assert.Empty(t, rec.recorded())
		err := m.PersistConfig(ctx, "database", "redis")
		requireError(t, err, confo.ErrConfigNotFound, `"redis"`)
	})

	t.Run("PersistConfig sends one", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.Set("a", map[string]any{"n": 1}))
		require.NoError(t, m.Set("b", map[string]any{"n": 2}))
		require.NoError(t, m.Delete("mysql"))
		require.NoError(t, m.PersistConfig(ctx, "database", "b"))
		require.NoError(t, m.PersistConfig(ctx, "database", "mysql"), "a pending delete can be persisted alone")
		commits := rec.commits()
		require.Len(t, commits, 2)
		assert.Equal(t, []string{"b"}, opNames(commits[0]))
		assert.Equal(t, []string{"mysql"}, opNames(commits[1]))
		assert.Equal(t, map[string]map[string]any{"b": {"n": int64(2)}}, storeView(t, rec.store, "database"))
		rec.reset()
		require.NoError(t, m.Persist(ctx))
		require.Len(t, rec.commits(), 1)
		assert.Equal(t, []string{"a"}, opNames(rec.commits()[0]))
	})

	t.Run("every loaded namespace, PersistNamespace one", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.Set("in-database", map[string]any{}))
		require.NoError(t, m.CreateNamespace(ctx, "sales"))
		require.NoError(t, m.CreateNamespace(ctx, "analytics"))
		require.NoError(t, m.UseNamespace(ctx, "sales"))
		require.NoError(t, m.Set("in-sales", map[string]any{}))
		require.NoError(t, m.UseNamespace(ctx, "analytics"))
		require.NoError(t, m.Set("in-analytics", map[string]any{}))
		rec.reset()

		require.NoError(t, m.PersistNamespace(ctx, "sales"))
		assert.Equal(t, []string{"commit sales"}, rec.recorded())
		rec.reset()
		require.NoError(t, m.Persist(ctx))
		assert.ElementsMatch(t, []string{"commit analytics", "commit database"}, rec.recorded())
		for _, ns := range []string{"database", "sales", "analytics"} {
			assert.Contains(t, storeView(t, rec.store, ns), "in-"+ns)
		}
	})
}

func TestManagerPersistBatchLimits(t *testing.T) {
	ctx := t.Context()

	// setup returns a manager on a store that takes limits, with
	// "database" in use.
	setup := func(t *testing.T, limits confo.BatchLimits) (*confo.Manager, *recorder) {
		rec := newRecorder(memory.New())
		m := newManager(t, limited{rec, limits})
		require.NoError(t, m.CreateNamespace(ctx, "database"))
		require.NoError(t, m.UseNamespace(ctx, "database"))
		rec.reset()
		return m, rec
	}

	t.Run("MaxOps", func(t *testing.T) {
		m, rec := setup(t, confo.BatchLimits{MaxOps: 3})
		for i := range 10 {
			require.NoError(t, m.Set(fmt.Sprintf("c%02d", i), map[string]any{"i": i}))
		}
		require.NoError(t, m.Persist(ctx))
		commits := rec.commits()
		require.Len(t, commits, 4)
		var sizes []int
		var names []string
		for _, ops := range commits {
			sizes = append(sizes, len(ops))
			names = append(names, opNames(ops)...)
		}
		assert.Equal(t, []int{3, 3, 3, 1}, sizes)
		assert.ElementsMatch(t, []string{"c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09"}, names)
		assert.Len(t, storeView(t, rec.store, "database"), 10)

		// deletes count as ops too
		rec.reset()
		for i := range 7 {
			require.NoError(t, m.Delete(fmt.Sprintf("c%02d", i)))
		}
		require.NoError(t, m.Persist(ctx))
		assert.Len(t, rec.commits(), 3)
		assert.Len(t, storeView(t, rec.store, "database"), 3)
	})

	t.Run("MaxBytes splits", func(t *testing.T) {
		const maxBytes = 100
		m, rec := setup(t, confo.BatchLimits{MaxBytes: maxBytes})
		for i := range 10 {
			require.NoError(t, m.Set(fmt.Sprintf("c%02d", i), map[string]any{"v": strings.Repeat("x", 30)}))
		}
		require.NoError(t, m.Persist(ctx))
		commits := rec.commits()
		require.Greater(t, len(commits), 1)
		total := 0
		for _, ops := range commits {
			size := 0
			for _, op := range ops {
				size += len(op.Name) + len(op.Value)
			}
			assert.LessOrEqual(t, size, maxBytes)
			total += len(ops)
		}
		assert.Equal(t, 10, total)
		assert.Len(t, storeView(t, rec.store, "database"), 10)
	})

	t.Run("value too large", func(t *testing.T) {
		const maxBytes = 64
		m, rec := setup(t, confo.BatchLimits{MaxOps: 2, MaxBytes: maxBytes})
		require.NoError(t, m.Set("a-small", map[string]any{"v": 1}))
		require.NoError(t, m.Set("big", map[string]any{"v": strings.Repeat("x", maxBytes)}))
		require.NoError(t, m.Set("z-small", map[string]any{"v": 2}))

		err := m.Persist(ctx)
		requireError(t, err, confo.ErrValueTooLarge, `"big"`, `"database"`)
		assert.Empty(t, rec.recorded(), "nothing sent")
		err = m.PersistConfig(ctx, "database", "big")
		requireError(t, err, confo.ErrValueTooLarge, `"big"`)
		err = m.PersistNamespace(ctx, "database")
		requireError(t, err, confo.ErrValueTooLarge, `"big"`)
		assert.Empty(t, rec.recorded(), "nothing sent")

		n, err := m.ConfigCount()
		require.NoError(t, err)
		assert.Equal(t, 3, n, "changes kept")

		require.NoError(t, m.Set("big", map[string]any{"v": "fits"}))
		require.NoError(t, m.Persist(ctx))
		assert.Len(t, storeView(t, rec.store, "database"), 3)
	})

	t.Run("value too large in another namespace", func(t *testing.T) {
		const maxBytes = 64
		m, rec := setup(t, confo.BatchLimits{MaxBytes: maxBytes})
		require.NoError(t, m.CreateNamespace(ctx, "analytics"))
		require.NoError(t, m.CreateNamespace(ctx, "sales"))
		for _, ns := range []string{"analytics", "database", "sales"} {
			require.NoError(t, m.UseNamespace(ctx, ns))
			require.NoError(t, m.Set("small", map[string]any{"v": 1}))
		}
		require.NoError(t, m.Set("big", map[string]any{"v": strings.Repeat("x", maxBytes)})) // in sales
		rec.reset()

		err := m.Persist(ctx)
		requireError(t, err, confo.ErrValueTooLarge, `"big"`, `"sales"`)
		assert.Empty(t, rec.recorded(), "nothing sent, in any namespace")
		require.NoError(t, m.PersistNamespace(ctx, "analytics"), "the other namespaces persist alone")
		assert.Equal(t, []string{"commit analytics"}, rec.recorded())
	})

	t.Run("exactly MaxBytes fits", func(t *testing.T) {
		const maxBytes = 64
		m, rec := setup(t, confo.BatchLimits{MaxBytes: maxBytes})
		// name (3) + {"v":"..."} (8 + len) == maxBytes
		require.NoError(t, m.Set("big", map[string]any{"v": strings.Repeat("x", maxBytes-3-8)}))
		require.NoError(t, m.Persist(ctx))
		require.Len(t, rec.commits(), 1)
		op := rec.commits()[0][0]
		assert.Equal(t, maxBytes, len(op.Name)+len(op.Value))
	})
}

func TestManagerPersistPartialBatches(t *testing.T) {
	ctx := t.Context()
	rec := newRecorder(memory.New())
	m := newManager(t, limited{rec, confo.BatchLimits{MaxOps: 2}})
	require.NoError(t, m.CreateNamespace(ctx, "database"))
	require.NoError(t, m.UseNamespace(ctx, "database"))
	for _, name := range []string{"a", "b", "c", "d"} {
		require.NoError(t, m.Set(name, map[string]any{"v": name}))
	}
	rec.store.Put("database", "c", []byte(`{"v":"theirs"}`)) // the second batch conflicts

	err := m.Persist(ctx)
	requireError(t, err, confo.ErrConflict, `"c"`)
	assert.Equal(t, map[string]map[string]any{"a": {"v": "a"}, "b": {"v": "b"}, "c": {"v": "theirs"}},
		storeView(t, rec.store, "database"), "the first batch is written, the second not at all")

	rec.reset()
	require.NoError(t, m.Reload(ctx))
	require.NoError(t, m.Set("d", map[string]any{"v": "d"}))
	require.NoError(t, m.Persist(ctx))
	require.Len(t, rec.commits(), 1)
	assert.Equal(t, []string{"d"}, opNames(rec.commits()[0]), "written batches are not sent again")
}
