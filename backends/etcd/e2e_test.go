//go:build e2e

package etcd_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// e2eCluster returns the endpoints of the real cluster named by
// CONFO_ETCD_ENDPOINTS (comma-separated), a client of it, and a key prefix
// of this run's own that is removed at the end. `make e2e` starts Debian's
// etcd on loopback and sets the variable.
func e2eCluster(t *testing.T) ([]string, *clientv3.Client, string) {
	t.Helper()
	var endpoints []string
	for ep := range strings.SplitSeq(os.Getenv("CONFO_ETCD_ENDPOINTS"), ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			endpoints = append(endpoints, ep)
		}
	}
	if len(endpoints) == 0 {
		t.Fatal("CONFO_ETCD_ENDPOINTS is empty: set it to a running etcd's client endpoints " +
			"(comma-separated), or run `make e2e`, which starts /usr/bin/etcd on loopback")
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	prefix := fmt.Sprintf("/confo-e2e-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		// Both the configurations and the namespace markers ("<prefix>//ns").
		// t.Context() is canceled before cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := raw.Delete(ctx, prefix+"/", clientv3.WithPrefix())
		assert.NoError(t, err)
	})
	return endpoints, raw, prefix
}

// TestE2EWalkthrough runs the seed's walk-through against a real etcd
// server (Debian's etcd 3.4 in `make e2e`), proving the client of v3.6
// works with a server of another version.
func TestE2EWalkthrough(t *testing.T) {
	endpoints, raw, prefix := e2eCluster(t)
	status, err := raw.Status(t.Context(), endpoints[0])
	require.NoError(t, err)
	t.Logf("etcd server %s at %s", status.Version, endpoints[0])
	walkthrough(t, confo.Credentials{"endpoints": endpoints, "prefix": prefix}, prefix, raw)
}

// TestE2EConflictAndBatches checks the guarded transactions and the batch
// split on the real server.
func TestE2EConflictAndBatches(t *testing.T) {
	endpoints, raw, prefix := e2eCluster(t)
	ctx := t.Context()
	creds := confo.Credentials{"endpoints": endpoints, "prefix": prefix, "namespaces": "big"}

	first, second := confo.New(), confo.New()
	t.Cleanup(func() { first.Close(); second.Close() })
	for _, m := range []*confo.Manager{first, second} {
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.UseNamespace(ctx, "big"))
	}
	const n = 1000
	for i := range n {
		require.NoError(t, first.Set(fmt.Sprintf("c%04d", i), map[string]any{"i": i}))
	}
	require.NoError(t, first.Persist(ctx))
	resp, err := raw.Get(ctx, prefix+"/big/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	assert.EqualValues(t, n, resp.Count)

	require.NoError(t, second.Reload(ctx))
	require.NoError(t, first.SetField("c0001", "by", "first"))
	require.NoError(t, second.SetField("c0001", "by", "second"))
	require.NoError(t, first.Persist(ctx))
	err = second.Persist(ctx)
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), `"c0001"`)

	b, err := etcd.New(ctx, etcd.Config{Endpoints: endpoints, Prefix: prefix, PageSize: 300})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	snap, err := b.Load(ctx, "big")
	require.NoError(t, err)
	assert.Len(t, snap.Entries, n)
	assert.JSONEq(t, `{"i":1,"by":"first"}`, string(snap.Entries["c0001"].Value))
}
