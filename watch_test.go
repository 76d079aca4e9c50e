package confo_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// watchTimeout bounds every wait for an event.
const watchTimeout = 10 * time.Second

// newWatchManager returns a manager on a fresh memory store holding
// namespace "database", loaded and in use, and the store, which tests write
// to directly as another process would.
func newWatchManager(t testing.TB) (*confo.Manager, *memory.Backend) {
	t.Helper()
	store := memory.New()
	require.NoError(t, store.CreateNamespace(t.Context(), "database"))
	return newWatchManagerOn(t, store), store
}

// newWatchManagerOn returns a manager using b with namespace "database" in
// use.
func newWatchManagerOn(t testing.TB, b confo.Backend) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", b))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.UseNamespace(t.Context(), "database"))
	return m
}

// putJSON writes value under database/name in the store, bypassing any
// manager, and returns the revision.
func putJSON(t testing.TB, store *memory.Backend, name string, value map[string]any) int64 {
	t.Helper()
	raw, err := json.Marshal(value)
	require.NoError(t, err)
	return store.Put("database", name, raw)
}

// recvEvent waits for the next event on ch.
func recvEvent(t testing.TB, ch <-chan confo.Event) confo.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed")
		return ev
	case <-time.After(watchTimeout):
		require.FailNow(t, "no event within "+watchTimeout.String())
	}
	return confo.Event{}
}

// requireClosed waits for ch to be closed, discarding events.
func requireClosed(t testing.TB, ch <-chan confo.Event) {
	t.Helper()
	timeout := time.After(watchTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			require.FailNow(t, "watch channel not closed within "+watchTimeout.String())
		}
	}
}

func TestWatchUpdatesViewBeforeEvent(t *testing.T) {
	m, store := newWatchManager(t)
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)

	for i := range 50 {
		name := fmt.Sprintf("cfg%d", i%5)
		rev := putJSON(t, store, name, map[string]any{"port": i})
		ev := recvEvent(t, ch)
		require.Equal(t, confo.Event{
			Namespace: "database", Name: name, Type: confo.EventPut,
			Value: map[string]any{"port": int64(i)}, Revision: rev,
		}, ev)
		got, err := m.Get(name) // no wait: the view has it already
		require.NoError(t, err)
		require.Equal(t, ev.Value, got)
	}

	store.Remove("database", "cfg0")
	ev := recvEvent(t, ch)
	assert.Equal(t, confo.EventDelete, ev.Type)
	assert.Equal(t, "cfg0", ev.Name)
	assert.Nil(t, ev.Value)
	_, err = m.Get("cfg0")
	require.ErrorIs(t, err, confo.ErrConfigNotFound)
}

func TestWatchEventValueIsACopy(t *testing.T) {
	m, store := newWatchManager(t)
	a, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	b, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	putJSON(t, store, "mysql", map[string]any{"host": "db1"})
	ea, eb := recvEvent(t, a), recvEvent(t, b)
	ea.Value["host"] = "changed"
	assert.Equal(t, "db1", eb.Value["host"])
	got, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, "db1", got["host"])
}

func TestWatchLoadsNamespace(t *testing.T) {
	store := memory.New()
	require.NoError(t, store.CreateNamespace(t.Context(), "database"))
	require.NoError(t, store.CreateNamespace(t.Context(), "sales"))
	m := newWatchManagerOn(t, store)

	ch, err := m.Watch(t.Context(), "sales") // not loaded yet
	require.NoError(t, err)
	raw, _ := json.Marshal(map[string]any{"region": "eu"})
	store.Put("sales", "crm", raw)
	ev := recvEvent(t, ch)
	assert.Equal(t, "sales", ev.Namespace)
	assert.Equal(t, "database", m.Namespace(), "Watch does not change the namespace in use")
	require.NoError(t, m.UseNamespace(t.Context(), "sales"))
	got, err := m.Get("crm")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"region": "eu"}, got)

	_, err = m.Watch(t.Context(), "missing")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
	_, err = m.Watch(t.Context(), "a/b")
	require.ErrorIs(t, err, confo.ErrInvalidName)
}

func TestWatchMissesNothingSinceLoad(t *testing.T) {
	m, store := newWatchManager(t) // loaded now
	putJSON(t, store, "mysql", map[string]any{"v": 1})
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	ev := recvEvent(t, ch)
	assert.Equal(t, "mysql", ev.Name)
	assert.Equal(t, map[string]any{"v": int64(1)}, ev.Value)
}

func TestWatchKeepsUnsavedLocalChange(t *testing.T) {
	m, store := newWatchManager(t)
	putJSON(t, store, "mysql", map[string]any{"host": "db1"})
	require.NoError(t, m.Reload(t.Context()))
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)

	require.NoError(t, m.SetField("mysql", "host", "local"))
	putJSON(t, store, "mysql", map[string]any{"host": "remote"})
	ev := recvEvent(t, ch)
	assert.Equal(t, "mysql", ev.Name, "the store's change is reported")
	assert.Equal(t, "remote", ev.Value["host"])

	got, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, "local", got["host"], "the unsaved local change is kept")
	err = m.Persist(t.Context())
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.ErrorContains(t, err, "mysql")

	require.NoError(t, m.Reload(t.Context())) // the store wins
	got, err = m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, "remote", got["host"])
}

func TestWatchOwnPersistNotReported(t *testing.T) {
	m, store := newWatchManager(t)
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	require.NoError(t, m.Set("mine", map[string]any{"a": 1}))
	require.NoError(t, m.Persist(t.Context()))
	require.NoError(t, m.Delete("mine"))
	require.NoError(t, m.Persist(t.Context()))
	putJSON(t, store, "barrier", map[string]any{})
	assert.Equal(t, "barrier", recvEvent(t, ch).Name)
}

// plain hides the Watcher of the backend it wraps.
type plain struct{ confo.Backend }

func TestWatchUnsupported(t *testing.T) {
	store := memory.New()
	require.NoError(t, store.CreateNamespace(t.Context(), "database"))
	m := newWatchManagerOn(t, plain{store})
	_, err := m.Watch(t.Context(), "database")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorContains(t, err, `"mem"`)
}

func TestEventTypeString(t *testing.T) {
	assert.Equal(t, "put", confo.EventPut.String())
	assert.Equal(t, "delete", confo.EventDelete.String())
	assert.Equal(t, "EventType(0)", confo.EventType(0).String())
}
