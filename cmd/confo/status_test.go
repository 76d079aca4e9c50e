package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/presence"
)

// instance starts a manager on s's etcd prefix with namespace ns in use and
// a presence Reporter for it, both closed when the test ends.
func instance(t *testing.T, s *target, ns, id string) *confo.Manager {
	t.Helper()
	prefix := s.flags[len(s.flags)-1]
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	ctx := t.Context()
	require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, confo.Credentials{"endpoints": etcdEndpoints, "prefix": prefix}))
	require.NoError(t, m.ActivateBackend("etcd"))
	require.NoError(t, m.UseNamespace(ctx, ns))
	rep, err := presence.Start(ctx, m, presence.Instance{ID: id, Labels: map[string]string{"version": "1.2"}},
		presence.Options{Interval: 50 * time.Millisecond, TTL: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { rep.Close(context.Background()) })
	return m
}

func TestStatus(t *testing.T) {
	s := etcdStore(t)
	s.ok("ns", "create", "db")
	s.ok("set", "db", "mysql", "port=3306")
	web1 := instance(t, s, "db", "web-1")
	web2 := instance(t, s, "db", "web-2")
	st, err := web1.Status("db")
	require.NoError(t, err)

	out := s.ok("status", "db")
	assert.Contains(t, out, "2 instance(s)")
	assert.Contains(t, out, "INSTANCE")
	assert.Contains(t, out, "web-1")
	assert.Contains(t, out, "version=1.2")
	assert.Contains(t, out, fmt.Sprint(st.Applied))

	listing := decodeJSON[presence.Listing](t, s.ok("status", "db", "--json"))
	require.Len(t, listing.Instances, 2)
	assert.Equal(t, "web-2", listing.Instances[1].ID)

	// A change: web-1 watches and applies it, web-2 does not until it
	// reloads. --wait with a count is met, 100% is not within 1 s.
	events, err := web1.Watch(t.Context(), "db")
	require.NoError(t, err)
	s.ok("set", "db", "mysql", "port=3307")
	var rev int64
	select {
	case ev := <-events:
		rev = ev.Revision
	case <-time.After(60 * time.Second):
		t.Fatal("no watch event")
	}
	out = s.ok("status", "db", "--wait", fmt.Sprint(rev), "--min", "1")
	assert.Contains(t, out, fmt.Sprintf("of 2 instances applied revision %d", rev))
	stderr := s.fails(exitError, "1 of 2 did", "--timeout", "1s", "status", "db", "--wait", fmt.Sprint(rev))
	assert.Contains(t, stderr, "deadline exceeded")

	// web-2 catches up while a --wait for 100% runs.
	done := make(chan result, 1)
	go func() { done <- s.run("status", "db", "--wait", fmt.Sprint(rev), "--min", "100%") }()
	require.NoError(t, web2.Reload(t.Context()))
	r := <-done
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Contains(t, r.stdout, fmt.Sprintf("2 of 2 instances applied revision %d", rev))
}

func TestStatusUsage(t *testing.T) {
	s := etcdStore(t)
	s.fails(exitUsage, "--min needs --wait", "status", "db", "--min", "50%")
	s.fails(exitUsage, "want a percentage", "status", "db", "--wait", "5", "--min", "150%")
	s.fails(exitUsage, "positive store revision", "status", "db", "--wait", "0")
	s.fails(exitUsage, "status: want NS", "status")
	out := s.ok("status", "nobody")
	assert.True(t, strings.HasPrefix(out, "namespace nobody, latest change at revision 0, 0 instance(s)"), out)
}
