package confo_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// The tests of this file hold the cases that the namespace owner (view.go)
// was built for: each failed on the core before it, where one map entry with
// a dirty flag held both the store's state and the local edit.

// waitValue waits until m's view of name has field k equal to want.
func waitValue(t testing.TB, m *confo.Manager, name, k string, want any) {
	t.Helper()
	eventually(t, name+"."+k+" reaches the view", func() bool {
		got, err := m.GetField(name, k)
		return err == nil && got == want
	})
}

// Case 1: a read-modify-write under Watch cannot lose another writer's
// update, through Update or through GetRevision + SetIf.
func TestOwnerNoLostUpdateUnderWatch(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	require.NoError(t, store.CreateNamespace(ctx, "database"))
	a := newWatchManagerOn(t, sharedMem{store})
	b := newWatchManagerOn(t, sharedMem{store})
	require.NoError(t, a.Set("counter", map[string]any{"n": 1}))
	require.NoError(t, a.Persist(ctx))
	_, err := a.Watch(ctx, "database")
	require.NoError(t, err)

	t.Run("SetIf", func(t *testing.T) {
		old, rev, err := a.GetRevision("counter") // a form shows it
		require.NoError(t, err)
		require.NoError(t, b.Reload(ctx))
		require.NoError(t, b.SetField("counter", "n", 100))
		require.NoError(t, b.Persist(ctx))
		waitValue(t, a, "counter", "n", int64(100)) // the watch moved the view

		old["n"] = old["n"].(int64) + 1
		err = a.SetIf("counter", old, rev)
		require.ErrorIs(t, err, confo.ErrConflict, "the view moved since the read")
		got, err := a.GetField("counter", "n")
		require.NoError(t, err)
		assert.Equal(t, int64(100), got, "nothing changed")
	})

	t.Run("Update", func(t *testing.T) {
		// fn saw the value the view held; another writer's change lands
		// before the Persist: the Persist conflicts instead of losing it.
		require.NoError(t, a.Update("counter", func(old map[string]any) (map[string]any, error) {
			old["n"] = old["n"].(int64) + 1
			return old, nil
		}))
		require.NoError(t, b.Reload(ctx))
		require.NoError(t, b.SetField("counter", "n", 500))
		require.NoError(t, b.Persist(ctx))
		err := a.Persist(ctx)
		require.ErrorIs(t, err, confo.ErrConflict, "B's write is not overwritten")
		assert.Equal(t, int64(500), storeView(t, store, "database")["counter"]["n"])

		// After a Reload, the same Update is based on B's value.
		require.NoError(t, a.Reload(ctx))
		require.NoError(t, a.Update("counter", func(old map[string]any) (map[string]any, error) {
			old["n"] = old["n"].(int64) + 1
			return old, nil
		}))
		require.NoError(t, a.Persist(ctx))
		assert.Equal(t, int64(501), storeView(t, store, "database")["counter"]["n"])
	})
}

// sharedMem is a memory store that a manager's Close leaves open, with its
// optional interfaces.
type sharedMem struct{ *memory.Backend }

func (sharedMem) Close() error { return nil }

// slowReply commits to the store at once but holds the reply until
// release is closed.
type slowReply struct {
	*memory.Backend
	committed chan struct{}
	release   chan struct{}
}

func (s slowReply) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	revs, err := s.Backend.Commit(ctx, ns, ops)
	close(s.committed)
	<-s.release
	return revs, err
}

func (slowReply) Close() error { return nil }

// Case 2: a watching view is never left stale by its own slow commit: the
// watch advances the store's state while the commit is in flight, and the
// commit's older revision does not move it back.
func TestOwnerSlowCommitNeverStale(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	require.NoError(t, store.CreateNamespace(ctx, "database"))
	slow := slowReply{Backend: store, committed: make(chan struct{}), release: make(chan struct{})}
	a := newWatchManagerOn(t, slow)
	events, err := a.Watch(ctx, "database")
	require.NoError(t, err)

	require.NoError(t, a.Set("x", map[string]any{"by": "a"}))
	done := make(chan error, 1)
	go func() { done <- a.Persist(ctx) }()
	<-slow.committed
	putJSON(t, store, "x", map[string]any{"by": "b"}) // newer, while A's reply is slow
	ev := recvEvent(t, events)
	assert.Equal(t, "b", ev.Value["by"], "B's write is reported, A's own echo is not")
	close(slow.release)
	require.NoError(t, <-done)

	got, err := a.Get("x")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"by": "b"}, got, "the view holds the store's newest value, not A's older one")
	requireViewEqualsStore(t, a, store)
}

// Case 4: setting a configuration to what the store holds writes nothing.
func TestOwnerSetSameValueWritesNothing(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.Set("mysql", mysql()))
	require.NoError(t, m.SetField("mysql", "port", 3306))
	require.NoError(t, m.Set("redis", map[string]any{"port": 6379}))
	require.NoError(t, m.Persist(ctx))
	rec.reset()

	same := mysql()
	same["port"] = 3306
	require.NoError(t, m.Set("mysql", same), "the same value again")
	require.NoError(t, m.Set("redis", map[string]any{"port": 6380}))
	require.NoError(t, m.Set("redis", map[string]any{"port": 6379}), "changed and changed back")
	require.NoError(t, m.Persist(ctx))
	assert.Empty(t, rec.commits(), "a Persist with nothing to send makes no request")
}

// Case 5: a value read from the store is written back exactly, digits and
// all, when the user changes another field.
func TestOwnerUntouchedNumbersKeepTheirDigits(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	raw := `{"big":12345678901234567890,"neg":-9223372036854775809,"dec":0.1000000000000000055511151231257827,"huge":1e400,"x":1}`
	rec.store.Put("database", "numbers", []byte(raw))
	require.NoError(t, m.Reload(ctx))
	big, err := m.GetField("numbers", "big")
	require.NoError(t, err)
	assert.Equal(t, json.Number("12345678901234567890"), big, "GetField returns the exact digits")

	require.NoError(t, m.SetField("numbers", "x", 2))
	require.NoError(t, m.Persist(ctx))
	snap, err := rec.store.Load(ctx, "database")
	require.NoError(t, err)
	assert.Equal(t, `{"big":12345678901234567890,"dec":0.1000000000000000055511151231257827,"huge":1e400,"neg":-9223372036854775809,"x":2}`,
		string(snap.Entries["numbers"].Value), "every untouched number keeps its digits")

	type numbers struct {
		Big json.Number `json:"big"`
		X   int         `json:"x"`
	}
	var n numbers
	require.NoError(t, m.Decode("numbers", &n))
	assert.Equal(t, numbers{Big: "12345678901234567890", X: 2}, n)
}

// Case 3: the mirror holds the store's state, never local edits, and does
// not lose a configuration edited before the mirror wrote it.
func TestOwnerMirrorIsTheStore(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	sw, creds := newSwitched(t)
	seedRaw, _ := json.Marshal(map[string]any{"host": "stored"})
	sw.store.Put("app", "db", seedRaw)

	m, err := mirrorManager(t, dir, creds)
	require.NoError(t, err)
	require.NoError(t, m.UseNamespace(ctx, "app"))
	require.NoError(t, m.SetField("db", "host", "unsaved")) // before the background write, likely
	require.NoError(t, m.Close())                           // waits for the mirror
	assert.Equal(t, `{"host":"stored"}`, mirrorFile(t, dir, "app", "db"), "the stored version, not the edit")

	sw.down.Store(true)
	m2, err := mirrorManager(t, dir, creds)
	require.ErrorIs(t, err, confo.ErrStale)
	require.ErrorIs(t, m2.UseNamespace(ctx, "app"), confo.ErrStale)
	host, err := m2.GetField("db", "host")
	require.NoError(t, err, "the mirror has the configuration")
	assert.Equal(t, "stored", host)
}

// TestOwnerSetStruct checks that Set takes any value that encodes to a JSON
// object, and refuses the rest.
func TestOwnerSetStruct(t *testing.T) {
	m, _ := newTestManager(t)
	type server struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	require.NoError(t, m.Set("s", server{Host: "h", Port: 1}))
	got, err := m.Get("s")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "h", "port": int64(1)}, got)
	require.NoError(t, m.Set("raw", json.RawMessage(`{"a":[1,2]}`)))
	for name, v := range map[string]any{"string": "x", "number": 1, "slice": []int{1}, "channel": make(chan int)} {
		err := m.Set("bad", v)
		require.ErrorIs(t, err, confo.ErrInvalidValue, name)
	}
}

// TestOwnerWatchKeepsEditAndReportsProblem checks that the store's state
// moves under a local edit (the edit stays, its Persist conflicts) and
// that a Reload reports its differences to watchers.
func TestOwnerReloadReportsDifferences(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	require.NoError(t, store.CreateNamespace(ctx, "database"))
	m := newWatchManagerOn(t, sharedMem{store})
	v, err := confo.Bind[map[string]any](ctx, m, "database", "x")
	require.NoError(t, err)
	putJSON(t, store, "x", map[string]any{"v": 1})
	require.NoError(t, m.Reload(ctx))
	deadline := time.Now().Add(10 * time.Second)
	for v.Load()["v"] != float64(1) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, float64(1), v.Load()["v"], "Bind follows a change that arrives by Reload or watch")
}
