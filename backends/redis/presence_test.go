package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/redis"
	"github.com/confo-go/confo/internal/testserver"
	"github.com/confo-go/confo/presence"
)

// Presence on Redis: records are keys with a time to live, refreshed by
// the session; an instance whose process died (its client gone, its session
// never closed) is gone within the TTL, one that closes at once.
func TestPresence(t *testing.T) {
	ctx := t.Context()
	cfg, err := redis.ParseCredentials(credentials(t))
	require.NoError(t, err)
	open := func() *redis.Backend {
		b, err := redis.New(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		return b
	}
	b := open()
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	revs, err := b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":3306}`)}})
	require.NoError(t, err)
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("redis", b))
	require.NoError(t, m.ActivateBackend("redis"))
	require.NoError(t, m.UseNamespace(ctx, "db"))

	const ttl = 300 * time.Millisecond
	rep, err := presence.Start(ctx, m, presence.Instance{ID: "host:8080"}, presence.Options{Interval: 20 * time.Millisecond, TTL: ttl})
	require.NoError(t, err)
	// Another namespace whose name starts like db's: not listed with it.
	require.NoError(t, b.CreateNamespace(ctx, "db:x"))
	other, err := b.OpenPresence(ctx, time.Minute)
	require.NoError(t, err)
	t.Cleanup(func() { other.Close(context.Background()) })
	require.NoError(t, other.Put(ctx, "db:x", "web-9", []byte(`{"applied":1}`)))

	l, err := presence.List(ctx, b, "db")
	require.NoError(t, err)
	require.Len(t, l.Instances, 1)
	assert.Equal(t, "host:8080", l.Instances[0].ID)
	assert.Equal(t, revs[0], l.Revision)
	assert.Zero(t, l.Instances[0].Lag)
	pttl, err := b.Client().PTTL(ctx, b.PresenceKey("db", "host:8080")).Result()
	require.NoError(t, err)
	assert.True(t, pttl > 0 && pttl <= ttl, "time to live %s", pttl)

	// Refreshed beyond several TTLs.
	time.Sleep(4 * ttl)
	l, err = presence.List(ctx, b, "db")
	require.NoError(t, err)
	require.Len(t, l.Instances, 1, "the session refreshes its records")

	// An instance that dies: its client closes, its session never does.
	dying := open()
	dead, err := dying.OpenPresence(ctx, ttl)
	require.NoError(t, err)
	require.NoError(t, dead.Put(ctx, "db", "doomed", []byte(`{"applied":1}`)))
	l, err = presence.List(ctx, b, "db")
	require.NoError(t, err)
	require.Len(t, l.Instances, 2)
	require.NoError(t, dying.Close())
	testserver.WaitListed(ctx, t, b, "db", 1, "the dead instance is still listed")

	require.NoError(t, rep.Close(ctx))
	l, err = presence.List(ctx, b, "db")
	require.NoError(t, err)
	assert.Empty(t, l.Instances, "closed: deleted at once")
}
