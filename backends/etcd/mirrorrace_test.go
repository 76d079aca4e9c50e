package etcd_test

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// gatedBackend is the etcd backend with two test controls below the
// mirror: its watch can be held (batches are kept, and passed on one at a
// time by step or all by resume), and a hook runs after a Commit succeeds,
// before its reply goes up.
type gatedBackend struct {
	*etcd.Backend
	mu       sync.Mutex
	held     bool
	tokens   int           // batches step let through while held
	wake     chan struct{} // closed when held or tokens change
	passed   atomic.Int64  // batches passed on
	onCommit atomic.Pointer[func(revs []int64)]
}

func newGatedBackend(t *testing.T, endpoints []string, prefix string) *gatedBackend {
	b, err := etcd.New(t.Context(), etcd.Config{Endpoints: endpoints, Prefix: prefix})
	require.NoError(t, err)
	return &gatedBackend{Backend: b, wake: make(chan struct{})}
}

func (g *gatedBackend) set(change func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	change()
	close(g.wake)
	g.wake = make(chan struct{})
}

// hold keeps the watch's batches from now on.
func (g *gatedBackend) hold() { g.set(func() { g.held, g.tokens = true, 0 }) }

// resume passes on the batches held, and every batch after them.
func (g *gatedBackend) resume() { g.set(func() { g.held = false }) }

// step lets one more batch through while held.
func (g *gatedBackend) step() { g.set(func() { g.tokens++ }) }

// pass waits until a batch may pass; false if ctx ended first.
func (g *gatedBackend) pass(ctx context.Context) bool {
	for {
		g.mu.Lock()
		if !g.held {
			g.mu.Unlock()
			return true
		}
		if g.tokens > 0 {
			g.tokens--
			g.mu.Unlock()
			return true
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// Watch forwards the store's watch through the gate.
func (g *gatedBackend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	in, err := g.Backend.Watch(ctx, ns, afterRev)
	if err != nil {
		return nil, err
	}
	out := make(chan confo.WatchBatch)
	go func() {
		defer close(out)
		for b := range in {
			if !g.pass(ctx) {
				return
			}
			select {
			case out <- b:
				g.passed.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Commit commits, then runs the hook, if any, before returning.
func (g *gatedBackend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	revs, err := g.Backend.Commit(ctx, ns, ops)
	if f := g.onCommit.Swap(nil); err == nil && f != nil {
		(*f)(revs)
	}
	return revs, err
}

// awaitGeneration polls the mirror until ok accepts its current generation,
// for at most d, and returns the last generation read.
func awaitGeneration(t *testing.T, dir string, d time.Duration, ok func(mirrorGeneration) bool) (mirrorGeneration, bool) {
	t.Helper()
	var last mirrorGeneration
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		gen, err := readMirrorGeneration(dir)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errGenerationGone) {
			continue
		}
		require.NoError(t, err)
		last = gen
		if ok(gen) {
			return gen, true
		}
	}
	return last, false
}

// mirrorRaceManager returns a watching manager with a mirror in dir over
// g, its namespace holding x, and the revision of x.
func mirrorRaceManager(t *testing.T, g *gatedBackend, dir string) (*confo.Manager, int64) {
	ctx := t.Context()
	m := confo.New(confo.WithMirror(dir))
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend(mirrorCrashBackend, g))
	require.NoError(t, m.ActivateBackend(mirrorCrashBackend))
	require.NoError(t, m.CreateNamespace(ctx, mirrorCrashNS))
	require.NoError(t, m.UseNamespace(ctx, mirrorCrashNS))
	require.NoError(t, m.Set("x", map[string]any{"v": "first"}))
	require.NoError(t, m.Persist(ctx))
	_, rev, err := m.GetRevision("x")
	require.NoError(t, err)
	events, err := m.Watch(ctx, mirrorCrashNS)
	require.NoError(t, err)
	go func() {
		for range events {
		}
	}()
	// The watch is live once it brings a write made after it started.
	_, err = g.Client().Put(ctx, g.Key(mirrorCrashNS, "live"), `{"watch":"live"}`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := m.Get("live"); return err == nil }, 10*time.Second, 5*time.Millisecond, "the watch brings a write")
	_, ok := awaitGeneration(t, dir, 10*time.Second, func(gen mirrorGeneration) bool { return gen.revision >= rev })
	require.True(t, ok, "the mirror holds the first commit")
	return m, rev
}

// startMirrorRace starts a cluster and returns a client of it, a new key
// prefix named after name, a mirror directory, a gated backend under the
// prefix, and a manager over it from mirrorRaceManager.
func startMirrorRace(t *testing.T, name string) (cli *clientv3.Client, prefix, dir string, g *gatedBackend, m *confo.Manager) {
	t.Helper()
	c := newCluster(t)
	prefix = uniquePrefix(name)
	dir = t.TempDir()
	cli = rawClient(t, c)
	g = newGatedBackend(t, c.Endpoints(), prefix)
	m, _ = mirrorRaceManager(t, g, dir)
	return cli, prefix, dir, g, m
}

// assertStoreAt asserts that generation gen of the mirror is what the
// store under prefix held at the generation's revision.
func assertStoreAt(t *testing.T, cli *clientv3.Client, prefix string, gen mirrorGeneration, msgAndArgs ...any) {
	t.Helper()
	diffs, err := checkGeneration(t.Context(), cli, prefix, gen)
	require.NoError(t, err)
	assert.Empty(t, diffs, msgAndArgs...)
}

// TestMirrorCommitAheadOfWatch: another writer changes y at revision r1;
// before the manager's watch brings that change, the manager commits x at
// r2 > r1. The mirror must not write a generation that says "revision r2"
// without y: that is no state the store ever held.
func TestMirrorCommitAheadOfWatch(t *testing.T) {
	ctx := t.Context()
	cli, prefix, dir, g, m := startMirrorRace(t, "mirror-ahead")

	g.hold()
	put, err := cli.Put(ctx, prefix+"/"+mirrorCrashNS+"/y", `{"by":"another writer"}`)
	require.NoError(t, err)
	r1 := put.Header.Revision
	require.NoError(t, m.Set("x", map[string]any{"v": "second"}))
	require.NoError(t, m.Persist(ctx))
	_, r2, err := m.GetRevision("x")
	require.NoError(t, err)
	require.Greater(t, r2, r1)

	// While the watch is held, any generation written is the store at its
	// revision.
	gen, _ := awaitGeneration(t, dir, time.Second, func(gen mirrorGeneration) bool { return gen.revision >= r2 })
	assertStoreAt(t, cli, prefix, gen, "generation %s (revision %d), written after the commit at %d while the watch had not brought the change at %d", gen.target, gen.revision, r2, r1)

	// Once the watch catches up, the mirror reaches r2, consistently.
	g.resume()
	gen, ok := awaitGeneration(t, dir, 10*time.Second, func(gen mirrorGeneration) bool {
		_, hasY := gen.files["y"]
		return gen.revision >= r2 && hasY
	})
	require.True(t, ok, "the mirror reaches revision %d with y; last: %s at %d", r2, gen.target, gen.revision)
	assertStoreAt(t, cli, prefix, gen, "generation %s after the watch caught up", gen.target)
}

// TestMirrorCommitReplyAfterNewerWatch: the manager commits x at r1; before
// the reply reaches the mirror, another writer sets x at r2 > r1 and the
// watch brings it to the mirror. The late reply must not move the mirror's
// x back to r1 (as the view does not: a commit's revision never moves the
// state back past a newer one).
func TestMirrorCommitReplyAfterNewerWatch(t *testing.T) {
	ctx := t.Context()
	cli, prefix, dir, g, m := startMirrorRace(t, "mirror-late")

	var r2 int64
	hook := func(revs []int64) {
		put, err := cli.Put(ctx, prefix+"/"+mirrorCrashNS+"/x", `{"v":"another writer's"}`)
		if !assert.NoError(t, err) {
			return
		}
		r2 = put.Header.Revision
		_, ok := awaitGeneration(t, dir, 10*time.Second, func(gen mirrorGeneration) bool { return gen.revision >= r2 })
		assert.True(t, ok, "the watch brought revision %d to the mirror", r2)
	}
	g.onCommit.Store(&hook)
	require.NoError(t, m.Set("x", map[string]any{"v": "mine"}))
	require.NoError(t, m.Persist(ctx))
	require.NotZero(t, r2, "the commit hook ran")

	// The view ends at the other writer's x.
	assert.Eventually(t, func() bool {
		v, err := m.Get("x")
		return err == nil && v["v"] == "another writer's"
	}, 10*time.Second, 10*time.Millisecond, "the view holds the newer x")

	// Give the mirror time to write what the late reply did to it, then
	// compare it with the store.
	seen, _ := readMirrorGeneration(dir)
	gen, _ := awaitGeneration(t, dir, time.Second, func(gen mirrorGeneration) bool { return gen.target != seen.target })
	assertStoreAt(t, cli, prefix, gen, "generation %s (revision %d) after the late reply of the commit at an older revision", gen.target, gen.revision)
}

// TestMirrorDeleteOnlyCommit: a Persist that only deletes y commits at r1,
// but the backend reports no revision for a delete (0), so the mirror
// applies the delete and keeps its old revision r0: its generation says
// "revision r0" without y, a state the store never held.
func TestMirrorDeleteOnlyCommit(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	prefix := uniquePrefix("mirror-delete")
	dir := t.TempDir()
	cli := rawClient(t, c)
	m := confo.New(confo.WithMirror(dir))
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.LoadBackend(ctx, mirrorCrashBackend, confo.EtcdBackend, credsFor(c, prefix)))
	require.NoError(t, m.ActivateBackend(mirrorCrashBackend))
	require.NoError(t, m.CreateNamespace(ctx, mirrorCrashNS))
	require.NoError(t, m.UseNamespace(ctx, mirrorCrashNS))
	require.NoError(t, m.Set("x", map[string]any{"v": 1}))
	require.NoError(t, m.Set("y", map[string]any{"v": 2}))
	require.NoError(t, m.Persist(ctx))
	_, r0, err := m.GetRevision("y")
	require.NoError(t, err)
	_, ok := awaitGeneration(t, dir, 10*time.Second, func(gen mirrorGeneration) bool { return gen.revision >= r0 })
	require.True(t, ok, "the mirror holds the first commit")

	require.NoError(t, m.Delete("y"))
	require.NoError(t, m.Persist(ctx))
	gen, ok := awaitGeneration(t, dir, 10*time.Second, func(gen mirrorGeneration) bool {
		_, hasY := gen.files["y"]
		return !hasY
	})
	require.True(t, ok, "the mirror drops y")
	assertStoreAt(t, cli, prefix, gen, "generation %s (revision %d) after deleting y (which the store held at %d)", gen.target, gen.revision, r0)
}

// TestMirrorLateWatchOfOwnDeletedConfig: the manager puts z at r1 and
// deletes it at r2 (changing x in the same commit) while its watch lags; the watch then brings the put at
// r1 alone. Whatever generation the mirror then holds is the store at its
// revision (never z back at a revision after its delete), and once the
// watch catches up the mirror holds the delete.
func TestMirrorLateWatchOfOwnDeletedConfig(t *testing.T) {
	ctx := t.Context()
	cli, prefix, dir, g, m := startMirrorRace(t, "mirror-resurrect")

	g.hold()
	require.NoError(t, m.Set("z", map[string]any{"v": "short-lived"}))
	require.NoError(t, m.Persist(ctx))
	require.NoError(t, m.Delete("z"))
	require.NoError(t, m.Set("x", map[string]any{"v": "with the delete"})) // not a delete-only commit: see TestMirrorDeleteOnlyCommit
	require.NoError(t, m.Persist(ctx))
	_, r2, err := m.GetRevision("x")
	require.NoError(t, err)
	// While its watch lags, the mirror may lag too (a commit is mirrored
	// once the watch brings it), but what it holds is the store at one
	// revision.
	gen, _ := awaitGeneration(t, dir, time.Second, func(mirrorGeneration) bool { return true })
	before := g.passed.Load()
	g.step() // the watch's batch of the put of z, alone
	require.Eventually(t, func() bool { return g.passed.Load() > before }, 10*time.Second, 5*time.Millisecond)
	gen, _ = awaitGeneration(t, dir, time.Second, func(next mirrorGeneration) bool { return next.target != gen.target })
	assertStoreAt(t, cli, prefix, gen, "generation %s (revision %d) after the late watch batch of the put of z", gen.target, gen.revision)
	g.resume()
	gen, ok := awaitGeneration(t, dir, 10*time.Second, func(gen mirrorGeneration) bool {
		_, hasZ := gen.files["z"]
		return !hasZ && gen.revision >= r2
	})
	require.True(t, ok, "once the watch caught up, the mirror holds the delete of z at %d", r2)
	assertStoreAt(t, cli, prefix, gen)
	g.resume()
}
