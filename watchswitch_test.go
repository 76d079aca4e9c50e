package confo_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// pausingBackend is a memory store whose first Unwrap, the Manager's check
// that it can watch, waits for release: a test switches the active
// backend meanwhile.
type pausingBackend struct {
	*memory.Backend
	once             sync.Once
	entered, release chan struct{}
}

func (p *pausingBackend) Unwrap() confo.Backend {
	p.once.Do(func() {
		close(p.entered)
		<-p.release
	})
	return p.Backend
}

// TestWatchFollowsTheBackendItLoaded: when ActivateBackend runs while
// Watch starts, the watch follows the store of the backend the namespace
// was loaded from, not the one that was active when Watch was called.
func TestWatchFollowsTheBackendItLoaded(t *testing.T) {
	ctx := t.Context()
	a := &pausingBackend{Backend: memory.New(), entered: make(chan struct{}), release: make(chan struct{})}
	b := memory.New()
	for _, s := range []*memory.Backend{a.Backend, b} {
		require.NoError(t, s.CreateNamespace(ctx, "app"))
	}
	m := confo.New()
	defer m.Close()
	require.NoError(t, m.AddBackend("a", a))
	require.NoError(t, m.AddBackend("b", b))
	require.NoError(t, m.ActivateBackend("a"))

	type result struct {
		events <-chan confo.Event
		err    error
	}
	started := make(chan result, 1)
	go func() {
		events, err := m.Watch(ctx, "app")
		started <- result{events, err}
	}()
	<-a.entered
	require.NoError(t, m.ActivateBackend("b"))
	close(a.release)
	r := <-started
	require.NoError(t, r.err)

	b.Put("app", "db", []byte(`{"host":"b"}`))
	select {
	case ev := <-r.events:
		require.Equal(t, "db", ev.Name)
		require.Equal(t, map[string]any{"host": "b"}, ev.Value)
	case <-time.After(10 * time.Second):
		t.Fatal("no event from the store of backend b, whose namespace the watch feeds")
	}
}
