package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// TestEtcd runs the store behaviour on one in-process cluster; each subtest
// has a key prefix of its own.
func TestEtcd(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)

	t.Run("Walkthrough", func(t *testing.T) {
		// The seed's credentials: host and port, default prefix /confo.
		u, err := url.Parse(c.Endpoints()[0])
		require.NoError(t, err)
		port, err := strconv.Atoi(u.Port())
		require.NoError(t, err)
		walkthrough(t, confo.Credentials{"host": u.Hostname(), "port": port}, "/confo", raw)
	})

	t.Run("Conflict", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("conflict")
		first := newNamespaceManager(t, c, "first", prefix, "app")
		require.NoError(t, first.Set("server", map[string]any{"port": 80}))
		require.NoError(t, first.Persist(ctx))

		second := newNamespaceManager(t, c, "second", prefix, "app")
		require.NoError(t, first.SetField("server", "port", 8080))
		require.NoError(t, second.SetField("server", "port", 9090))

		require.NoError(t, first.Persist(ctx))
		err := second.Persist(ctx)
		require.ErrorIs(t, err, confo.ErrConflict)
		assert.Contains(t, err.Error(), `"server"`)
		assert.Contains(t, err.Error(), `"app"`)

		stored, ok := etcdValue(t, raw, prefix+"/app/server")
		require.True(t, ok)
		assert.JSONEq(t, `{"port":8080}`, stored, "the second manager wrote nothing")
		port, err := second.GetField("server", "port")
		require.NoError(t, err)
		assert.Equal(t, int64(9090), port, "the failed change stays in memory")

		require.NoError(t, second.Reload(ctx))
		port, err = second.GetField("server", "port")
		require.NoError(t, err)
		assert.Equal(t, int64(8080), port, "the store wins on Reload")
		require.NoError(t, second.SetField("server", "port", 9090))
		require.NoError(t, second.Persist(ctx))
		stored, _ = etcdValue(t, raw, prefix+"/app/server")
		assert.JSONEq(t, `{"port":9090}`, stored)

		// Both create the same new configuration: the later one conflicts.
		require.NoError(t, first.Set("cache", map[string]any{"size": 1}))
		require.NoError(t, second.Set("cache", map[string]any{"size": 2}))
		require.NoError(t, second.Persist(ctx))
		err = first.Persist(ctx)
		require.ErrorIs(t, err, confo.ErrConflict)
		assert.Contains(t, err.Error(), `"cache"`)
		stored, _ = etcdValue(t, raw, prefix+"/app/cache")
		assert.JSONEq(t, `{"size":2}`, stored)
	})

	t.Run("ConflictBatchWritesNothing", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("batch")
		m := newNamespaceManager(t, c, "m", prefix, "ns")
		require.NoError(t, m.Set("a", map[string]any{"v": 1}))
		require.NoError(t, m.Persist(ctx))
		_, err := raw.Put(ctx, prefix+"/ns/a", `{"v":"remote"}`)
		require.NoError(t, err)

		require.NoError(t, m.Set("a", map[string]any{"v": 2}))
		require.NoError(t, m.Set("b", map[string]any{"v": 2}))
		err = m.Persist(ctx)
		require.ErrorIs(t, err, confo.ErrConflict)
		assert.Contains(t, err.Error(), `"a"`)
		assert.NotContains(t, err.Error(), `"b"`, "only the changed configuration is named")
		_, ok := etcdValue(t, raw, prefix+"/ns/b")
		assert.False(t, ok, "nothing of the batch is written")
	})

	t.Run("Delete", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("delete")
		m := newNamespaceManager(t, c, "m", prefix, "ns")
		require.NoError(t, m.Set("a", map[string]any{"v": 1}))
		require.NoError(t, m.Set("b", map[string]any{"v": 1}))
		require.NoError(t, m.Persist(ctx))

		require.NoError(t, m.Delete("a"))
		require.NoError(t, m.Persist(ctx))
		_, ok := etcdValue(t, raw, prefix+"/ns/a")
		assert.False(t, ok)
		_, err := m.Get("a")
		require.ErrorIs(t, err, confo.ErrConfigNotFound)
		require.NoError(t, m.Reload(ctx))
		_, err = m.Get("a")
		require.ErrorIs(t, err, confo.ErrConfigNotFound)

		// Deleting what someone else changed since we read it conflicts.
		_, err = raw.Put(ctx, prefix+"/ns/b", `{"v":2}`)
		require.NoError(t, err)
		require.NoError(t, m.Delete("b"))
		err = m.Persist(ctx)
		require.ErrorIs(t, err, confo.ErrConflict)
		assert.Contains(t, err.Error(), `"b"`)
		stored, ok := etcdValue(t, raw, prefix+"/ns/b")
		require.True(t, ok)
		assert.JSONEq(t, `{"v":2}`, stored)

		// Deleting what someone else already deleted conflicts too.
		require.NoError(t, m.Reload(ctx))
		_, err = raw.Delete(ctx, prefix+"/ns/b")
		require.NoError(t, err)
		require.NoError(t, m.Delete("b"))
		require.ErrorIs(t, m.Persist(ctx), confo.ErrConflict)
	})

	t.Run("InvalidNamesBeforeIO", func(t *testing.T) {
		ctx := t.Context()
		b, rc := countingBackend(t, c, uniquePrefix("names"))
		m := managerOf(t, b, "ns")
		rc.txn.Store(0)
		rc.rng.Store(0)

		for _, bad := range []string{"", "a/b", ".", "..", "nul\x00", "tab\t", string(make([]byte, 256)), "\xff"} {
			require.ErrorIs(t, m.CreateNamespace(ctx, bad), confo.ErrInvalidName, "%q", bad)
			require.ErrorIs(t, m.UseNamespace(ctx, bad), confo.ErrInvalidName, "%q", bad)
			require.ErrorIs(t, m.PersistNamespace(ctx, bad), confo.ErrInvalidName, "%q", bad)
			require.ErrorIs(t, m.PersistConfig(ctx, "ns", bad), confo.ErrInvalidName, "%q", bad)
			require.ErrorIs(t, m.Set(bad, map[string]any{}), confo.ErrInvalidName, "%q", bad)
			require.ErrorIs(t, m.SetField(bad, "f", 1), confo.ErrInvalidName, "%q", bad)
			require.ErrorIs(t, m.Delete(bad), confo.ErrInvalidName, "%q", bad)
			_, err := m.Get(bad)
			require.ErrorIs(t, err, confo.ErrInvalidName, "%q", bad)
		}
		assert.Zero(t, rc.txn.Load()+rc.rng.Load(), "no request reached etcd")

		// The backend checks too, for callers that skip the Manager.
		require.ErrorIs(t, b.CreateNamespace(ctx, "a/b"), confo.ErrInvalidName)
		_, err := b.Load(ctx, "..")
		require.ErrorIs(t, err, confo.ErrInvalidName)
		_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "x/y", Value: []byte("{}")}})
		require.ErrorIs(t, err, confo.ErrInvalidName)
		assert.Zero(t, rc.txn.Load()+rc.rng.Load(), "no request reached etcd")
	})

	t.Run("Concurrent", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("concurrent")
		m := newNamespaceManager(t, c, "m", prefix, "ns")
		const workers, rounds = 16, 40
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range rounds {
					name := fmt.Sprintf("c%d", r.IntN(8))
					var err error
					switch r.IntN(10) {
					case 0:
						err = m.Set(name, map[string]any{"w": w, "i": i, "list": []any{w, "x"}})
					case 1:
						err = m.SetField(name, "f", i)
					case 2:
						_, err = m.Get(name)
					case 3:
						_, err = m.GetField(name, "w")
					case 4:
						_, err = m.GetAll()
					case 5:
						err = m.Delete(name)
					case 6:
						err = m.Persist(ctx)
					case 7:
						err = m.Reload(ctx)
					case 8:
						_, err = m.GetNamespaces(ctx)
					case 9:
						_, err = m.ConfigCount()
					}
					if err != nil && !errors.Is(err, confo.ErrConfigNotFound) && !errors.Is(err, confo.ErrFieldNotFound) {
						t.Errorf("worker %d round %d: %v", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		require.NoError(t, m.Persist(ctx))

		want, err := m.GetAll()
		require.NoError(t, err)
		fresh := newNamespaceManager(t, c, "fresh", prefix, "ns")
		got, err := fresh.GetAll()
		require.NoError(t, err)
		assert.Equal(t, want, got)
		require.NoError(t, m.Reload(ctx))
		again, err := m.GetAll()
		require.NoError(t, err)
		assert.Equal(t, want, again)
	})

	t.Run("RemoteChange", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("remote")
		m := newNamespaceManager(t, c, "m", prefix, "ns")
		require.NoError(t, m.Set("a", map[string]any{"v": 1}))
		require.NoError(t, m.Set("b", map[string]any{"v": 1}))
		require.NoError(t, m.Persist(ctx))

		_, err := raw.Put(ctx, prefix+"/ns/c", `{"v":3,"nested":{"x":[1,2.5]}}`)
		require.NoError(t, err)
		_, err = raw.Put(ctx, prefix+"/ns/a", `{"v":"changed"}`)
		require.NoError(t, err)
		_, err = raw.Delete(ctx, prefix+"/ns/b")
		require.NoError(t, err)
		_, err = raw.Put(ctx, prefix+"/ns/sub/key", `not a configuration`)
		require.NoError(t, err)

		require.NoError(t, m.Reload(ctx))
		all, err := m.GetAll()
		require.NoError(t, err)
		assert.Equal(t, map[string]map[string]any{
			"a": {"v": "changed"},
			"c": {"v": int64(3), "nested": map[string]any{"x": []any{int64(1), 2.5}}},
		}, all)

		// The reloaded revisions guard the next Persist.
		require.NoError(t, m.SetField("c", "v", 4))
		require.NoError(t, m.Persist(ctx))
		stored, _ := etcdValue(t, raw, prefix+"/ns/c")
		assert.JSONEq(t, `{"v":4,"nested":{"x":[1,2.5]}}`, stored)
		_, ok := etcdValue(t, raw, prefix+"/ns/sub/key")
		assert.True(t, ok, "keys that are not configurations are left alone")
	})

	t.Run("Namespaces", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("ns")
		b, err := etcd.New(ctx, etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix + "/", PageSize: 2, Namespaces: []string{"sales"}})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		assert.Equal(t, prefix, b.Prefix())

		for _, ns := range []string{"analytics", "database", "sales", "zeta"} {
			require.NoError(t, b.CreateNamespace(ctx, ns))
		}
		// Idempotent, and no needless write.
		before, err := raw.Get(ctx, b.NamespaceKey("database"))
		require.NoError(t, err)
		require.NoError(t, b.CreateNamespace(ctx, "database"))
		after, err := raw.Get(ctx, b.NamespaceKey("database"))
		require.NoError(t, err)
		assert.Equal(t, before.Header.Revision, after.Header.Revision)

		// A configuration written directly, without a marker.
		_, err = raw.Put(ctx, b.Key("direct", "x"), `{"a":1}`)
		require.NoError(t, err)

		names, err := b.Namespaces(ctx) // pages of 2
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"analytics", "database", "sales", "zeta"}, names)

		snap, err := b.Load(ctx, "direct")
		require.NoError(t, err, "a namespace with keys but no marker loads")
		assert.JSONEq(t, `{"a":1}`, string(snap.Entries["x"].Value))

		snap, err = b.Load(ctx, "analytics")
		require.NoError(t, err)
		assert.Empty(t, snap.Entries)
		assert.Positive(t, snap.Revision)

		_, err = b.Load(ctx, "missing")
		require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
		assert.Contains(t, err.Error(), `"missing"`)

		m := newManager(t, c, "m", prefix)
		require.ErrorIs(t, m.UseNamespace(ctx, "missing"), confo.ErrNamespaceNotFound)
		count, err := m.GetCount(ctx)
		require.NoError(t, err)
		assert.Equal(t, 4, count)
	})

	t.Run("CommitRevisions", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("commit")
		b := etcd.NewFromClient(raw, etcd.Config{Prefix: prefix})
		require.NoError(t, b.CreateNamespace(ctx, "ns"))
		revs, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"a":1}`)}, {Name: "b", Value: []byte(`{}`)}})
		require.NoError(t, err)
		require.Len(t, revs, 2)
		assert.Equal(t, revs[0], revs[1], "one transaction, one revision")
		resp, err := raw.Get(ctx, b.Key("ns", "a"))
		require.NoError(t, err)
		assert.Equal(t, resp.Kvs[0].ModRevision, revs[0])

		revs2, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Revision: revs[0]}, {Name: "b", Value: []byte(`{"b":2}`), Revision: revs[1]}})
		require.NoError(t, err)
		assert.Zero(t, revs2[0], "a delete has no revision")
		assert.Greater(t, revs2[1], revs[1])

		_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "b", Value: []byte(`{}`), Revision: revs[1]}, {Name: "c", Value: []byte(`{}`)}})
		require.ErrorIs(t, err, confo.ErrConflict)
		assert.Contains(t, err.Error(), `"b"`)
		assert.NotContains(t, err.Error(), `"c"`)

		revs3, err := b.Commit(ctx, "ns", nil)
		require.NoError(t, err)
		assert.Empty(t, revs3)

		tooMany := make([]confo.Op, etcd.DefaultMaxTxnOps+1)
		for i := range tooMany {
			tooMany[i] = confo.Op{Name: fmt.Sprint(i), Value: []byte(`{}`)}
		}
		_, err = b.Commit(ctx, "ns", tooMany)
		require.Error(t, err)
	})

	t.Run("LoadRestartsAfterCompaction", func(t *testing.T) {
		// The cluster compacts the revision of a paged read between two
		// pages: Load starts over and still returns one consistent revision.
		ctx := t.Context()
		prefix := uniquePrefix("compact")
		var compactOnce sync.Once
		var txns atomic.Int64
		intercept := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			switch method {
			case "/etcdserverpb.KV/Txn":
				txns.Add(1)
			case "/etcdserverpb.KV/Range":
				compactOnce.Do(func() {
					resp, err := raw.Put(ctx, prefix+"/other", "x")
					if err == nil {
						_, err = raw.Compact(ctx, resp.Header.Revision)
					}
					assert.NoError(t, err)
				})
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		b, err := etcd.New(ctx, etcd.Config{
			Endpoints: c.Endpoints(), Prefix: prefix, PageSize: 2,
			DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(intercept)},
		})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		compactOnce = sync.Once{} // New made a Range of its own
		ops := make([]confo.Op, 5)
		for i := range ops {
			ops[i] = confo.Op{Name: fmt.Sprint("c", i), Value: []byte(`{}`)}
		}
		_, err = b.Commit(ctx, "ns", ops)
		require.NoError(t, err)
		txns.Store(0)

		snap, err := b.Load(ctx, "ns")
		require.NoError(t, err)
		assert.Len(t, snap.Entries, 5)
		assert.EqualValues(t, 2, txns.Load(), "the read started over once")
	})

	t.Run("Closed", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("closed")
		b, err := etcd.New(ctx, etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix})
		require.NoError(t, err)
		require.NoError(t, b.CreateNamespace(ctx, "ns"))
		require.NoError(t, b.Close())
		require.NoError(t, b.Close(), "closing twice is fine")
		_, err = b.Namespaces(ctx)
		require.ErrorIs(t, err, confo.ErrClosed)
		require.ErrorIs(t, b.CreateNamespace(ctx, "ns"), confo.ErrClosed)
		_, err = b.Load(ctx, "ns")
		require.ErrorIs(t, err, confo.ErrClosed)
		_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte("{}")}})
		require.ErrorIs(t, err, confo.ErrClosed)

		// A backend on a client it did not create leaves the client open.
		shared := etcd.NewFromClient(raw, etcd.Config{Prefix: prefix})
		require.NoError(t, shared.Close())
		_, err = shared.Load(ctx, "ns")
		require.ErrorIs(t, err, confo.ErrClosed)
		_, err = raw.Get(ctx, "x")
		require.NoError(t, err, "the caller's client still works")
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		b := etcd.NewFromClient(raw, etcd.Config{Prefix: uniquePrefix("ctx")})
		ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		_, err := b.Namespaces(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, err = b.Load(ctx, "ns")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte("{}")}})
		require.ErrorIs(t, err, context.DeadlineExceeded)

		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, b.CreateNamespace(canceled, "ns"), context.Canceled)
	})
}
