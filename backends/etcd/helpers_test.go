package etcd_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// newCluster starts a one-member etcd in process, listening on loopback TCP
// so that its endpoints look like a real cluster's ("http://127.0.0.1:N").
func newCluster(t *testing.T) *integration.Cluster {
	t.Helper()
	integration.BeforeTestExternal(t) // the package promises outsiders no compatibility: pinned
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 1, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	return c
}

// credsFor returns the credentials of c with the given prefix.
func credsFor(c *integration.Cluster, prefix string) confo.Credentials {
	return confo.Credentials{"endpoints": c.Endpoints(), "prefix": prefix, "dial_timeout": "5s"}
}

// newManager returns a manager with c loaded as backend name under prefix
// and activated.
func newManager(t testing.TB, c *integration.Cluster, name, prefix string) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	require.NoError(t, m.LoadBackend(t.Context(), name, confo.EtcdBackend, credsFor(c, prefix)))
	require.NoError(t, m.ActivateBackend(name))
	return m
}

// newNamespaceManager is newManager with namespace ns created and in use.
func newNamespaceManager(t testing.TB, c *integration.Cluster, name, prefix, ns string) *confo.Manager {
	t.Helper()
	m := newManager(t, c, name, prefix)
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// managerOf returns a Manager whose active backend is b, named "etcd", with
// namespace ns created and in use. The Manager, and so b, is closed when t
// ends.
func managerOf(t testing.TB, b confo.Backend, ns string) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("etcd", b))
	require.NoError(t, m.ActivateBackend("etcd"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// rawClient returns a client of its own on c, for writes "by another
// process".
func rawClient(t testing.TB, c *integration.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return cli
}

// rpcCounter counts the unary gRPC calls a client makes, by method.
type rpcCounter struct {
	txn, rng atomic.Int64
}

func (rc *rpcCounter) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch method {
	case "/etcdserverpb.KV/Txn":
		rc.txn.Add(1)
	case "/etcdserverpb.KV/Range":
		rc.rng.Add(1)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// countingBackend returns a backend on c under prefix whose Txn and Range
// RPCs are counted.
func countingBackend(t testing.TB, c *integration.Cluster, prefix string) (*etcd.Backend, *rpcCounter) {
	t.Helper()
	rc := &rpcCounter{}
	b, err := etcd.New(t.Context(), etcd.Config{
		Endpoints:   c.Endpoints(),
		Prefix:      prefix,
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(rc.intercept)},
	})
	require.NoError(t, err)
	rc.txn.Store(0)
	rc.rng.Store(0)
	return b, rc
}

// etcdValue returns the value stored under key, and whether it exists.
func etcdValue(t testing.TB, cli *clientv3.Client, key string) (string, bool) {
	t.Helper()
	resp, err := cli.Get(t.Context(), key)
	require.NoError(t, err)
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

// uniquePrefix returns a key prefix of its own for a subtest.
var prefixes atomic.Int64

func uniquePrefix(name string) string {
	return fmt.Sprintf("/t%d-%s", prefixes.Add(1), name)
}
