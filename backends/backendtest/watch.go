package backendtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// watchTimeout bounds every wait for a watch to report something.
const watchTimeout = 10 * time.Second

// testWatch checks a backend that implements confo.Watcher, and that
// Manager.Watch is errors.ErrUnsupported on one that does not.
func (s *suite) testWatch(t *testing.T) {
	store := newStore(t)
	b := s.open(t, store)
	if _, ok := b.(confo.Watcher); !ok {
		m := newManager(t, s.openUnclosed(t, store))
		require.NoError(t, m.CreateNamespace(t.Context(), "ns"))
		_, err := m.Watch(t.Context(), "ns")
		require.ErrorIs(t, err, errors.ErrUnsupported, "%T does not implement confo.Watcher", b)
		return
	}
	t.Run("Backend", s.testBackendWatch)
	t.Run("BackendMissingNamespace", s.testBackendWatchMissing)
	t.Run("Manager", s.testManagerWatch)
}

// nextChange reads batches from ch until one holds a change of name with
// revision rev (any revision if rev is 0), and returns it.
func nextChange(t testing.TB, ch <-chan confo.WatchBatch, name string, rev int64) confo.Change {
	t.Helper()
	timeout := time.After(watchTimeout)
	var seen []string
	for {
		select {
		case batch, ok := <-ch:
			require.True(t, ok, "watch closed waiting for %q; seen: %v", name, seen)
			require.NoError(t, batch.Err)
			for _, c := range batch.Changes {
				if c.Name == name && (rev == 0 || c.Revision == rev) {
					return c
				}
				seen = append(seen, fmt.Sprintf("%s@%d", c.Name, c.Revision))
			}
		case <-timeout:
			require.FailNow(t, fmt.Sprintf("no change of %s at revision %d within %s; seen: %v", name, rev, watchTimeout, seen))
		}
	}
}

func (s *suite) testBackendWatch(t *testing.T) {
	store := newStore(t)
	watcher, writer := s.open(t, store), s.open(t, store)
	const ns = "ns"
	require.NoError(t, writer.CreateNamespace(t.Context(), ns))
	commit(t, writer, ns, put("before", `{"v":0}`, 0))
	snap, err := watcher.Load(t.Context(), ns)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := watcher.(confo.Watcher).Watch(ctx, ns, snap.Revision)
	require.NoError(t, err)

	rev := commit(t, writer, ns, put("mysql", `{"port":3306}`, 0))[0]
	c := nextChange(t, ch, "mysql", rev)
	assert.JSONEq(t, `{"port":3306}`, string(c.Value))
	e := load(t, watcher, ns)["mysql"]
	assert.Equal(t, e.Revision, c.Revision, "a put's revision is the one Load reports")

	commit(t, writer, ns, del("mysql", rev))
	c = nextChange(t, ch, "mysql", 0)
	assert.Nil(t, c.Value, "a delete")

	cancel()
	timeout := time.After(watchTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			require.FailNow(t, "the watch channel is not closed after its ctx is done")
		}
	}
}

func (s *suite) testBackendWatchMissing(t *testing.T) {
	b := s.open(t, newStore(t))
	_, err := b.(confo.Watcher).Watch(t.Context(), "missing", 0)
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
}

// nextEvent returns the next event from ch, which must be about name.
func nextEvent(t testing.TB, ch <-chan confo.Event, name string) confo.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch closed waiting for %q", name)
		require.Equal(t, name, ev.Name, "next event: %+v", ev)
		return ev
	case <-time.After(watchTimeout):
		require.FailNow(t, "no event about "+name+" within "+watchTimeout.String())
	}
	return confo.Event{}
}

func (s *suite) testManagerWatch(t *testing.T) {
	store := newStore(t)
	m1 := s.managerOn(t, store, "ns")
	require.NoError(t, m1.Set("before", map[string]any{"v": 0}))
	require.NoError(t, m1.Persist(t.Context()))
	m2 := s.managerOn(t, store, "ns")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := m1.Watch(ctx, "ns")
	require.NoError(t, err)

	value := map[string]any{"host": "db1", "port": int64(3306)}
	require.NoError(t, m2.Set("mysql", value))
	require.NoError(t, m2.Persist(t.Context()))
	ev := nextEvent(t, ch, "mysql")
	assert.Equal(t, confo.EventPut, ev.Type)
	assert.Equal(t, "ns", ev.Namespace)
	assert.Equal(t, value, ev.Value)
	got, err := m1.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, value, got, "the view holds the change before the event")

	// Its own Persist is not reported; the other's delete is.
	require.NoError(t, m1.Set("own", map[string]any{}))
	require.NoError(t, m1.Persist(t.Context()))
	require.NoError(t, m2.Delete("mysql"))
	require.NoError(t, m2.Persist(t.Context()))
	ev = nextEvent(t, ch, "mysql")
	assert.Equal(t, confo.EventDelete, ev.Type)
	_, err = m1.Get("mysql")
	assert.ErrorIs(t, err, confo.ErrConfigNotFound)

	cancel()
	select {
	case _, ok := <-ch:
		assert.False(t, ok, "no event after the ctx is done")
	case <-time.After(watchTimeout):
		require.FailNow(t, "the channel is not closed after its ctx is done")
	}
}
