package etcd_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// A presence session whose lease etcd lost (revoked here, as expiry would)
// grants a new one and writes its records again, from its keep-alive and
// from Put; Close revokes the lease and with it every record.
func TestPresenceLeaseLost(t *testing.T) {
	ctx := t.Context()
	c := newCluster(t)
	cfg, err := etcd.ParseCredentials(credsFor(c, "/confo"))
	require.NoError(t, err)
	b, err := etcd.New(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	raw := c.Client(0)

	s, err := b.OpenPresence(ctx, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "db", "web-1", []byte(`{"applied":1}`)))
	leaseOf := func(key string) clientv3.LeaseID {
		resp, err := raw.Get(ctx, key)
		require.NoError(t, err)
		if len(resp.Kvs) == 0 {
			return 0
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			require.True(t, time.Now().Before(deadline), "waiting for %s", what)
			time.Sleep(20 * time.Millisecond)
		}
	}
	first := leaseOf(b.PresenceKey("db", "web-1"))
	require.NotZero(t, first)

	// The keep-alive notices the lost lease and writes the record again.
	_, err = raw.Revoke(ctx, first)
	require.NoError(t, err)
	waitFor("the record under a new lease", func() bool {
		l := leaseOf(b.PresenceKey("db", "web-1"))
		return l != 0 && l != first
	})
	second := leaseOf(b.PresenceKey("db", "web-1"))

	// A Put that finds its lease gone renews it and writes every record.
	_, err = raw.Revoke(ctx, second)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "db", "web-2", []byte(`{"applied":2}`)))
	waitFor("both records under one live lease", func() bool {
		l1, l2 := leaseOf(b.PresenceKey("db", "web-1")), leaseOf(b.PresenceKey("db", "web-2"))
		return l1 != 0 && l1 == l2 && l1 != second
	})
	records, _, err := b.ListPresence(ctx, "db")
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"web-1": []byte(`{"applied":1}`), "web-2": []byte(`{"applied":2}`)}, records)

	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "a second Close does nothing")
	records, _, err = b.ListPresence(ctx, "db")
	require.NoError(t, err)
	assert.Empty(t, records, "Close revokes the lease")
	require.ErrorIs(t, s.Put(ctx, "db", "web-3", []byte(`{}`)), confo.ErrClosed)
	require.ErrorIs(t, s.Put(ctx, "db/x", "web-3", []byte(`{}`)), confo.ErrInvalidName)
}
