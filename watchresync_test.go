package confo_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

func TestWatchCompacted(t *testing.T) {
	t.Run("before the watch starts", func(t *testing.T) {
		m, store := newWatchManager(t)
		putJSON(t, store, "gone", map[string]any{})
		require.NoError(t, m.Reload(t.Context()))
		putJSON(t, store, "mysql", map[string]any{"v": 1})
		store.Remove("database", "gone")
		rev := putJSON(t, store, "mysql", map[string]any{"v": 2})
		store.Compact(rev + 1)

		ch, err := m.Watch(t.Context(), "database")
		require.NoError(t, err)
		got := map[string]confo.Event{}
		for len(got) < 2 {
			ev := recvEvent(t, ch)
			got[ev.Name] = ev
		}
		assert.Equal(t, confo.EventPut, got["mysql"].Type)
		assert.Equal(t, map[string]any{"v": int64(2)}, got["mysql"].Value)
		assert.Equal(t, confo.EventDelete, got["gone"].Type)
		requireViewEqualsStore(t, m, store)
	})
	t.Run("while the watch is behind", func(t *testing.T) {
		store := memory.New()
		require.NoError(t, store.CreateNamespace(t.Context(), "database"))
		c := newCounter(store)
		m := newWatchManagerOn(t, c)
		ch, err := m.Watch(t.Context(), "database")
		require.NoError(t, err)
		putJSON(t, store, "old", map[string]any{})
		recvEvent(t, ch)

		release := c.hold()
		var rev int64
		for i := range 100 {
			rev = putJSON(t, store, fmt.Sprintf("cfg%d", i%10), map[string]any{"i": i})
		}
		store.Remove("database", "old")
		store.Compact(rev)
		release()

		require.Eventually(t, func() bool {
			return viewEqualsStore(t, m, store)
		}, watchTimeout, 10*time.Millisecond)
		_, err = m.Get("old")
		require.ErrorIs(t, err, confo.ErrConfigNotFound)
		assert.GreaterOrEqual(t, c.watches.Load(), int32(1))
	})
}

// viewEqualsStore reports whether m's view of "database" equals a fresh
// load of the store.
func viewEqualsStore(t testing.TB, m *confo.Manager, store confo.Backend) bool {
	t.Helper()
	fresh := confo.New()
	defer fresh.Close()
	require.NoError(t, fresh.AddBackend("fresh", nonClosing{store}))
	require.NoError(t, fresh.ActivateBackend("fresh"))
	require.NoError(t, fresh.UseNamespace(t.Context(), "database"))
	want, err := fresh.GetAll()
	require.NoError(t, err)
	got, err := m.GetAll()
	require.NoError(t, err)
	return assert.ObjectsAreEqual(want, got)
}

func requireViewEqualsStore(t testing.TB, m *confo.Manager, store confo.Backend) {
	t.Helper()
	require.True(t, viewEqualsStore(t, m, store), "the view equals the store")
}

// nonClosing shares a store between managers: closing one leaves it open.
type nonClosing struct{ confo.Backend }

func (nonClosing) Close() error { return nil }

func TestWatchAcrossReload(t *testing.T) {
	m, store := newWatchManager(t)
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	go func() {
		for range ch { // a receiver that keeps up
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range 2000 {
			name := fmt.Sprintf("cfg%d", rng.IntN(30))
			if rng.IntN(4) == 0 {
				store.Remove("database", name)
			} else {
				putJSON(t, store, name, map[string]any{"i": i})
			}
		}
	}()
	for i := 0; ; i++ {
		require.NoError(t, m.Reload(t.Context()))
		select {
		case <-done:
			require.Eventually(t, func() bool {
				return viewEqualsStore(t, m, store)
			}, watchTimeout, 10*time.Millisecond, "after %d reloads", i)
			return
		default:
		}
	}
}

// Reload puts in a view read before changes the watch has already applied
// to the old view: the watch must apply them again to the new one.
func TestWatchReloadOlderThanWatch(t *testing.T) {
	store := memory.New()
	require.NoError(t, store.CreateNamespace(t.Context(), "database"))
	c := newCounter(store)
	m := newWatchManagerOn(t, c)
	putJSON(t, store, "mysql", map[string]any{"v": 0})
	require.NoError(t, m.Reload(t.Context()))
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)

	hold := make(chan struct{})
	c.mu.Lock()
	c.loadHold = hold
	c.mu.Unlock()
	reloaded := make(chan error, 1)
	go func() { reloaded <- m.Reload(t.Context()) }()
	<-c.loading // Reload has read the store; it swaps the view later

	putJSON(t, store, "mysql", map[string]any{"v": 1})
	putJSON(t, store, "redis", map[string]any{"v": 1})
	store.Remove("database", "mysql")
	for ev := recvEvent(t, ch); ev.Name != "mysql" || ev.Type != confo.EventDelete; ev = recvEvent(t, ch) {
	}
	_, err = m.Get("mysql")
	require.ErrorIs(t, err, confo.ErrConfigNotFound, "the old view has the changes")

	c.mu.Lock()
	c.loadHold = nil
	c.mu.Unlock()
	close(hold)
	require.NoError(t, <-reloaded) // the view of before the changes is in

	rev := putJSON(t, store, "barrier", map[string]any{})
	for ev := recvEvent(t, ch); ev.Revision != rev; ev = recvEvent(t, ch) {
	}
	requireViewEqualsStore(t, m, store)
	_, err = m.Get("mysql")
	require.ErrorIs(t, err, confo.ErrConfigNotFound)
}
