package etcd_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/pkg/v3/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"
	"go.uber.org/zap"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"
)

// watchTimeout bounds every wait for an event; a restarted member may take
// a few seconds to rejoin and the client to reconnect.
const watchTimeout = 30 * time.Second

// newWatchCluster starts a three-member cluster in process and, once it is
// terminated, fails the test if any goroutine is left running: the
// integration framework's own leak check.
func newWatchCluster(t *testing.T) *integration.Cluster {
	t.Helper()
	integration.BeforeTestExternal(t)
	t.Cleanup(func() { // runs after the cluster's Terminate, registered below
		if !t.Failed() {
			assert.NoError(t, testutil.CheckAfterTest(10*time.Second), "goroutines left after the test")
		}
	})
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 3, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	return c
}

// memberManager returns a manager (with opts) whose client talks to member
// i of c only, with namespace ns created and in use under prefix.
func memberManager(t testing.TB, c *integration.Cluster, i int, prefix, ns string, opts ...confo.Option) *confo.Manager {
	t.Helper()
	m := confo.New(opts...)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	creds := confo.Credentials{"endpoints": []string{c.Members[i].GRPCURL}, "prefix": prefix, "dial_timeout": "5s"}
	require.NoError(t, m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, creds))
	require.NoError(t, m.ActivateBackend("etcd"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// memberClient returns a raw client of member i, for writes "by another
// process" and compaction.
func memberClient(t testing.TB, c *integration.Cluster, i int) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[i].GRPCURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return cli
}

// replica follows a watch: it applies every event to a map and checks that
// revisions never go back.
type replica struct {
	values map[string]map[string]any
	last   int64
	events int
}

func newReplica(t testing.TB, m *confo.Manager) *replica {
	t.Helper()
	all, err := m.GetAll()
	require.NoError(t, err)
	return &replica{values: all}
}

// follow applies events until it has applied the event of barrier at
// revision rev and equals m's view. (A reload after compaction reports its
// deletes after its puts, so the barrier may not be the last event.)
func (r *replica) follow(t testing.TB, m *confo.Manager, ch <-chan confo.Event, barrier string, rev int64) {
	t.Helper()
	timeout := time.After(watchTimeout)
	seen := false
	for {
		if seen {
			view, err := m.GetAll()
			require.NoError(t, err)
			if assert.ObjectsAreEqual(view, r.values) {
				return
			}
		}
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "watch channel closed")
			r.events++
			require.GreaterOrEqual(t, ev.Revision, r.last, "events in revision order: %s after revision %d", ev.Name, r.last)
			r.last = ev.Revision
			switch ev.Type {
			case confo.EventPut:
				require.NotNil(t, ev.Value)
				r.values[ev.Name] = ev.Value
			case confo.EventDelete:
				require.Nil(t, ev.Value)
				delete(r.values, ev.Name)
			default:
				require.Failf(t, "bad event type", "%v", ev.Type)
			}
			seen = seen || ev.Name == barrier && ev.Revision == rev
		case <-timeout:
			require.FailNow(t, fmt.Sprintf("no event of %s at revision %d within %s (last revision %d)", barrier, rev, watchTimeout, r.last))
		}
	}
}

// putBarrier writes configuration name by a raw client and returns its
// revision: once a watcher has its event, it has every earlier change.
func putBarrier(t testing.TB, cli *clientv3.Client, prefix, ns, name string) int64 {
	t.Helper()
	resp, err := cli.Put(t.Context(), prefix+"/"+ns+"/"+name, fmt.Sprintf(`{"at":%d}`, time.Now().UnixNano()))
	require.NoError(t, err)
	return resp.Header.Revision
}

// storeState reads namespace ns afresh with a new manager on member i.
func storeState(t testing.TB, c *integration.Cluster, i int, prefix, ns string) map[string]map[string]any {
	t.Helper()
	fresh := memberManager(t, c, i, prefix, ns)
	all, err := fresh.GetAll()
	require.NoError(t, err)
	require.NoError(t, fresh.Close())
	return all
}

// randomChanges makes n random sets and deletes among 50 configurations on
// m, persisting them in batches of 1 to 40 changes.
func randomChanges(t testing.TB, m *confo.Manager, rng *rand.Rand, n int) {
	t.Helper()
	pending := 0
	for i := range n {
		name := fmt.Sprintf("cfg%02d", rng.IntN(50))
		if _, err := m.Get(name); err == nil && rng.IntN(3) == 0 {
			require.NoError(t, m.Delete(name))
		} else {
			require.NoError(t, m.Set(name, map[string]any{"i": i, "s": fmt.Sprint(rng.Uint64()), "on": rng.IntN(2) == 0}))
		}
		pending++
		if pending >= 1+rng.IntN(40) || i == n-1 {
			require.NoError(t, m.Persist(t.Context()))
			pending = 0
		}
	}
}

// watchedPair returns a writer on member 0 and a watcher on member w of
// namespace ns under prefix (see memberManager), the watcher's events and
// a replica of its view following them.
func watchedPair(t testing.TB, c *integration.Cluster, w int, prefix, ns string) (writer, watcher *confo.Manager, events <-chan confo.Event, r *replica) {
	t.Helper()
	writer = memberManager(t, c, 0, prefix, ns)
	watcher = memberManager(t, c, w, prefix, ns)
	events, err := watcher.Watch(t.Context(), ns)
	require.NoError(t, err)
	return writer, watcher, events, newReplica(t, watcher)
}

// assertMatchesStore asserts that the view of watcher and the replica r
// built from its events both equal want, the store's state.
func assertMatchesStore(t testing.TB, want map[string]map[string]any, watcher *confo.Manager, r *replica, viewMsg, eventsMsg string) {
	t.Helper()
	got, err := watcher.GetAll()
	require.NoError(t, err)
	assert.Equal(t, want, got, viewMsg)
	assert.Equal(t, want, r.values, eventsMsg)
}

// compact compacts the store at its current revision.
func compact(t testing.TB, raw *clientv3.Client, opts ...clientv3.CompactOption) {
	t.Helper()
	resp, err := raw.Get(t.Context(), "compact")
	require.NoError(t, err)
	_, err = raw.Compact(t.Context(), resp.Header.Revision, opts...)
	require.NoError(t, err)
}

func TestWatchEtcd(t *testing.T) {
	c := newWatchCluster(t)
	raw := memberClient(t, c, 0)

	t.Run("RandomChanges", func(t *testing.T) {
		const prefix, ns = "/random", "database"
		writer, watcher, watch, r := watchedPair(t, c, 1, prefix, ns)
		// A receiver that keeps up, so that few changes are coalesced and
		// the order of many events is checked.
		ch := make(chan confo.Event, 100_000)
		go func() {
			defer close(ch)
			for ev := range watch {
				ch <- ev
			}
		}()

		randomChanges(t, writer, rand.New(rand.NewPCG(1, 2)), 1000)
		rev := putBarrier(t, raw, prefix, ns, "zz-barrier")
		r.follow(t, watcher, ch, "zz-barrier", rev)

		assertMatchesStore(t, storeState(t, c, 2, prefix, ns), watcher, r, "the watcher's view equals the store", "the events rebuild the store")
		t.Logf("%d events for 1000 changes up to revision %d", r.events, rev)
	})

	t.Run("Reports keys that are not configurations", func(t *testing.T) {
		const prefix, ns = "/skip", "database"
		watcher := memberManager(t, c, 1, prefix, ns)
		ch, err := watcher.Watch(t.Context(), ns)
		require.NoError(t, err)
		_, err = raw.Put(t.Context(), prefix+"/"+ns+"/a/b", `{"not":"a configuration"}`)
		require.NoError(t, err)
		_, err = raw.Put(t.Context(), prefix+"//"+ns, "") // the namespace marker again
		require.NoError(t, err)
		rev := putBarrier(t, raw, prefix, ns, "barrier")
		for _, want := range []struct {
			name string
			typ  confo.EventType
		}{{"a/b", confo.EventProblem}, {"barrier", confo.EventPut}} {
			select {
			case ev := <-ch:
				assert.Equal(t, want.name, ev.Name)
				assert.Equal(t, want.typ, ev.Type)
				if want.typ == confo.EventProblem {
					assert.ErrorIs(t, ev.Err, confo.ErrInvalidName)
				} else {
					assert.Equal(t, rev, ev.Revision)
				}
			case <-time.After(watchTimeout):
				t.Fatalf("no event for %q", want.name)
			}
		}
		all, err := watcher.GetAll()
		require.NoError(t, err)
		assert.NotContains(t, all, "a/b", "not a configuration of the view")
	})

	t.Run("Cancel", func(t *testing.T) {
		const prefix, ns = "/cancel", "database"
		watcher := memberManager(t, c, 1, prefix, ns)
		ctx, cancel := context.WithCancel(t.Context())
		ch, err := watcher.Watch(ctx, ns)
		require.NoError(t, err)
		stop, err := watcher.OnChange(t.Context(), ns, func(confo.Event) {})
		require.NoError(t, err)
		v, err := confo.Bind[map[string]any](t.Context(), watcher, ns, "barrier")
		require.NoError(t, err)
		rev := putBarrier(t, raw, prefix, ns, "barrier")
		newReplica(t, watcher).follow(t, watcher, ch, "barrier", rev)
		require.Eventually(t, func() bool { return v.Load() != nil }, watchTimeout, time.Millisecond)
		cancel()
		for range ch {
		}
		stop()
		require.NoError(t, watcher.Close())
		<-v.Done()
		// the cluster's leak check runs at the end of TestWatchEtcd
	})
}

func TestWatchEtcdResumesAfterDisconnect(t *testing.T) {
	const prefix, ns = "/resume", "database"
	c := newWatchCluster(t)
	raw := memberClient(t, c, 0)
	writer, watcher, ch, r := watchedPair(t, c, 2, prefix, ns) // the watcher's client knows member 2 only
	rng := rand.New(rand.NewPCG(3, 4))

	randomChanges(t, writer, rng, 100)
	r.follow(t, watcher, ch, "barrier", putBarrier(t, raw, prefix, ns, "barrier"))

	c.Members[2].Stop(t)                     // the watcher's connection drops
	c.WaitMembersForLeader(t, c.Members[:2]) // it may have been the leader
	randomChanges(t, writer, rng, 300)
	require.NoError(t, c.Members[2].Restart(t))
	c.WaitMembersForLeader(t, c.Members)

	r.follow(t, watcher, ch, "barrier", putBarrier(t, raw, prefix, ns, "barrier"))
	assertMatchesStore(t, storeState(t, c, 0, prefix, ns), watcher, r, "no change made while disconnected is lost", "")
}

func TestWatchEtcdCompacted(t *testing.T) {
	c := newWatchCluster(t)
	raw := memberClient(t, c, 0)

	t.Run("while the watcher is disconnected", func(t *testing.T) {
		const prefix, ns = "/compact-down", "database"
		writer, watcher, ch, r := watchedPair(t, c, 2, prefix, ns)
		rng := rand.New(rand.NewPCG(5, 6))
		randomChanges(t, writer, rng, 100)
		r.follow(t, watcher, ch, "barrier", putBarrier(t, raw, prefix, ns, "barrier"))

		c.Members[2].Stop(t)                     // the watcher falls behind
		c.WaitMembersForLeader(t, c.Members[:2]) // it may have been the leader
		randomChanges(t, writer, rng, 300)
		compact(t, raw, clientv3.WithCompactPhysical())
		require.NoError(t, c.Members[2].Restart(t))
		c.WaitMembersForLeader(t, c.Members)

		r.follow(t, watcher, ch, "barrier", putBarrier(t, raw, prefix, ns, "barrier"))
		assertMatchesStore(t, storeState(t, c, 0, prefix, ns), watcher, r, "the view converges after compaction", "the events carry the difference")
	})

	t.Run("before the watch starts", func(t *testing.T) {
		const prefix, ns = "/compact-before", "database"
		writer := memberManager(t, c, 0, prefix, ns)
		watcher := memberManager(t, c, 1, prefix, ns) // loaded now
		before, err := watcher.GetAll()
		require.NoError(t, err)
		randomChanges(t, writer, rand.New(rand.NewPCG(7, 8)), 200)
		compact(t, raw)

		ch, err := watcher.Watch(t.Context(), ns) // from the load revision: compacted
		require.NoError(t, err)
		r := &replica{values: maps.Clone(before)}
		r.follow(t, watcher, ch, "barrier", putBarrier(t, raw, prefix, ns, "barrier"))
		assertMatchesStore(t, storeState(t, c, 0, prefix, ns), watcher, r, "", "")
	})
}
