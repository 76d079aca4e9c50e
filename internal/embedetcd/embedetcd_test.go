package embedetcd_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/confo-go/confo/internal/embedetcd"
)

func startServer(t testing.TB) *embedetcd.Server {
	t.Helper()
	s, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func newClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStartPutGet(t *testing.T) {
	s := startServer(t)
	eps := s.Endpoints()
	require.Len(t, eps, 1)
	host, port, err := net.SplitHostPort(eps[0])
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, "0", port)

	c := newClient(t, eps)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = c.Put(ctx, "/confo/database/mysql", `{"host":"localhost"}`)
	require.NoError(t, err)
	resp, err := c.Get(ctx, "/confo/database/mysql")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	assert.Equal(t, `{"host":"localhost"}`, string(resp.Kvs[0].Value))
}

func TestEndpointsIsACopy(t *testing.T) {
	s := startServer(t)
	eps := s.Endpoints()
	eps[0] = "changed"
	assert.NotEqual(t, "changed", s.Endpoints()[0])
}

func TestTwoServersSideBySide(t *testing.T) {
	a, b := startServer(t), startServer(t)
	require.NotEqual(t, a.Endpoints(), b.Endpoints())

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := newClient(t, a.Endpoints()).Put(ctx, "k", "a")
	require.NoError(t, err)
	resp, err := newClient(t, b.Endpoints()).Get(ctx, "k")
	require.NoError(t, err)
	assert.Empty(t, resp.Kvs, "servers must not share data")
}

func TestCloseFreesPort(t *testing.T) {
	s, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	addr := s.Endpoints()[0]
	s.Close()
	s.Close() // a second Close does nothing

	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "port of a closed server must be free")
	require.NoError(t, l.Close())
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := embedetcd.Start(t.Context(), dir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	_, err = c.Put(ctx, "k", "v")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	s.Close()

	s2, err := embedetcd.Start(t.Context(), dir)
	require.NoError(t, err)
	t.Cleanup(s2.Close)
	resp, err := newClient(t, s2.Endpoints()).Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	assert.Equal(t, "v", string(resp.Kvs[0].Value))
}

func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := embedetcd.Start(ctx, t.TempDir())
	require.ErrorIs(t, err, context.Canceled)
}

func TestStartBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := embedetcd.Start(t.Context(), filepath.Join(file, "data"))
	require.Error(t, err)
}

// TestQuiet runs a server in a child process and checks that starting,
// using and closing it prints nothing.
func TestQuiet(t *testing.T) {
	if os.Getenv("EMBEDETCD_QUIET_CHILD") == "1" {
		s, err := embedetcd.Start(context.Background(), os.Getenv("EMBEDETCD_QUIET_DIR"))
		if err != nil {
			os.Exit(2)
		}
		c, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			os.Exit(3)
		}
		if _, err := c.Put(context.Background(), "k", "v"); err != nil {
			os.Exit(4)
		}
		c.Close()
		s.Close()
		os.Exit(0)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestQuiet$")
	cmd.Env = append(os.Environ(), "EMBEDETCD_QUIET_CHILD=1", "EMBEDETCD_QUIET_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child output:\n%s", out)
	assert.Empty(t, string(out))
}
