package confo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

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
