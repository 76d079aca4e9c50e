package confo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

func TestManagerPersistConflict(t *testing.T) {
	ctx := t.Context()
	for name, tt := range map[string]struct {
		local  func(m *confo.Manager) error
		remote func(store *memory.Backend)
		names  []string
	}{
		"changed in store": {
			local:  func(m *confo.Manager) error { return m.SetField("mysql", "port", 1) },
			remote: func(store *memory.Backend) { store.Put("database", "mysql", []byte(`{"port":2}`)) },
			names:  []string{`"mysql"`, `"database"`},
		},
		"deleted in store": {
			local:  func(m *confo.Manager) error { return m.SetField("mysql", "port", 1) },
			remote: func(store *memory.Backend) { store.Remove("database", "mysql") },
			names:  []string{`"mysql"`},
		},
		"local delete of a changed one": {
			local:  func(m *confo.Manager) error { return m.Delete("mysql") },
			remote: func(store *memory.Backend) { store.Put("database", "mysql", []byte(`{"port":2}`)) },
			names:  []string{`"mysql"`},
		},
		"created in store meanwhile": {
			local:  func(m *confo.Manager) error { return m.Set("redis", map[string]any{"port": 1}) },
			remote: func(store *memory.Backend) { store.Put("database", "redis", []byte(`{"port":2}`)) },
			names:  []string{`"redis"`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			m, rec := newTestManager(t)
			require.NoError(t, m.Set("other", map[string]any{"n": 1})) // same batch, must not be written
			require.NoError(t, tt.local(m))
			tt.remote(rec.store)
			storeBefore := storeView(t, rec.store, "database")
			viewBefore, err := m.GetAll()
			require.NoError(t, err)

			err = m.Persist(ctx)
			requireError(t, err, confo.ErrConflict, tt.names...)
			assert.Equal(t, storeBefore, storeView(t, rec.store, "database"), "nothing of the batch written")
			viewAfter, err := m.GetAll()
			require.NoError(t, err)
			assert.Equal(t, viewBefore, viewAfter, "a failed persist keeps the changes")

			err = m.Persist(ctx)
			requireError(t, err, confo.ErrConflict, tt.names...) // still conflicting: the store is not overwritten

			// Reload: the store wins; changes made again then persist.
			require.NoError(t, m.Reload(ctx))
			assert.Equal(t, storeBefore, mustGetAll(t, m))
			require.NoError(t, tt.local(m))
			require.NoError(t, m.Persist(ctx))
			assert.Equal(t, mustGetAll(t, m), storeView(t, rec.store, "database"))
		})
	}
}

func mustGetAll(t testing.TB, m *confo.Manager) map[string]map[string]any {
	t.Helper()
	all, err := m.GetAll()
	require.NoError(t, err)
	return all
}

func TestManagerPersistFailureKeepsChanges(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	errDown := errors.New("store unreachable")
	rec.setHook(func(context.Context, string, []confo.Op) error { return errDown })

	require.NoError(t, m.SetField("mysql", "port", 3306))
	require.NoError(t, m.Set("redis", map[string]any{"port": 6379}))
	want := mustGetAll(t, m)
	require.ErrorIs(t, m.Persist(ctx), errDown)
	require.ErrorIs(t, m.PersistNamespace(ctx, "database"), errDown)
	require.ErrorIs(t, m.PersistConfig(ctx, "database", "redis"), errDown)
	assert.Equal(t, want, mustGetAll(t, m))

	rec.setHook(nil)
	require.NoError(t, m.Persist(ctx), "a retry succeeds")
	assert.Equal(t, want, storeView(t, rec.store, "database"))
	rec.reset()
	require.NoError(t, m.Persist(ctx))
	assert.Empty(t, rec.recorded(), "nothing left to send")

	// A cancelled context fails the same way, keeping the changes.
	require.NoError(t, m.Delete("mysql"))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, m.Persist(cancelled), context.Canceled)
	require.ErrorIs(t, m.Reload(cancelled), context.Canceled)
	_, err := m.Get("mysql")
	require.ErrorIs(t, err, confo.ErrConfigNotFound, "the delete is still pending")
	require.NoError(t, m.Persist(ctx))
	assert.Equal(t, map[string]map[string]any{"redis": {"port": int64(6379)}}, storeView(t, rec.store, "database"))
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

func TestManagerPersistInFlight(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.Set("old", map[string]any{"n": 1}))
	require.NoError(t, m.Persist(ctx))

	require.NoError(t, m.Set("mysql", map[string]any{"v": 1}))
	require.NoError(t, m.Set("fresh", map[string]any{"v": 1}))
	require.NoError(t, m.Set("gone", map[string]any{"v": 1}))
	require.NoError(t, m.Delete("old"))

	entered, release := holdCommit(rec)
	done := make(chan error, 1)
	go func() { done <- m.Persist(ctx) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Persist never reached Commit")
	}

	// Changes made while the persist is in flight.
	require.NoError(t, m.Set("mysql", map[string]any{"v": 2}))
	require.NoError(t, m.SetField("fresh", "w", 2))
	require.NoError(t, m.Delete("gone"))
	require.NoError(t, m.Set("old", map[string]any{"n": 2}))
	require.NoError(t, m.Set("later", map[string]any{"v": 1}))
	want := mustGetAll(t, m)

	close(release)
	require.NoError(t, <-done)
	rec.setHook(nil)
	assert.Equal(t, want, mustGetAll(t, m), "the persist did not undo later changes")

	rec.reset()
	require.NoError(t, m.Persist(ctx), "the in-flight changes stay dirty and are not conflicts")
	commits := rec.commits()
	require.Len(t, commits, 1)
	assert.ElementsMatch(t, []string{"fresh", "gone", "later", "mysql", "old"}, opNames(commits[0]))
	assert.Equal(t, want, storeView(t, rec.store, "database"))

	rec.reset()
	require.NoError(t, m.Persist(ctx))
	assert.Empty(t, rec.recorded())
}

func TestManagerReload(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.Set("postgres", map[string]any{"port": 5678}))
	require.NoError(t, m.Set("keep", map[string]any{"n": 1}))
	require.NoError(t, m.Persist(ctx))

	// Unsaved local changes ...
	require.NoError(t, m.SetField("mysql", "port", 1))
	require.NoError(t, m.Set("unsaved", map[string]any{}))
	require.NoError(t, m.Delete("keep"))
	// ... and changes by another writer.
	rec.store.Put("database", "postgres", []byte(`{"port":5679}`))
	rec.store.Put("database", "remote", []byte(`{"new":true}`))
	rec.store.Remove("database", "mysql")

	rec.reset()
	require.NoError(t, m.Reload(ctx))
	assert.Equal(t, []string{"load database"}, rec.recorded(), "one read per loaded namespace")
	want := map[string]map[string]any{
		"postgres": {"port": int64(5679)},
		"remote":   {"new": true},
		"keep":     {"n": int64(1)},
	}
	assert.Equal(t, want, mustGetAll(t, m), "the store wins")
	assert.Equal(t, "database", m.Namespace())

	rec.reset()
	require.NoError(t, m.Persist(ctx))
	assert.Empty(t, rec.recorded(), "nothing dirty after a reload")

	require.NoError(t, m.SetField("postgres", "port", 1))
	require.NoError(t, m.Persist(ctx), "guarded by the reloaded revision: no conflict")
	assert.Equal(t, mustGetAll(t, m), storeView(t, rec.store, "database"))
}

func TestManagerReloadEveryNamespace(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.CreateNamespace(ctx, "sales"))
	require.NoError(t, m.CreateNamespace(ctx, "never-used"))
	require.NoError(t, m.UseNamespace(ctx, "sales"))
	rec.store.Put("database", "mysql", []byte(`{"port":1}`))
	rec.store.Put("sales", "forecast", []byte(`{"url":"x"}`))

	rec.reset()
	require.NoError(t, m.Reload(ctx))
	assert.ElementsMatch(t, []string{"load database", "load sales"}, rec.recorded(), "only loaded namespaces")
	assert.Equal(t, map[string]map[string]any{"forecast": {"url": "x"}}, mustGetAll(t, m))
	require.NoError(t, m.UseNamespace(ctx, "database"))
	assert.Equal(t, map[string]map[string]any{"mysql": {"port": int64(1)}}, mustGetAll(t, m))
}

var corruptValues = map[string]string{
	"not JSON":       `not json`,
	"array":          `[1]`,
	"string":         `"s"`,
	"number":         `42`,
	"null":           `null`,
	"empty":          ``,
	"spaces":         `   `,
	"trailing data":  `{"a":1} x`,
	"two objects":    `{"a":1}{"b":2}`,
	"truncated":      `{"a":`,
	"invalid UTF-8":  "{\"a\":\"\xff\"}",
	"trailing comma": `{"a":1,}`,
}

// TestManagerCorruptValue checks that a corrupt stored value is
// quarantined, never contagious: the namespace loads and reloads, the rest
// of it is served, the configuration keeps its last good value (or reads
// as ErrCorruptValue naming it and its revision when it never had one),
// the manager lists the problem, and a Set + Persist over it repairs it.
func TestManagerCorruptValue(t *testing.T) {
	ctx := t.Context()
	for name, raw := range corruptValues {
		t.Run(name, func(t *testing.T) {
			t.Run("UseNamespace", func(t *testing.T) {
				m, rec := newTestManager(t)
				require.NoError(t, m.CreateNamespace(ctx, "sales"))
				rec.store.Put("sales", "fine", []byte(`{"ok":true}`))
				rec.store.Put("sales", "broken", []byte(raw))
				require.NoError(t, m.UseNamespace(ctx, "sales"), "a corrupt value does not fail the namespace")
				assert.Equal(t, map[string]map[string]any{"fine": {"ok": true}}, mustGetAll(t, m), "the rest loads")
				_, err := m.Get("broken")
				requireError(t, err, confo.ErrCorruptValue, `"broken"`, `"sales"`, "revision")
				_, err = m.GetField("broken", "a")
				require.ErrorIs(t, err, confo.ErrCorruptValue)
				problems := m.Problems("sales")
				require.Len(t, problems, 1)
				assert.Equal(t, "broken", problems[0].Name)
				require.ErrorIs(t, problems[0].Err, confo.ErrCorruptValue)

				// An operator repairs it through the library.
				require.NoError(t, m.Set("broken", map[string]any{"a": 1}))
				require.NoError(t, m.Persist(ctx), "guarded by the corrupt value's revision")
				assert.Equal(t, map[string]any{"a": int64(1)}, storeView(t, rec.store, "sales")["broken"])
				assert.Empty(t, m.Problems("sales"), "repaired")
			})

			t.Run("Reload", func(t *testing.T) {
				m, rec := newTestManager(t)
				require.NoError(t, m.CreateNamespace(ctx, "sales"))
				require.NoError(t, m.UseNamespace(ctx, "sales"))
				require.NoError(t, m.Set("forecast", map[string]any{"url": "x"}))
				require.NoError(t, m.Persist(ctx))
				require.NoError(t, m.UseNamespace(ctx, "database"))
				require.NoError(t, m.UseNamespace(ctx, "sales"))

				// A fine remote change in one namespace, a corrupt value in the other.
				rec.store.Put("database", "remote", []byte(`{"ok":true}`))
				rec.store.Put("sales", "forecast", []byte(raw))
				require.NoError(t, m.Reload(ctx), "a corrupt value does not fail Reload")
				assert.Equal(t, map[string]map[string]any{"forecast": {"url": "x"}}, mustGetAll(t, m), "the last good value stays")
				problems := m.Problems("sales")
				require.Len(t, problems, 1)
				assert.Equal(t, "forecast", problems[0].Name)
				require.NoError(t, m.UseNamespace(ctx, "database"))
				_, err := m.Get("remote")
				require.NoError(t, err, "the other namespace reloaded")

				// The corrupt value goes: the problem goes with it.
				rec.store.Remove("sales", "forecast")
				require.NoError(t, m.Reload(ctx))
				assert.Empty(t, m.Problems("sales"))
			})
		})
	}
}

// holdCommit makes a Commit that reaches rec's store close entered and
// wait until release is closed (or its ctx is done) before it goes on. Only
// one Commit may reach the store while the hook is set.
func holdCommit(rec *recorder) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	rec.setHook(func(ctx context.Context, _ string, _ []confo.Op) error {
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return entered, release
}

// TestManagerPersistWaitHonorsContext: a Persist or Reload queued behind a
// Persist that is still writing gives up when its own context is done.
func TestManagerPersistWaitHonorsContext(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.SetField("mysql", "port", 1))
	entered, release := holdCommit(rec)
	done := make(chan error, 1)
	go func() { done <- m.Persist(ctx) }()
	<-entered

	// Reads and writes of the view go on while a Persist is writing.
	require.NoError(t, m.Set("redis", map[string]any{"port": 6379}))
	_, err := m.Get("mysql")
	require.NoError(t, err)
	_, err = m.GetNamespaces(ctx)
	require.NoError(t, err)
	require.NoError(t, m.CreateNamespace(ctx, "sales"))
	require.NoError(t, m.UseNamespace(ctx, "sales"))
	require.NoError(t, m.UseNamespace(ctx, "database"))

	for name, do := range map[string]func(ctx context.Context) error{
		"Persist":          m.Persist,
		"PersistNamespace": func(ctx context.Context) error { return m.PersistNamespace(ctx, "database") },
		"PersistConfig":    func(ctx context.Context) error { return m.PersistConfig(ctx, "database", "redis") },
		"Reload":           m.Reload,
	} {
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		err := do(short)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
	}

	close(release)
	require.NoError(t, <-done)
	rec.setHook(nil)
	require.NoError(t, m.Persist(ctx))
	assert.Equal(t, mustGetAll(t, m), storeView(t, rec.store, "database"))
}
