package confo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// counter is a Backend and Watcher over a memory store that counts backend
// watches and can hold back their batches, as a slow network would.
type counter struct {
	*memory.Backend
	watches  atomic.Int32  // backend watches started
	attempts atomic.Int32  // backend watches asked for
	loading  chan struct{} // receives when a held Load has read the store
	mu       sync.Mutex
	loadHold chan struct{}
	held     bool
	release  chan struct{}
}

var _ confo.Watcher = (*counter)(nil)

func newCounter(store *memory.Backend) *counter {
	return &counter{Backend: store, release: make(chan struct{}), loading: make(chan struct{})}
}

// hold makes batches wait until the returned func is called.
func (c *counter) hold() (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = true
	c.release = make(chan struct{})
	ch := c.release
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.held = false
		close(ch)
	}
}

func (c *counter) wait(ctx context.Context) bool {
	c.mu.Lock()
	held, ch := c.held, c.release
	c.mu.Unlock()
	if !held {
		return true
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// Load forwards to the memory store; while loadHold is set, it returns
// only once loadHold is closed, after reading the store.
func (c *counter) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	snap, err := c.Backend.Load(ctx, ns)
	c.mu.Lock()
	hold := c.loadHold
	c.mu.Unlock()
	if hold != nil {
		c.loading <- struct{}{}
		<-hold
	}
	return snap, err
}

// Watch forwards to the memory store, relaying each batch once not held.
func (c *counter) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	c.attempts.Add(1)
	in, err := c.Backend.Watch(ctx, ns, afterRev)
	if err != nil {
		return nil, err
	}
	c.watches.Add(1)
	out := make(chan confo.WatchBatch)
	go func() {
		defer close(out)
		for b := range in {
			if !c.wait(ctx) {
				continue // drain until the store closes in
			}
			select {
			case out <- b:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

func TestWatchCoalescesSlowReceiver(t *testing.T) {
	m, store := newWatchManager(t)
	slow, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	fast, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)

	const names, writes = 20, 2000
	final := make(map[string]map[string]any)
	finalRev := make(map[string]int64)
	var lastRev int64
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range writes {
		name := fmt.Sprintf("cfg%02d", rng.IntN(names))
		value := map[string]any{"i": int64(i)}
		lastRev = putJSON(t, store, name, value)
		final[name], finalRev[name] = value, lastRev
	}

	// The fast receiver keeps up; the writer was never blocked by the slow
	// one, which has read nothing so far.
	seenFast := drainUntil(t, fast, final, lastRev)
	seenSlow := drainUntil(t, slow, final, lastRev)
	assert.Equal(t, final, seenSlow.values, "the slow receiver ends at the final state")
	assert.Equal(t, final, seenFast.values)
	assert.LessOrEqual(t, seenSlow.count, 2*names, "a slow receiver gets the changes coalesced")
	for name, rev := range finalRev {
		assert.Equal(t, rev, seenSlow.revs[name], name)
	}
	all, err := m.GetAll()
	require.NoError(t, err)
	assert.Equal(t, final, all)
}

type drained struct {
	values map[string]map[string]any
	revs   map[string]int64
	count  int
}

// drainUntil reads events until it has seen one of revision last and every
// configuration of want, and checks they come in revision order.
func drainUntil(t testing.TB, ch <-chan confo.Event, want map[string]map[string]any, last int64) drained {
	t.Helper()
	d := drained{values: make(map[string]map[string]any), revs: make(map[string]int64)}
	var prev int64
	for {
		ev := recvEvent(t, ch)
		d.count++
		require.Greater(t, ev.Revision, prev, "events in revision order")
		prev = ev.Revision
		d.values[ev.Name], d.revs[ev.Name] = ev.Value, ev.Revision
		if ev.Revision == last && len(d.values) == len(want) {
			return d
		}
	}
}

func TestWatchSharesOneBackendWatch(t *testing.T) {
	store := memory.New()
	require.NoError(t, store.CreateNamespace(t.Context(), "database"))
	c := newCounter(store)
	m := newWatchManagerOn(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	var chans []<-chan confo.Event
	for range 5 {
		ch, err := m.Watch(ctx, "database")
		require.NoError(t, err)
		chans = append(chans, ch)
	}
	putJSON(t, store, "mysql", map[string]any{})
	for _, ch := range chans {
		assert.Equal(t, "mysql", recvEvent(t, ch).Name)
	}
	assert.EqualValues(t, 1, c.watches.Load())
	cancel()
	for _, ch := range chans {
		requireClosed(t, ch)
	}
	// the last receiver stopped the backend watch: a new one starts anew
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	putJSON(t, store, "mysql", map[string]any{"v": 2})
	assert.Equal(t, int64(2), recvEvent(t, ch).Value["v"])
	assert.EqualValues(t, 2, c.watches.Load())
}

func TestWatchStopsCleanly(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		m, store := newWatchManager(t)
		ctx, cancel := context.WithCancel(t.Context())
		ch, err := m.Watch(ctx, "database")
		require.NoError(t, err)
		ctx2, cancel2 := context.WithCancel(t.Context())
		ch2, err := m.Watch(ctx2, "database")
		require.NoError(t, err)
		putJSON(t, store, "mysql", map[string]any{})
		recvEvent(t, ch)
		cancel() // not drained: the receiver's goroutine must not stick
		requireClosed(t, ch)
		putJSON(t, store, "mysql", map[string]any{"v": 2})
		for ev := recvEvent(t, ch2); ev.Value["v"] != int64(2); ev = recvEvent(t, ch2) {
		}
		cancel2()
		requireClosed(t, ch2)
		require.NoError(t, m.Close())
	})
	t.Run("close", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		m, store := newWatchManager(t)
		ch, err := m.Watch(t.Context(), "database")
		require.NoError(t, err)
		stop, err := m.OnChange(t.Context(), "database", func(confo.Event) {})
		require.NoError(t, err)
		defer stop()
		v, err := confo.Bind[map[string]any](t.Context(), m, "database", "mysql")
		require.NoError(t, err)
		putJSON(t, store, "mysql", map[string]any{})
		putJSON(t, store, "other", map[string]any{})
		require.NoError(t, m.Close())
		requireClosed(t, ch) // closed by Close, events left unread
		<-v.Done()
		_, err = m.Watch(t.Context(), "database")
		require.ErrorIs(t, err, confo.ErrClosed)
	})
	t.Run("backend closed under the watch", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		store := memory.New()
		require.NoError(t, store.CreateNamespace(t.Context(), "database"))
		c := newCounter(store)
		m := newWatchManagerOn(t, c)
		ch, err := m.Watch(t.Context(), "database")
		require.NoError(t, err)
		require.NoError(t, store.Close()) // every new backend watch fails now
		time.Sleep(time.Second)
		// With backoff doubling from 50ms, a second holds about 5 attempts;
		// without it there would be thousands.
		assert.Less(t, c.attempts.Load(), int32(15), "the watch backs off")
		assert.Greater(t, c.attempts.Load(), int32(1), "the watch retries")
		require.NoError(t, m.Close())
		requireClosed(t, ch)
	})
}
