package zookeeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/testserver"
	"github.com/confo-go/confo/presence"
)

// Presence on ZooKeeper: records are ephemeral znodes of the backend's
// session, so the ensemble deletes them when the session ends; closing the
// Reporter deletes them at once, and a client that goes away takes its
// records with it.
func TestPresence(t *testing.T) {
	ctx := t.Context()
	creds := credentials(t)
	b := open(t, creds)
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	revs, err := b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":3306}`)}})
	require.NoError(t, err)
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("zk", b))
	require.NoError(t, m.ActivateBackend("zk"))
	require.NoError(t, m.UseNamespace(ctx, "db"))

	rep, err := presence.Start(ctx, m, presence.Instance{ID: "web-1"}, presence.Options{Interval: 20 * time.Millisecond, TTL: 300 * time.Millisecond})
	require.NoError(t, err)
	l, err := presence.List(ctx, b, "db")
	require.NoError(t, err)
	require.Len(t, l.Instances, 1)
	assert.Equal(t, "web-1", l.Instances[0].ID)
	assert.Equal(t, revs[0], l.Revision)
	assert.Zero(t, l.Instances[0].Lag)
	_, stat, err := b.Conn().Get(b.PresencePath("db", "web-1"))
	require.NoError(t, err)
	assert.Equal(t, b.Conn().SessionID(), stat.EphemeralOwner, "ephemeral, owned by the backend's session")
	names, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"db"}, names, "presence znodes are not namespaces")

	// Another client's instance, whose client goes away.
	other := open(t, creds)
	session, err := other.OpenPresence(ctx, time.Second)
	require.NoError(t, err)
	require.NoError(t, session.Put(ctx, "db", "doomed", []byte(`{"applied":1}`)))
	l, err = presence.List(ctx, b, "db")
	require.NoError(t, err)
	require.Len(t, l.Instances, 2)
	require.NoError(t, other.Close())
	testserver.WaitListed(ctx, t, b, "db", 1, "the gone instance is still listed")

	require.NoError(t, rep.Close(context.Background()))
	l, err = presence.List(ctx, b, "db")
	require.NoError(t, err)
	assert.Empty(t, l.Instances)
}
