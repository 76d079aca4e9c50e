package confo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// unreachableKind is a backend type whose store is a shared memory store
// behind a switch: while the switch is down, opening it fails as a dial to
// a stopped server does. Once opened, the store answers.
const unreachableKind confo.BackendType = "test-unreachable"

var errDial = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

// switched is a memory store and its switch.
type switched struct {
	store *memory.Backend
	down  atomic.Bool
	opens atomic.Int64 // attempts to open
}

var switchedStores sync.Map // name -> *switched

func init() {
	confo.Register(unreachableKind, func(ctx context.Context, creds confo.Credentials) (confo.Backend, error) {
		s, ok := switchedStores.Load(creds["store"])
		if !ok {
			return nil, fmt.Errorf("%w: unknown store", confo.ErrInvalidCredentials)
		}
		sw := s.(*switched)
		sw.opens.Add(1)
		if sw.down.Load() {
			return nil, fmt.Errorf("connect: %w", errDial)
		}
		return keepOpen{sw.store, sw}, nil
	})
}

// keepOpen is a memory store that a manager's Close leaves open, so that
// several managers can share it in turn. While its switch is down, Load
// fails as a request to a stopped server does.
type keepOpen struct {
	*memory.Backend
	sw *switched
}

func (keepOpen) Close() error { return nil }

func (k keepOpen) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	if k.sw.down.Load() {
		return confo.Snapshot{}, fmt.Errorf("load %q: %w", ns, errDial)
	}
	return k.Backend.Load(ctx, ns)
}

// newSwitched returns a shared memory store holding namespace "app", and
// the credentials that open it.
func newSwitched(t testing.TB) (*switched, confo.Credentials) {
	t.Helper()
	s := &switched{store: memory.New()}
	require.NoError(t, s.store.CreateNamespace(t.Context(), "app"))
	switchedStores.Store(t.Name(), s)
	t.Cleanup(func() { switchedStores.Delete(t.Name()) })
	return s, confo.Credentials{"store": t.Name()}
}

// mirrorManager returns a manager with a mirror in dir and the switched
// store loaded as "prod" and activated; the error is LoadBackend's.
func mirrorManager(t testing.TB, dir string, creds confo.Credentials) (*confo.Manager, error) {
	t.Helper()
	m := confo.New(confo.WithMirror(dir))
	t.Cleanup(func() { m.Close() })
	err := m.LoadBackend(t.Context(), "prod", unreachableKind, creds)
	if err == nil || errors.Is(err, confo.ErrStale) {
		require.NoError(t, m.ActivateBackend("prod"))
	}
	return m, err
}

// mirrorManagerUsing is mirrorManager for a store that answers, with
// namespace ns in use.
func mirrorManagerUsing(t testing.TB, dir string, creds confo.Credentials, ns string) *confo.Manager {
	t.Helper()
	m, err := mirrorManager(t, dir, creds)
	require.NoError(t, err)
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// mirrorEarlierRun is a run of a service before the one under test: with
// the store up, it persists configuration db = {"host":"a"} of namespace
// app, which its Close waits to see mirrored in dir.
func mirrorEarlierRun(t testing.TB, dir string, creds confo.Credentials) {
	t.Helper()
	m := mirrorManagerUsing(t, dir, creds, "app")
	require.NoError(t, m.Set("db", map[string]any{"host": "a"}))
	require.NoError(t, m.Persist(t.Context()))
	require.NoError(t, m.Close())
}

// mirrorFile returns the content of a file of the mirror, "" if missing.
func mirrorFile(t testing.TB, dir, ns, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "prod", ns, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	return string(raw)
}

// eventually polls cond every 10 ms until it holds or 10 s have passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMirrorLastKnownGood(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := t.Context()
	dir := t.TempDir()
	s, creds := newSwitched(t)

	// An earlier run: loads, persists, deletes; Close waits for the mirror.
	m1 := mirrorManagerUsing(t, dir, creds, "app")
	require.NoError(t, m1.Set("db", map[string]any{"host": "a", "port": 5432}))
	require.NoError(t, m1.Set("cache", map[string]any{"ttl": 30}))
	require.NoError(t, m1.Set("old", map[string]any{}))
	require.NoError(t, m1.Persist(ctx))
	eventually(t, "the mirror has cache", func() bool { return mirrorFile(t, dir, "app", "cache") != "" })
	require.NoError(t, m1.Delete("old"))
	require.NoError(t, m1.SetField("cache", "ttl", 60)) // unsaved: not mirrored
	require.NoError(t, m1.PersistConfig(ctx, "app", "old"))
	before := time.Now()
	require.NoError(t, m1.Close())

	assert.JSONEq(t, `{"host":"a","port":5432}`, mirrorFile(t, dir, "app", "db"))
	assert.JSONEq(t, `{"ttl":30}`, mirrorFile(t, dir, "app", "cache"), "the stored version, not the unsaved one")
	assert.Empty(t, mirrorFile(t, dir, "app", "old"), "deleted from the mirror")
	fi, err := os.Stat(filepath.Join(dir, "prod", "app", "db.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	leftovers, err := filepath.Glob(filepath.Join(dir, "prod", "app", ".confo-*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers)

	// The store goes down; the service starts again.
	s.down.Store(true)
	m2, err := mirrorManager(t, dir, creds)
	require.ErrorIs(t, err, confo.ErrStale, "LoadBackend says the store did not answer")
	require.ErrorIs(t, err, errDial)
	assert.Contains(t, err.Error(), `"prod"`)
	_, err = m2.Backend("prod")
	require.ErrorIs(t, err, confo.ErrStale)

	err = m2.UseNamespace(ctx, "app")
	var stale *confo.StaleError
	require.ErrorAs(t, err, &stale)
	require.ErrorIs(t, err, confo.ErrStale)
	require.ErrorIs(t, err, errDial, "the store's error is kept")
	assert.Equal(t, "prod", stale.Backend)
	assert.Equal(t, "app", stale.Namespace)
	assert.WithinRange(t, stale.Since, before.Add(-time.Minute), before.Add(time.Second))
	assert.Contains(t, err.Error(), "stale")
	assert.Contains(t, err.Error(), stale.Since.UTC().Format(time.RFC3339), "says since when")
	assert.Equal(t, "app", m2.Namespace())

	// Reads work.
	all, err := m2.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{
		"db":    {"host": "a", "port": int64(5432)},
		"cache": {"ttl": int64(30)},
	}, all)
	host, err := m2.GetField("db", "host")
	require.NoError(t, err)
	assert.Equal(t, "a", host)
	// Writes do not.
	require.ErrorIs(t, m2.Set("db", map[string]any{"host": "b"}), confo.ErrStale)
	require.ErrorIs(t, m2.SetField("db", "host", "b"), confo.ErrStale)
	require.ErrorIs(t, m2.Delete("db"), confo.ErrStale)
	require.ErrorIs(t, m2.Persist(ctx), confo.ErrStale)
	require.ErrorIs(t, m2.PersistNamespace(ctx, "app"), confo.ErrStale)
	require.ErrorIs(t, m2.UseNamespace(ctx, "app"), confo.ErrStale, "using it again still says so")
	// A namespace the mirror does not have is the store's error.
	err = m2.UseNamespace(ctx, "other")
	require.ErrorIs(t, err, errDial)
	require.NotErrorIs(t, err, confo.ErrStale)

	// Meanwhile another writer changed the store.
	s.store.Put("app", "db", []byte(`{"host":"c","port":5432}`))
	s.store.Remove("app", "cache")

	// The store answers again: the view catches up, writes work.
	opens := s.opens.Load()
	s.down.Store(false)
	eventually(t, "the view catches up", func() bool {
		h, err := m2.GetField("db", "host")
		return err == nil && h == "c"
	})
	assert.Greater(t, s.opens.Load(), opens)
	_, err = m2.Get("cache")
	require.ErrorIs(t, err, confo.ErrConfigNotFound)
	require.NoError(t, m2.UseNamespace(ctx, "app"))
	require.NoError(t, m2.SetField("db", "port", 6543))
	require.NoError(t, m2.Persist(ctx))
	snap, err := s.store.Load(ctx, "app")
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"c","port":6543}`, string(snap.Entries["db"].Value))
	b, err := m2.Backend("prod")
	require.NoError(t, err)
	assert.IsType(t, keepOpen{}, b, "the opened backend, not a stand-in")
	eventually(t, "the mirror follows", func() bool {
		return mirrorFile(t, dir, "app", "cache") == "" && mirrorFile(t, dir, "app", "db") == `{"host":"c","port":6543}`
	})
	require.NoError(t, m2.Close())
}

// TestMirrorCloseWhileStale closes a manager while the store is still down:
// the catch-up goroutine ends.
func TestMirrorCloseWhileStale(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := t.Context()
	dir := t.TempDir()
	s, creds := newSwitched(t)
	mirrorEarlierRun(t, dir, creds)

	s.down.Store(true)
	m2, err := mirrorManager(t, dir, creds)
	require.ErrorIs(t, err, confo.ErrStale)
	require.ErrorIs(t, m2.UseNamespace(ctx, "app"), confo.ErrStale)
	eventually(t, "a catch-up attempt", func() bool { return s.opens.Load() >= 3 })
	require.NoError(t, m2.Close())
	_, err = m2.Get("db")
	require.ErrorIs(t, err, confo.ErrClosed)
}

// TestMirrorFollowsTheStore checks that what the manager receives by watch
// and by Reload reaches the mirror, and that Rollback does.
func TestMirrorFollowsTheStore(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := t.Context()
	dir := t.TempDir()
	s, creds := newSwitched(t)
	m := mirrorManagerUsing(t, dir, creds, "app")

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := m.Watch(wctx, "app")
	require.NoError(t, err)
	rev := s.store.Put("app", "db", []byte(`{"host":"w"}`))
	recvEvent(t, events)
	eventually(t, "a watched change is mirrored", func() bool { return mirrorFile(t, dir, "app", "db") == `{"host":"w"}` })
	cancel()
	for range events {
	}

	s.store.Put("app", "db", []byte(`{"host":"r"}`))
	s.store.Put("app", "extra", []byte(`{"n":1}`))
	require.NoError(t, m.Reload(ctx))
	eventually(t, "a reloaded change is mirrored", func() bool {
		return mirrorFile(t, dir, "app", "db") == `{"host":"r"}` && mirrorFile(t, dir, "app", "extra") == `{"n":1}`
	})

	require.NoError(t, m.Rollback(ctx, "app", "db", rev))
	eventually(t, "a rollback is mirrored", func() bool { return mirrorFile(t, dir, "app", "db") == `{"host":"w"}` })

	var meta struct {
		Revision       int64            `json:"revision"`
		Configurations map[string]int64 `json:"configurations"`
	}
	require.NoError(t, m.Close())
	raw, err := os.ReadFile(filepath.Join(dir, "prod", "app", ".confo-mirror"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &meta))
	snap, err := s.store.Load(ctx, "app")
	require.NoError(t, err)
	assert.Equal(t, snap.Entries["db"].Revision, meta.Configurations["db"])
	assert.Equal(t, snap.Entries["extra"].Revision, meta.Configurations["extra"])
}

// TestMirrorNoFallback checks what the mirror does not hide: bad
// credentials, a missing namespace, an invalid backend name.
func TestMirrorNoFallback(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, creds := newSwitched(t)
	mirrorEarlierRun(t, dir, creds)

	t.Run("InvalidCredentials", func(t *testing.T) {
		m := confo.New(confo.WithMirror(dir))
		defer m.Close()
		err := m.LoadBackend(ctx, "prod", unreachableKind, confo.Credentials{"store": "nope"})
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		require.NotErrorIs(t, err, confo.ErrStale)
		assert.Empty(t, m.GetBackends().All, "not registered")
	})
	t.Run("NamespaceNotFound", func(t *testing.T) {
		m, err := mirrorManager(t, dir, creds)
		require.NoError(t, err)
		s.store.Put("gone", "x", []byte(`{}`)) // another namespace exists
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "prod", "missing"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "prod", "missing", ".confo-mirror"), []byte(`{"configurations":{}}`), 0o600))
		err = m.UseNamespace(ctx, "missing")
		require.ErrorIs(t, err, confo.ErrNamespaceNotFound, "the store answered: no fallback")
		require.NotErrorIs(t, err, confo.ErrStale)
	})
	t.Run("BackendName", func(t *testing.T) {
		m := confo.New(confo.WithMirror(dir))
		defer m.Close()
		require.ErrorIs(t, m.LoadBackend(ctx, "a/b", unreachableKind, creds), confo.ErrInvalidName)
		require.ErrorIs(t, m.AddBackend("..", memory.New()), confo.ErrInvalidName)
	})
}

// TestMirrorStoreDownAfterOpen opens the backend while the store answers,
// then loses it before the namespace is used: UseNamespace serves the
// mirror, and the view catches up when the store is back.
func TestMirrorStoreDownAfterOpen(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := t.Context()
	dir := t.TempDir()
	s, creds := newSwitched(t)
	mirrorEarlierRun(t, dir, creds)

	m2, err := mirrorManager(t, dir, creds)
	require.NoError(t, err, "the store answers at LoadBackend")
	s.down.Store(true)
	err = m2.UseNamespace(ctx, "app")
	require.ErrorIs(t, err, confo.ErrStale)
	require.ErrorIs(t, err, errDial)
	n, err := m2.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var got struct{ Host string }
	require.NoError(t, m2.Decode("db", &got))
	assert.Equal(t, "a", got.Host)
	require.ErrorIs(t, m2.Rollback(ctx, "app", "db", 1), confo.ErrStale)

	s.store.Put("app", "db", []byte(`{"host":"b"}`))
	s.down.Store(false)
	eventually(t, "the view catches up", func() bool { return m2.UseNamespace(ctx, "app") == nil })
	host, err := m2.GetField("db", "host")
	require.NoError(t, err)
	assert.Equal(t, "b", host)
	require.NoError(t, m2.Close())
}

// TestMirrorConcurrent persists from several goroutines while another
// writer changes the store under a watch; after Reload and Close the
// mirror holds exactly what the store holds.
func TestMirrorConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := t.Context()
	dir := t.TempDir()
	s, creds := newSwitched(t)
	m := mirrorManagerUsing(t, dir, creds, "app")
	wctx, cancel := context.WithCancel(ctx)
	events, err := m.Watch(wctx, "app")
	require.NoError(t, err)
	go func() {
		for range events {
		}
	}()

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("local-%d-%d", w, i%5)
				if err := m.Set(name, map[string]any{"i": i}); err != nil {
					t.Error(err)
					return
				}
				err := m.PersistConfig(ctx, "app", name)
				if err != nil && !errors.Is(err, confo.ErrConflict) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			name := fmt.Sprintf("remote-%d", i%7)
			if i%3 == 2 {
				s.store.Remove("app", name)
			} else {
				s.store.Put("app", name, fmt.Appendf(nil, `{"i":%d}`, i))
			}
		}
	})
	wg.Wait()
	cancel()
	require.NoError(t, m.Reload(ctx))
	require.NoError(t, m.Close())

	snap, err := s.store.Load(ctx, "app")
	require.NoError(t, err)
	want := make(map[string]string)
	for name, e := range snap.Entries {
		want[name] = string(e.Value)
	}
	got := make(map[string]string)
	files, err := filepath.Glob(filepath.Join(dir, "prod", "app", "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		got[strings.TrimSuffix(filepath.Base(f), ".json")] = string(raw)
	}
	assert.Equal(t, want, got)
}
