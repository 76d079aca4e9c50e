package etcd_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// TestStoreGoesAway stops the only member of a cluster under a loaded
// manager: Persist and Reload fail within the caller's deadline, naming the
// endpoint, Persist keeps the unsaved changes and Reload the view, and both
// succeed once the member is back. (An unreachable store at start is
// TestUnreachable.)
func TestStoreGoesAway(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	prefix := uniquePrefix("away")
	m := newNamespaceManager(t, c, "etcd", prefix, "app")
	raw := rawClient(t, c)
	require.NoError(t, m.Set("db", map[string]any{"host": "a", "port": 5432}))
	require.NoError(t, m.Persist(ctx))
	endpoint := c.Endpoints()[0]

	c.Members[0].Stop(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted { // Terminate needs a running member
			_ = c.Members[0].Restart(t)
		}
	})

	t.Run("Persist", func(t *testing.T) {
		require.NoError(t, m.SetField("db", "host", "b"))
		require.NoError(t, m.Set("cache", map[string]any{"ttl": 30}))
		want, err := m.GetAll()
		require.NoError(t, err)

		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		err = m.Persist(pctx)
		elapsed := time.Since(start)
		t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, confo.ErrOutcomeUnknown, "the client cannot know whether etcd got it")
		assert.Contains(t, err.Error(), endpoint)
		assert.Contains(t, err.Error(), `"app"`)
		assert.Less(t, elapsed, 5*time.Second, "bounded by the context (1s), loosely")

		got, err := m.GetAll()
		require.NoError(t, err)
		assert.Equal(t, want, got, "the unsaved changes are kept")
	})

	t.Run("Reload", func(t *testing.T) {
		before, err := m.GetAll()
		require.NoError(t, err)
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		err = m.Reload(rctx)
		elapsed := time.Since(start)
		t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), endpoint)
		assert.Less(t, elapsed, 5*time.Second)
		after, err := m.GetAll()
		require.NoError(t, err)
		assert.Equal(t, before, after, "the view is unchanged")
	})

	t.Run("Namespaces", func(t *testing.T) {
		nctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := m.GetNamespaces(nctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), endpoint)
	})

	require.NoError(t, c.Members[0].Restart(t))
	restarted = true
	c.WaitLeader(t)

	t.Run("RetryAfterRecovery", func(t *testing.T) {
		want, err := m.GetAll()
		require.NoError(t, err)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, m.Persist(pctx), "the kept changes persist once the store is back")
		stored, ok := etcdValue(t, raw, prefix+"/app/db")
		require.True(t, ok)
		assert.JSONEq(t, `{"host":"b","port":5432}`, stored)
		stored, ok = etcdValue(t, raw, prefix+"/app/cache")
		require.True(t, ok)
		assert.JSONEq(t, `{"ttl":30}`, stored)

		require.NoError(t, m.Reload(pctx))
		got, err := m.GetAll()
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}

// TestUnreachable checks that a closed loopback port fails LoadBackend
// within the dial timeout, naming the endpoint and never the password.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	endpoint := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	const password = "s3cret-Passw0rd"

	for name, creds := range map[string]confo.Credentials{
		"host and port": {"host": "127.0.0.1", "port": port, "dial_timeout": "1s"},
		"with password": {"host": "127.0.0.1", "port": port, "dial_timeout": time.Second, "user": "app", "password": password},
		"endpoints":     {"endpoints": []any{"http://" + endpoint}, "dial_timeout": 1.0, "password": password, "user": "app"},
	} {
		t.Run(name, func(t *testing.T) {
			m := confo.New()
			t.Cleanup(func() { m.Close() })
			start := time.Now()
			err := m.LoadBackend(t.Context(), "down", confo.EtcdBackend, creds)
			elapsed := time.Since(start)
			require.Error(t, err)
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
			assert.Less(t, elapsed, 5*time.Second)
			assert.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "it waits for the dial timeout")
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), endpoint)
			assert.NotContains(t, err.Error(), password)
			assert.Empty(t, m.GetBackends().All)
		})
	}

	t.Run("caller's deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := etcd.New(ctx, etcd.Config{Endpoints: []string{endpoint}, DialTimeout: time.Minute})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}
