package zookeeper_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/zookeeper"
	"github.com/confo-go/confo/internal/testserver"
)

// TestCrashDurability kills a ZooKeeper server that syncs its transaction
// log before acknowledging (forceSync=yes) under guarded writers, three
// times, and restarts it: no acknowledged commit is lost.
func TestCrashDurability(t *testing.T) {
	srv, err := testserver.StartZookeeperConfig(testserver.ZookeeperConfig{Durable: true})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	testserver.Crash(t, srv, 3, func(t testing.TB) *confo.Manager {
		b, err := zookeeper.New(t.Context(), zookeeper.Config{Servers: []string{srv.Addr()}, Prefix: "/crash", DialTimeout: 5 * time.Second})
		require.NoError(t, err)
		return testserver.ManagerOn(t, b, "crash")
	})
}
