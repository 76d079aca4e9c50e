package file_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/file"
)

// watchManager returns a manager on directory dir with namespace
// "database" created and in use.
func watchManager(t testing.TB, dir string) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.LoadBackend(t.Context(), "files", confo.FileBackend, confo.Credentials{"config_path": dir}))
	require.NoError(t, m.ActivateBackend("files"))
	require.NoError(t, m.CreateNamespace(t.Context(), "database"))
	require.NoError(t, m.UseNamespace(t.Context(), "database"))
	return m
}

// nextEvent waits for the next event on ch.
func nextEvent(t testing.TB, ch <-chan confo.Event) confo.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed")
		return ev
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no event within 10s")
	}
	return confo.Event{}
}

func TestWatchFile(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writer := watchManager(t, dir)
	watcher := watchManager(t, dir)
	require.NoError(t, writer.Set("before", map[string]any{"v": 0}))
	require.NoError(t, writer.Persist(t.Context())) // after watcher's load, before its watch

	ch, err := watcher.Watch(t.Context(), "database")
	require.NoError(t, err)
	ev := nextEvent(t, ch)
	assert.Equal(t, "before", ev.Name, "a change between load and watch is reported")

	// a change persisted by another manager on the same directory
	require.NoError(t, writer.Set("mysql", map[string]any{"host": "db1", "port": 3306}))
	require.NoError(t, writer.Persist(t.Context()))
	ev = nextEvent(t, ch)
	assert.Equal(t, confo.Event{
		Namespace: "database", Name: "mysql", Type: confo.EventPut,
		Value: map[string]any{"host": "db1", "port": int64(3306)}, Revision: ev.Revision,
	}, ev)
	assert.NotZero(t, ev.Revision)
	got, err := watcher.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, ev.Value, got, "the view is updated before the event")

	// its own Persist is not reported; a deletion by the other is
	require.NoError(t, watcher.Set("own", map[string]any{}))
	require.NoError(t, watcher.Persist(t.Context()))
	require.NoError(t, writer.Delete("mysql"))
	require.NoError(t, writer.Persist(t.Context()))
	ev = nextEvent(t, ch)
	assert.Equal(t, "mysql", ev.Name)
	assert.Equal(t, confo.EventDelete, ev.Type)
	_, err = watcher.Get("mysql")
	require.ErrorIs(t, err, confo.ErrConfigNotFound)

	// a file edited by hand
	require.NoError(t, os.WriteFile(filepath.Join(dir, "database", "redis.json"), []byte(`{"host":"cache"}`), 0o644))
	ev = nextEvent(t, ch)
	assert.Equal(t, "redis", ev.Name)
	assert.Equal(t, "cache", ev.Value["host"])

	// Reload replaces the view: the watch starts again from it
	require.NoError(t, watcher.Reload(t.Context()))
	require.NoError(t, writer.Reload(t.Context()))
	require.NoError(t, writer.SetField("redis", "host", "cache2"))
	require.NoError(t, writer.Persist(t.Context()))
	ev = nextEvent(t, ch)
	assert.Equal(t, "redis", ev.Name)
	assert.Equal(t, "cache2", ev.Value["host"])

	// an unsaved local change is kept, and its Persist conflicts
	require.NoError(t, watcher.SetField("redis", "host", "local"))
	require.NoError(t, writer.SetField("redis", "host", "remote"))
	require.NoError(t, writer.Set("barrier", map[string]any{}))
	require.NoError(t, writer.Persist(t.Context()))
	ev = nextEvent(t, ch)
	assert.Equal(t, "barrier", ev.Name, "no event for a configuration with unsaved changes")
	got, err = watcher.Get("redis")
	require.NoError(t, err)
	assert.Equal(t, "local", got["host"])
	require.ErrorIs(t, watcher.Persist(t.Context()), confo.ErrConflict)

	require.NoError(t, watcher.Close())
	for range ch {
	}
}
