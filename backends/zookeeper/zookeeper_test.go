package zookeeper_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/zookeeper"
	"github.com/confo-go/confo/internal/testserver"
)

var server testserver.Once[*testserver.Server]

func TestMain(m *testing.M) { os.Exit(server.Run(m)) }

var prefixes atomic.Int64

// credentials returns credentials for the shared test server under a
// prefix of its own, so tests do not see each other's data.
func credentials(t testing.TB) confo.Credentials {
	t.Helper()
	srv := server.Get(t, testserver.StartZookeeper)
	return confo.Credentials{
		"zookeeper_host": srv.Host,
		"zookeeper_port": srv.Port,
		"prefix":         fmt.Sprintf("/test%d/confo", prefixes.Add(1)),
		"dial_timeout":   "10s",
	}
}

func open(t testing.TB, creds confo.Credentials) *zookeeper.Backend {
	t.Helper()
	return testserver.Open(t, creds, zookeeper.ParseCredentials, zookeeper.New)
}

func newBackend(t testing.TB) *zookeeper.Backend { return open(t, credentials(t)) }

// putRaw writes value under ns/name with the backend's own session, as
// another writer would (no guard), creating the znodes as needed.
func putRaw(t testing.TB, b *zookeeper.Backend, ns, name string, value []byte) {
	t.Helper()
	c := b.Conn()
	if _, err := c.Create(b.Path(ns, ""), nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		require.NoError(t, err)
	}
	_, err := c.Set(b.Path(ns, name), value, -1)
	if errors.Is(err, zk.ErrNoNode) {
		_, err = c.Create(b.Path(ns, name), value, 0, zk.WorldACL(zk.PermAll))
	}
	require.NoError(t, err)
}

func TestParseCredentials(t *testing.T) {
	def := zookeeper.Config{Servers: []string{"zk0:2181"}, Prefix: "/confo", DialTimeout: 5 * time.Second,
		SessionTimeout: 10 * time.Second, MaxOps: 128, MaxRequestBytes: 0xfffff}
	with := func(f func(*zookeeper.Config)) zookeeper.Config { c := def; f(&c); return c }
	for name, tt := range map[string]struct {
		creds   confo.Credentials
		want    zookeeper.Config
		wantErr string // the key the error must name
	}{
		"defaults":         {creds: confo.Credentials{}, want: def},
		"no address":       {creds: confo.Credentials{"zookeeper_host": nil}, wantErr: "zookeeper_host"},
		"port alone":       {creds: confo.Credentials{"zookeeper_host": nil, "zookeeper_port": 2181}, wantErr: "zookeeper_host"},
		"typo host":        {creds: confo.Credentials{"zookeeper_hosts": "zk1"}, wantErr: "zookeeper_host"},
		"typo prefx":       {creds: confo.Credentials{"prefx": "/x"}, wantErr: "prefix"},
		"common host":      {creds: confo.Credentials{"host": "zk1"}, wantErr: "zookeeper_host"},
		"host is url":      {creds: confo.Credentials{"zookeeper_host": "http://zk1:2181"}, wantErr: "zookeeper_host"},
		"host no port":     {creds: confo.Credentials{"zookeeper_host": "zk1:"}, wantErr: "zookeeper_host"},
		"host with spaces": {creds: confo.Credentials{"zookeeper_host": "zk 1"}, wantErr: "zookeeper_host"},
		"original keys": {
			creds: confo.Credentials{"zookeeper_host": "zk1", "zookeeper_port": 2182, "zookeeper_user": "app", "zookeeper_passwd": "pw"},
			want:  with(func(c *zookeeper.Config) { c.Servers = []string{"zk1:2182"}; c.User = "app"; c.Password = "pw" }),
		},
		"host list": {
			creds: confo.Credentials{"zookeeper_host": "zk1, zk2:2000,[::1]", "zookeeper_port": "2190"},
			want:  with(func(c *zookeeper.Config) { c.Servers = []string{"zk1:2190", "zk2:2000", "[::1]:2190"} }),
		},
		"others": {
			creds: confo.Credentials{"prefix": "/a/b/", "dial_timeout": float64(2), "session_timeout": "4s", "max_ops": 10, "namespaces": []string{"x"}},
			want: with(func(c *zookeeper.Config) {
				c.Prefix = "/a/b"
				c.DialTimeout = 2 * time.Second
				c.SessionTimeout = 4 * time.Second
				c.MaxOps = 10
				c.Namespaces = []string{"x"}
			}),
		},
		"port range":            {creds: confo.Credentials{"zookeeper_port": 0}, wantErr: "zookeeper_port"},
		"port type":             {creds: confo.Credentials{"zookeeper_port": true}, wantErr: "zookeeper_port"},
		"bad host port":         {creds: confo.Credentials{"zookeeper_host": "zk1:http"}, wantErr: "zookeeper_host"},
		"empty host list":       {creds: confo.Credentials{"zookeeper_host": []string{}}, wantErr: "zookeeper_host"},
		"password without user": {creds: confo.Credentials{"zookeeper_passwd": "pw"}, wantErr: "zookeeper_user"},
		"user type":             {creds: confo.Credentials{"zookeeper_user": 1}, wantErr: "zookeeper_user"},
		"relative prefix":       {creds: confo.Credentials{"prefix": "confo"}, wantErr: "prefix"},
		"root prefix":           {creds: confo.Credentials{"prefix": "/"}, wantErr: "prefix"},
		"bad timeout":           {creds: confo.Credentials{"dial_timeout": "-1s"}, wantErr: "dial_timeout"},
		"bad max ops":           {creds: confo.Credentials{"max_ops": 0}, wantErr: "max_ops"},
		"bad namespace":         {creds: confo.Credentials{"namespaces": "a,.."}, wantErr: "namespaces"},
	} {
		t.Run(name, func(t *testing.T) {
			creds := confo.Credentials{"zookeeper_host": "zk0"}
			maps.Copy(creds, tt.creds)
			if creds["zookeeper_host"] == nil {
				delete(creds, "zookeeper_host")
			}
			got, err := zookeeper.ParseCredentials(creds)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, confo.ErrInvalidCredentials)
				assert.Contains(t, err.Error(), strconv.Quote(tt.wantErr))
				assert.NotContains(t, err.Error(), "pw")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLayout(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "database"))
	revs, err := b.Commit(ctx, "database", []confo.Op{{Name: "mysql", Value: []byte(`{"host":"db","port":3306}`)}})
	require.NoError(t, err)

	data, st, err := b.Conn().Get(b.Path("database", "mysql"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"db","port":3306}`, string(data))
	assert.Equal(t, st.Mzxid, revs[0])
	assert.Regexp(t, `^/test\d+/confo/database/mysql$`, b.Path("database", "mysql"))

	names, _, err := b.Conn().Children(b.Path("database", "")[:len(b.Path("database", ""))-len("/database")])
	require.NoError(t, err)
	assert.Equal(t, []string{"database"}, names)

	snap, err := b.Load(ctx, "database")
	require.NoError(t, err)
	assert.Equal(t, map[string]confo.Entry{"mysql": {Value: []byte(`{"host":"db","port":3306}`), Revision: revs[0]}}, snap.Entries)
	assert.GreaterOrEqual(t, snap.Revision, revs[0])
}

func TestNamespaces(t *testing.T) {
	testserver.Namespaces(t, newBackend(t), "zookeeper", "a:b") // a reserved name at the root, not under a prefix
}

func TestConflictWithRawWrite(t *testing.T) {
	b := newBackend(t)
	testserver.ConflictWithRawWrite(t, b, func(t testing.TB, ns, name string, raw []byte) {
		putRaw(t, b, ns, name, raw)
	})
}

// TestConflictAfterRecreate is why revisions are mzxids: a znode deleted and
// created again has its version back at 0, yet it changed.
func TestConflictAfterRecreate(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	revs, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)
	require.NoError(t, b.Conn().Delete(b.Path("ns", "a"), -1))
	putRaw(t, b, "ns", "a", []byte(`{"v":"recreated"}`))

	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"v":2}`), Revision: revs[0]}})
	require.ErrorIs(t, err, confo.ErrConflict)
	data, _, err := b.Conn().Get(b.Path("ns", "a"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":"recreated"}`, string(data))
}

func TestManagerRoundTrip(t *testing.T) {
	testserver.ManagerRoundTrip(t, confo.ZookeeperBackend, credentials(t), func(t testing.TB, b confo.Backend, ns, name string, raw []byte) {
		putRaw(t, b.(*zookeeper.Backend), ns, name, raw)
	})
}

func TestDigestAuth(t *testing.T) {
	const secret = "zk-right-secret"
	creds := credentials(t)
	creds["zookeeper_user"] = "alice"
	creds["zookeeper_passwd"] = secret
	creds["namespaces"] = "private"
	owner := open(t, creds)
	acl, _, err := owner.Conn().GetACL(owner.Path("private", ""))
	require.NoError(t, err)
	assert.Equal(t, zk.DigestACL(zk.PermAll, "alice", secret), acl)

	for name, c := range map[string]confo.Credentials{
		"wrong password": {"zookeeper_user": "alice", "zookeeper_passwd": "wrong-secret"},
		"other user":     {"zookeeper_user": "bob", "zookeeper_passwd": secret},
		"no user":        {},
	} {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"zookeeper_host", "zookeeper_port", "prefix"} {
				c[k] = creds[k]
			}
			cfg, err := zookeeper.ParseCredentials(c)
			require.NoError(t, err)
			_, err = zookeeper.New(t.Context(), cfg)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			t.Log(err)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "wrong-secret")
			assert.Contains(t, err.Error(), creds["prefix"].(string))
		})
	}
}

func TestUnreachable(t *testing.T) {
	const dialTimeout = 700 * time.Millisecond
	testserver.Unreachable(t, dialTimeout, "s3cret", func(t *testing.T, port int) error {
		cfg, err := zookeeper.ParseCredentials(confo.Credentials{"zookeeper_host": "127.0.0.1", "zookeeper_port": port, "dial_timeout": dialTimeout.String(),
			"zookeeper_user": "u", "zookeeper_passwd": "s3cret"})
		require.NoError(t, err)
		_, err = zookeeper.New(t.Context(), cfg)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		return err
	})
}

func TestConformance(t *testing.T) {
	srv := server.Get(t, testserver.StartZookeeper)
	open := func(t testing.TB, store string) *zookeeper.Backend {
		b, err := zookeeper.New(t.Context(), zookeeper.Config{Servers: []string{srv.Addr()}, Prefix: "/bt/" + store})
		require.NoError(t, err)
		return b
	}
	backendtest.Run(t, backendtest.Harness{
		Open: func(t testing.TB, store string) confo.Backend { return open(t, store) },
		PutRaw: func(t testing.TB, store, ns, name string, raw []byte) {
			b := open(t, store)
			defer b.Close()
			putRaw(t, b, ns, name, raw)
		},
		PutForeign: func(t testing.TB, store, ns, name string, raw []byte) bool {
			// A znode's name is one path element: not empty, no "/",
			// not "." or "..", no control character, valid UTF-8.
			if name == "" || name == "." || name == ".." || strings.ContainsFunc(name, func(r rune) bool {
				return r == '/' || r < 0x20 || r == utf8.RuneError
			}) {
				return false
			}
			b := open(t, store)
			defer b.Close()
			putRaw(t, b, ns, name, raw)
			return true
		},
	})
}

func TestWatch(t *testing.T) {
	ctx := t.Context()
	creds := credentials(t)
	creds["namespaces"] = []string{"database"}
	watcher := testserver.LoadManager(t, confo.ZookeeperBackend, creds, "database")
	writer := testserver.LoadManager(t, confo.ZookeeperBackend, creds, "database")
	events, err := watcher.Watch(ctx, "database")
	require.NoError(t, err)

	next := func() confo.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event within 10s")
			return confo.Event{}
		}
	}
	require.NoError(t, writer.Set("mysql", map[string]any{"port": 3306}))
	require.NoError(t, writer.Persist(ctx))
	ev := next()
	assert.Equal(t, confo.EventPut, ev.Type)
	assert.Equal(t, "mysql", ev.Name)
	assert.Equal(t, map[string]any{"port": int64(3306)}, ev.Value)
	got, err := watcher.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, ev.Value, got, "the view holds the change before the event")

	// a write by another tool (no namespace znode write) is seen too
	b, err := writer.Backend(string(confo.ZookeeperBackend))
	require.NoError(t, err)
	putRaw(t, b.(*zookeeper.Backend), "database", "mysql", []byte(`{"port":3307}`))
	ev = next()
	assert.Equal(t, confo.EventPut, ev.Type)
	assert.Equal(t, map[string]any{"port": int64(3307)}, ev.Value)

	require.NoError(t, writer.Reload(ctx))
	require.NoError(t, writer.Delete("mysql"))
	require.NoError(t, writer.Persist(ctx))
	ev = next()
	assert.Equal(t, confo.EventDelete, ev.Type)
	assert.Equal(t, "mysql", ev.Name)
}

func TestWatchBackend(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	_, err := b.Watch(ctx, "missing", 0)
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)

	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)
	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	ch, err := b.Watch(ctx, "ns", snap.Revision)
	require.NoError(t, err)

	putRaw(t, b, "ns", "b", []byte(`{"v":2}`)) // created by another tool
	batch := <-ch
	require.NoError(t, batch.Err)
	assert.False(t, batch.Full, "the first read was the state at afterRev")
	assert.Greater(t, batch.Revision, snap.Revision)
	require.Len(t, batch.Changes, 1, "nothing up to afterRev is sent again")
	assert.Equal(t, "b", batch.Changes[0].Name)

	// the namespace removed: the watch ends with ErrNamespaceNotFound
	for _, name := range []string{"a", "b"} {
		require.NoError(t, b.Conn().Delete(b.Path("ns", name), -1))
	}
	require.NoError(t, b.Conn().Delete(b.Path("ns", ""), -1))
	var last confo.WatchBatch
	for batch := range ch {
		last = batch
	}
	require.ErrorIs(t, last.Err, confo.ErrNamespaceNotFound)
}

func TestWatchEndsOnClose(t *testing.T) {
	b := newBackend(t)
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	ch, err := b.Watch(t.Context(), "ns", 0)
	require.NoError(t, err)
	<-ch // the first Full batch
	require.NoError(t, b.Close())
	for range ch {
	}
}

func TestNamesZooKeeperRefuses(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	const name = "a\ue000b" // a valid confo name, a forbidden znode name
	require.NoError(t, confo.ValidateName(name))
	require.ErrorIs(t, b.CreateNamespace(ctx, name), confo.ErrInvalidName)
	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	_, err := b.Commit(ctx, "ns", []confo.Op{{Name: name, Value: []byte(`{}`)}})
	require.ErrorIs(t, err, confo.ErrInvalidName)
	assert.Contains(t, err.Error(), strconv.Quote(b.Path("ns", name)))
	_, err = b.Load(ctx, name)
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound, "it cannot exist")
}

// TestOutcomeUnknown freezes the server (SIGSTOP) between the commit's
// read of the versions and its multi: Persist fails with ErrOutcomeUnknown,
// and a retry after Reload succeeds.
func TestOutcomeUnknown(t *testing.T) {
	srv := server.Get(t, testserver.StartZookeeper)
	m := testserver.ManagerOn(t, newBackend(t), "ns")
	testserver.OutcomeUnknown(t, m, srv, func(freeze func()) {
		var once sync.Once
		restore := zookeeper.SetBeforeMulti(func() { once.Do(freeze) })
		t.Cleanup(restore)
	})
}

// TestCredentialRules runs the credential rules of the conformance suite.
func TestCredentialRules(t *testing.T) {
	backendtest.RunCredentials(t, backendtest.Credentials{
		Kind:      confo.ZookeeperBackend,
		Valid:     credentials,
		Addresses: map[string]any{"zookeeper_host": "127.0.0.1"},
		Malformed: map[string]any{"zookeeper_host": "zk1:nonsense"},
		User:      "zookeeper_user", Password: "zookeeper_passwd",
	})
}
