package confo_test

import (
	"context"
	"encoding/json"
	"errors"
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

func TestOnChange(t *testing.T) {
	m, store := newWatchManager(t)
	got := make(chan confo.Event, 10)
	stop, err := m.OnChange(t.Context(), "database", func(ev confo.Event) { got <- ev })
	require.NoError(t, err)
	putJSON(t, store, "mysql", map[string]any{"port": 3306})
	select {
	case ev := <-got:
		assert.Equal(t, int64(3306), ev.Value["port"])
	case <-time.After(watchTimeout):
		t.Fatal("no callback")
	}
	stop()
	stop() // idempotent
	putJSON(t, store, "mysql", map[string]any{"port": 3307})
	putJSON(t, store, "barrier", map[string]any{})
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	putJSON(t, store, "barrier2", map[string]any{})
	recvEvent(t, ch)
	assert.Empty(t, got, "no call after stop")

	_, err = m.OnChange(t.Context(), "database", nil)
	require.ErrorIs(t, err, confo.ErrInvalidValue)
}

func TestBind(t *testing.T) {
	type mysqlConfig struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	m, store := newWatchManager(t)
	putJSON(t, store, "mysql", map[string]any{"host": "db1", "port": 3306})
	require.NoError(t, m.Reload(t.Context()))

	v, err := confo.Bind[mysqlConfig](t.Context(), m, "database", "mysql")
	require.NoError(t, err)
	assert.Equal(t, mysqlConfig{Host: "db1", Port: 3306}, v.Load())

	putJSON(t, store, "other", map[string]any{"host": "nope"})
	putJSON(t, store, "mysql", map[string]any{"host": "db2", "port": 3307})
	require.Eventually(t, func() bool { return v.Load().Host == "db2" }, watchTimeout, time.Millisecond)
	assert.Equal(t, 3307, v.Load().Port)

	putJSON(t, store, "mysql", map[string]any{"port": "not a number"})
	require.Eventually(t, func() bool { return v.Err() != nil }, watchTimeout, time.Millisecond)
	assert.Equal(t, mysqlConfig{Host: "db2", Port: 3307}, v.Load(), "the last good value stays")

	store.Remove("database", "mysql")
	require.Eventually(t, func() bool { return v.Load() == mysqlConfig{} }, watchTimeout, time.Millisecond)
	assert.NoError(t, v.Err())

	missing, err := confo.Bind[mysqlConfig](t.Context(), m, "database", "later")
	require.NoError(t, err)
	assert.Zero(t, missing.Load())
	putJSON(t, store, "later", map[string]any{"host": "db3"})
	require.Eventually(t, func() bool { return missing.Load().Host == "db3" }, watchTimeout, time.Millisecond)

	putJSON(t, store, "bad", map[string]any{"port": "x"})
	require.NoError(t, m.Reload(t.Context()))
	_, err = confo.Bind[mysqlConfig](t.Context(), m, "database", "bad")
	require.Error(t, err)
	_, err = confo.Bind[mysqlConfig](t.Context(), m, "database", "a/b")
	require.ErrorIs(t, err, confo.ErrInvalidName)
}

func TestEventTypeString(t *testing.T) {
	assert.Equal(t, "put", confo.EventPut.String())
	assert.Equal(t, "delete", confo.EventDelete.String())
	assert.Equal(t, "EventType(0)", confo.EventType(0).String())
}
