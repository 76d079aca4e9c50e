package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/confo-go/confo/internal/embedetcd"
)

// TestPasswordFromEnvironment runs against an etcd of its own with auth
// enabled: the password comes from CONFO_PASSWORD, is never asked for when
// stdin is not a terminal, and never appears in a message.
func TestPasswordFromEnvironment(t *testing.T) {
	t.Parallel()
	srv, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	const password = "s3cret-Pa55"
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = cli.UserAdd(ctx, "root", password)
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	_, err = cli.AuthEnable(ctx)
	require.NoError(t, err)
	require.NoError(t, cli.Close())

	s := &target{t: t, kind: "etcd", flags: []string{"--endpoints", srv.Endpoints()[0], "--user", "root"},
		env: []string{"CONFO_PASSWORD=" + password}}
	s.ok("ns", "create", "secure")
	assert.Equal(t, "NAMESPACE\nsecure\n", s.ok("ns", "ls"))

	// the user from the environment too
	r := execConfo(t, "", []string{"CONFO_USER=root", "CONFO_PASSWORD=" + password, "CONFO_ETCD_ENDPOINTS=" + srv.Endpoints()[0]}, "ns", "ls")
	require.Equal(t, 0, r.code, r.stderr)

	// a wrong password fails without showing it; no password, no prompt
	for _, env := range [][]string{{"CONFO_PASSWORD=wrong-" + password}, nil} {
		s.env = env
		r := s.run("ns", "ls")
		assert.Equal(t, 1, r.code, r.stderr)
		assert.Contains(t, r.stderr, "confo: load backend \"etcd\"")
		assert.NotContains(t, r.stderr, password)
		assert.NotContains(t, r.stderr, "Password for")
	}
}
