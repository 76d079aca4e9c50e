package etcd_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// putPort sets configuration db's port, persists it and returns the key's
// new ModRevision as the store reports it.
func putPort(t testing.TB, m *confo.Manager, cli *clientv3.Client, key string, port int) int64 {
	t.Helper()
	require.NoError(t, m.SetField("db", "port", port))
	require.NoError(t, m.Persist(t.Context()))
	resp, err := cli.Get(t.Context(), key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	return resp.Kvs[0].ModRevision
}

func historyPorts(t testing.TB, h []confo.ConfigVersion) ([]any, []int64) {
	t.Helper()
	var ports []any
	var revs []int64
	for _, v := range h {
		require.NoError(t, v.Err)
		require.False(t, v.Deleted, "etcd lists the versions of one life of the key")
		ports = append(ports, v.Value["port"])
		revs = append(revs, v.Revision)
	}
	return ports, revs
}

// TestHistory runs History and Rollback on one in-process cluster; each
// subtest has a key prefix of its own.
func TestHistory(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)

	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("history")
		m := newNamespaceManager(t, c, "etcd", prefix, "app")
		key := prefix + "/app/db"
		r1 := putPort(t, m, raw, key, 1)
		r2 := putPort(t, m, raw, key, 2)
		raw.Put(ctx, prefix+"/app/other", `{}`) // revisions of other keys in between
		r3 := putPort(t, m, raw, key, 3)

		h, err := m.History(ctx, "app", "db")
		require.NoError(t, err)
		ports, revs := historyPorts(t, h)
		assert.Equal(t, []any{int64(3), int64(2), int64(1)}, ports)
		assert.Equal(t, []int64{r3, r2, r1}, revs, "the key's ModRevisions, newest first")

		require.NoError(t, m.Rollback(ctx, "app", "db", r1))
		stored, ok := etcdValue(t, raw, key)
		require.True(t, ok)
		assert.JSONEq(t, `{"port":1}`, stored)
		got, err := m.Get("db")
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"port": int64(1)}, got, "the view holds the rolled-back value")

		h, err = m.History(ctx, "app", "db")
		require.NoError(t, err)
		ports, revs = historyPorts(t, h)
		assert.Equal(t, []any{int64(1), int64(3), int64(2), int64(1)}, ports)
		assert.Greater(t, revs[0], r3)

		// The view has the new revision: the next Persist is no conflict,
		// and a second manager reads the rolled-back value.
		r5 := putPort(t, m, raw, key, 5)
		assert.Greater(t, r5, revs[0])
		other := newNamespaceManager(t, c, "etcd", prefix, "app")
		got, err = other.Get("db")
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"port": int64(5)}, got)
	})

	t.Run("Limit", func(t *testing.T) {
		prefix := uniquePrefix("limit")
		m := confo.New(confo.WithHistoryLimit(3))
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, credsFor(c, prefix)))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.CreateNamespace(t.Context(), "app"))
		require.NoError(t, m.UseNamespace(t.Context(), "app"))
		for port := range 10 {
			putPort(t, m, raw, prefix+"/app/db", port)
		}
		h, err := m.History(t.Context(), "app", "db")
		require.NoError(t, err)
		ports, _ := historyPorts(t, h)
		assert.Equal(t, []any{int64(9), int64(8), int64(7)}, ports)
	})

	t.Run("Recreated", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("recreated")
		m := newNamespaceManager(t, c, "etcd", prefix, "app")
		key := prefix + "/app/db"
		r1 := putPort(t, m, raw, key, 1)
		_, err := raw.Delete(ctx, key)
		require.NoError(t, err)

		_, err = m.History(ctx, "app", "db")
		require.ErrorIs(t, err, confo.ErrConfigNotFound, "History follows the key's current life")
		assert.Contains(t, err.Error(), `"db"`)

		// A revision of an earlier life still rolls back (undelete).
		require.NoError(t, m.Reload(ctx))
		require.NoError(t, m.Rollback(ctx, "app", "db", r1))
		stored, ok := etcdValue(t, raw, key)
		require.True(t, ok)
		assert.JSONEq(t, `{"port":1}`, stored)
		h, err := m.History(ctx, "app", "db")
		require.NoError(t, err)
		require.Len(t, h, 1, "a new life")
	})

	t.Run("Compacted", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("compacted")
		m := newNamespaceManager(t, c, "etcd", prefix, "app")
		key := prefix + "/app/db"
		var revs []int64
		for port := range 5 {
			revs = append(revs, putPort(t, m, raw, key, port))
		}
		_, err := raw.Compact(ctx, revs[2], clientv3.WithCompactPhysical())
		require.NoError(t, err)

		h, err := m.History(ctx, "app", "db")
		require.NoError(t, err, "compaction ends the list, it is no error")
		ports, got := historyPorts(t, h)
		assert.Equal(t, []any{int64(4), int64(3), int64(2)}, ports)
		assert.Equal(t, []int64{revs[4], revs[3], revs[2]}, got)

		err = m.Rollback(ctx, "app", "db", revs[0])
		require.ErrorIs(t, err, confo.ErrRevisionNotFound)
		assert.Contains(t, err.Error(), "compacted")
		assert.Contains(t, err.Error(), `"db"`)
		stored, _ := etcdValue(t, raw, key)
		assert.JSONEq(t, `{"port":4}`, stored, "nothing written")

		require.NoError(t, m.Rollback(ctx, "app", "db", revs[2]), "the compaction revision itself is kept")
		stored, _ = etcdValue(t, raw, key)
		assert.JSONEq(t, `{"port":2}`, stored)
	})

	t.Run("RevisionNotFound", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("notfound")
		m := newNamespaceManager(t, c, "etcd", prefix, "app")
		r1 := putPort(t, m, raw, prefix+"/app/db", 1)
		resp, err := raw.Put(ctx, prefix+"/app/other", `{"port":7}`)
		require.NoError(t, err)
		putPort(t, m, raw, prefix+"/app/db", 2)
		for name, rev := range map[string]int64{
			"future":           resp.Header.Revision + 1000,
			"another key's":    resp.Header.Revision,
			"between versions": r1 + 1,
			"zero":             0,
		} {
			err := m.Rollback(ctx, "app", "db", rev)
			require.ErrorIs(t, err, confo.ErrRevisionNotFound, name)
		}
		stored, _ := etcdValue(t, raw, prefix+"/app/db")
		assert.JSONEq(t, `{"port":2}`, stored)
	})

	t.Run("Corrupt", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("corrupt")
		m := newNamespaceManager(t, c, "etcd", prefix, "app")
		key := prefix + "/app/db"
		resp, err := raw.Put(ctx, key, `not json`)
		require.NoError(t, err)
		_, err = raw.Put(ctx, key, `{"port":1}`)
		require.NoError(t, err)
		h, err := m.History(ctx, "app", "db")
		require.NoError(t, err)
		require.Len(t, h, 2)
		assert.ErrorIs(t, h[1].Err, confo.ErrCorruptValue)
		require.ErrorIs(t, m.Rollback(ctx, "app", "db", resp.Header.Revision), confo.ErrCorruptValue)
	})

	t.Run("ConcurrentWriter", func(t *testing.T) {
		// Another process writes the key between the Rollback's read and
		// its guarded write: an interceptor on the manager's own client
		// writes through a second client right after the read.
		ctx := t.Context()
		prefix := uniquePrefix("concurrent")
		key := prefix + "/app/db"
		var armed atomic.Bool
		intercept := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if method == "/etcdserverpb.KV/Txn" && armed.CompareAndSwap(true, false) {
				if _, perr := raw.Put(ctx, key, `{"port":99}`); perr != nil {
					return perr
				}
			}
			return err
		}
		b, err := etcd.New(ctx, etcd.Config{
			Endpoints:   c.Endpoints(),
			Prefix:      prefix,
			DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(intercept)},
		})
		require.NoError(t, err)
		m := managerOf(t, b, "app")
		r1 := putPort(t, m, raw, key, 1)
		putPort(t, m, raw, key, 2)

		armed.Store(true)
		err = m.Rollback(ctx, "app", "db", r1)
		require.ErrorIs(t, err, confo.ErrConflict)
		assert.Contains(t, err.Error(), `"db"`)
		assert.False(t, armed.Load(), "the other writer ran")
		stored, _ := etcdValue(t, raw, key)
		assert.JSONEq(t, `{"port":99}`, stored, "the other writer's value stays")
		got, err := m.Get("db")
		require.NoError(t, err)
		assert.Equal(t, int64(2), got["port"], "the view is unchanged")

		require.NoError(t, m.Rollback(ctx, "app", "db", r1), "a retry reads the new current revision")
		stored, _ = etcdValue(t, raw, key)
		assert.JSONEq(t, `{"port":1}`, stored)
	})

	t.Run("InvalidNames", func(t *testing.T) {
		b := etcd.NewFromClient(raw, etcd.Config{Prefix: uniquePrefix("names")})
		_, err := b.History(t.Context(), "a/b", "db", 0)
		require.ErrorIs(t, err, confo.ErrInvalidName)
		_, _, err = b.Version(t.Context(), "app", "", 1)
		require.ErrorIs(t, err, confo.ErrInvalidName)
	})
}

// confoGoroutines returns the stacks of the goroutines that run code of
// this module (other than the tests), or were started by it.
func confoGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ours := regexp.MustCompile(`github\.com/confo-go/confo(/backends/etcd)?\.`)
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if ours.MatchString(g) && !strings.Contains(g, "confoGoroutines") {
			found = append(found, g)
		}
	}
	return found
}

// TestMirrorEtcdDown starts a manager with a mirror while the only member
// of the cluster is stopped: LoadBackend and UseNamespace say the view is
// stale, reads work, writes are refused; once the member is back the view
// catches up and writes work. No goroutine of the manager outlives Close.
func TestMirrorEtcdDown(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	raw := rawClient(t, c)
	prefix := uniquePrefix("mirror")
	dir := t.TempDir()
	creds := credsFor(c, prefix)
	creds["dial_timeout"] = "1s"

	m1 := confo.New(confo.WithMirror(dir))
	require.NoError(t, m1.LoadBackend(ctx, "prod", confo.EtcdBackend, creds))
	require.NoError(t, m1.ActivateBackend("prod"))
	require.NoError(t, m1.CreateNamespace(ctx, "app"))
	require.NoError(t, m1.UseNamespace(ctx, "app"))
	require.NoError(t, m1.Set("db", map[string]any{"host": "a", "port": 5432}))
	require.NoError(t, m1.Set("cache", map[string]any{"ttl": 30}))
	require.NoError(t, m1.Persist(ctx))
	require.NoError(t, m1.Close())
	mirrored, err := os.ReadFile(filepath.Join(dir, "prod", "app", "db.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"a","port":5432}`, string(mirrored), "the mirror is in the file backend's layout")

	c.Members[0].Stop(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted { // Terminate needs a running member
			_ = c.Members[0].Restart(t)
		}
	})

	m2 := confo.New(confo.WithMirror(dir))
	closed := false
	t.Cleanup(func() {
		if !closed {
			m2.Close()
		}
	})
	start := time.Now()
	err = m2.LoadBackend(ctx, "prod", confo.EtcdBackend, creds)
	t.Logf("LoadBackend after %v: %v", time.Since(start).Round(time.Millisecond), err)
	require.ErrorIs(t, err, confo.ErrStale)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the dial timeout")
	assert.Contains(t, err.Error(), c.Endpoints()[0])
	require.NoError(t, m2.ActivateBackend("prod"))

	uctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = m2.UseNamespace(uctx, "app")
	cancel()
	t.Logf("UseNamespace: %v", err)
	var stale *confo.StaleError
	require.ErrorAs(t, err, &stale)
	assert.Equal(t, "app", stale.Namespace)
	assert.False(t, stale.Since.IsZero())

	all, err := m2.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"db": {"host": "a", "port": int64(5432)}, "cache": {"ttl": int64(30)}}, all)
	require.ErrorIs(t, m2.SetField("db", "host", "b"), confo.ErrStale)
	require.ErrorIs(t, m2.Persist(ctx), confo.ErrStale)
	_, err = m2.History(ctx, "app", "db")
	require.Error(t, err, "the store is down")

	require.NoError(t, c.Members[0].Restart(t))
	restarted = true
	c.WaitLeader(t)
	_, err = raw.Put(ctx, prefix+"/app/db", `{"host":"c","port":5432}`)
	require.NoError(t, err)

	deadline := time.Now().Add(30 * time.Second)
	for {
		err := m2.UseNamespace(ctx, "app")
		if err == nil {
			break
		}
		require.ErrorIs(t, err, confo.ErrStale)
		require.True(t, time.Now().Before(deadline), "the view did not catch up within 30s: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	// Caught up with the store as of some moment after the member came
	// back: Reload (the store wins) makes it exact.
	require.NoError(t, m2.Reload(ctx))
	host, err := m2.GetField("db", "host")
	require.NoError(t, err)
	assert.Equal(t, "c", host)
	require.NoError(t, m2.SetField("db", "port", 6543))
	require.NoError(t, m2.Persist(ctx))
	stored, _ := etcdValue(t, raw, prefix+"/app/db")
	assert.JSONEq(t, `{"host":"c","port":6543}`, stored)
	b, err := m2.Backend("prod")
	require.NoError(t, err)
	assert.IsType(t, &etcd.Backend{}, b)

	require.NoError(t, m2.Close())
	closed = true
	deadline = time.Now().Add(10 * time.Second)
	for left := confoGoroutines(); len(left) > 0; left = confoGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
