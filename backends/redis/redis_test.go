package redis_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/redis"
	"github.com/confo-go/confo/internal/testserver"
)

var server testserver.Once[*testserver.Server]

// quiet drops go-redis's own log lines (dial failures the tests provoke).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{})
	os.Exit(server.Run(m))
}

func startServer() (*testserver.Server, error) {
	return testserver.StartRedis(testserver.RedisConfig{})
}

var prefixes atomic.Int64

// credentials returns credentials for the shared test server under a
// prefix of its own, so tests do not see each other's data.
func credentials(t testing.TB) confo.Credentials {
	t.Helper()
	srv := server.Get(t, startServer)
	return confo.Credentials{
		"host":         srv.Host,
		"port":         srv.Port,
		"prefix":       fmt.Sprintf("test%d", prefixes.Add(1)),
		"dial_timeout": "5s",
	}
}

func newBackend(t testing.TB) *redis.Backend {
	t.Helper()
	return testserver.Open(t, credentials(t), redis.ParseCredentials, redis.New)
}

// putRaw writes value under ns/name as another writer following the
// documented layout would: a new revision from the counter, in one MULTI.
func putRaw(t testing.TB, b *redis.Backend, ns, name string, value []byte) int64 {
	t.Helper()
	ctx := context.Background()
	values, revs, counter := b.Keys(ns)
	var rev *goredis.IntCmd
	_, err := b.Client().TxPipelined(ctx, func(p goredis.Pipeliner) error {
		rev = p.Incr(ctx, counter)
		return nil
	})
	require.NoError(t, err)
	_, err = b.Client().TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.SAdd(ctx, strings.TrimSuffix(counter, "revision")+"namespaces", ns)
		p.HSet(ctx, values, name, value)
		p.HSet(ctx, revs, name, rev.Val())
		return nil
	})
	require.NoError(t, err)
	return rev.Val()
}

func TestParseCredentials(t *testing.T) {
	for name, tt := range map[string]struct {
		creds   confo.Credentials
		want    redis.Config
		wantErr string // the key the error must name
	}{
		"defaults": {
			creds: confo.Credentials{},
			want:  redis.Config{Addr: "r0:6379", Prefix: "confo", DialTimeout: 5 * time.Second},
		},
		"requirepass": {
			creds: confo.Credentials{"user": "default", "password": "pw"},
			want:  redis.Config{Addr: "r0:6379", Username: "default", Password: "pw", Prefix: "confo", DialTimeout: 5 * time.Second},
		},
		"all": {
			creds: confo.Credentials{"host": "cache", "port": "6380", "user": "app", "password": "pw", "db": 3,
				"prefix": "svc", "dial_timeout": "2s", "tls": true, "namespaces": []any{"a", "b"}},
			want: redis.Config{Addr: "cache:6380", Username: "app", Password: "pw", DB: 3, Prefix: "svc",
				DialTimeout: 2 * time.Second, UseTLS: true, Namespaces: []string{"a", "b"}},
		},
		"json numbers": {
			creds: confo.Credentials{"port": float64(7000), "db": float64(1), "dial_timeout": float64(1)},
			want:  redis.Config{Addr: "r0:7000", DB: 1, Prefix: "confo", DialTimeout: time.Second},
		},
		"ipv6 host":        {creds: confo.Credentials{"host": "::1"}, want: redis.Config{Addr: "[::1]:6379", Prefix: "confo", DialTimeout: 5 * time.Second}},
		"no address":       {creds: confo.Credentials{"host": nil}, wantErr: "host"},
		"port alone":       {creds: confo.Credentials{"host": nil, "port": 6379}, wantErr: "host"},
		"typo hots":        {creds: confo.Credentials{"hots": "r1"}, wantErr: "host"},
		"endpoints":        {creds: confo.Credentials{"endpoints": "r1:6379"}, wantErr: "endpoints"},
		"host with port":   {creds: confo.Credentials{"host": "r1:6379"}, wantErr: "host"},
		"host url":         {creds: confo.Credentials{"host": "redis://r1"}, wantErr: "host"},
		"password alone":   {creds: confo.Credentials{"password": "pw"}, wantErr: "user"},
		"port not number":  {creds: confo.Credentials{"port": "x"}, wantErr: "port"},
		"port range":       {creds: confo.Credentials{"port": 70000}, wantErr: "port"},
		"empty host":       {creds: confo.Credentials{"host": " "}, wantErr: "host"},
		"db negative":      {creds: confo.Credentials{"db": -1}, wantErr: "db"},
		"password type":    {creds: confo.Credentials{"user": "u", "password": 12}, wantErr: "password"},
		"tls type":         {creds: confo.Credentials{"tls": "maybe"}, wantErr: "tls"},
		"bad timeout":      {creds: confo.Credentials{"dial_timeout": "soon"}, wantErr: "dial_timeout"},
		"cert without key": {creds: confo.Credentials{"cert_file": "c.pem"}, wantErr: "key_file"},
		"bad namespace":    {creds: confo.Credentials{"namespaces": []any{"a/b"}}, wantErr: "namespaces"},
		"empty prefix":     {creds: confo.Credentials{"prefix": ""}, wantErr: "prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			creds := confo.Credentials{"host": "r0"}
			maps.Copy(creds, tt.creds)
			if creds["host"] == nil {
				delete(creds, "host")
			}
			got, err := redis.ParseCredentials(creds)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, confo.ErrInvalidCredentials)
				assert.Contains(t, err.Error(), strconv.Quote(tt.wantErr))
				if pw, ok := tt.creds["password"].(string); ok {
					assert.NotContains(t, err.Error(), pw)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCAFileMissing(t *testing.T) {
	_, err := redis.New(t.Context(), redis.Config{Addr: "127.0.0.1:1", CAFile: "/nonexistent/ca.pem"})
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Contains(t, err.Error(), "ca_file")
}

func TestLayout(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "database"))
	revs, err := b.Commit(ctx, "database", []confo.Op{{Name: "mysql", Value: []byte(`{"host":"db","port":3306}`)}})
	require.NoError(t, err)
	require.Len(t, revs, 1)

	values, revKey, counter := b.Keys("database")
	raw, err := b.Client().HGet(ctx, values, "mysql").Result()
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"db","port":3306}`, raw)
	stored, err := b.Client().HGet(ctx, revKey, "mysql").Int64()
	require.NoError(t, err)
	assert.Equal(t, revs[0], stored)
	cur, err := b.Client().Get(ctx, counter).Int64()
	require.NoError(t, err)
	assert.Equal(t, revs[0], cur)
	assert.True(t, strings.HasSuffix(values, ":ns:database"), values)

	snap, err := b.Load(ctx, "database")
	require.NoError(t, err)
	assert.Equal(t, map[string]confo.Entry{"mysql": {Value: []byte(`{"host":"db","port":3306}`), Revision: revs[0]}}, snap.Entries)
	assert.Equal(t, revs[0], snap.Revision)
}

func TestNamespaces(t *testing.T) {
	testserver.Namespaces(t, newBackend(t), "a:b") // the key separator
}

func TestConflictWithRawWrite(t *testing.T) {
	b := newBackend(t)
	testserver.ConflictWithRawWrite(t, b, func(t testing.TB, ns, name string, raw []byte) {
		putRaw(t, b, ns, name, raw)
	})
}

func TestValueWithoutRevision(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	values, _, _ := b.Keys("ns")
	require.NoError(t, b.Client().HSet(ctx, values, "hand", `{"by":"redis-cli"}`).Err())

	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	assert.Equal(t, int64(-1), snap.Entries["hand"].Revision)
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "hand", Value: []byte(`{}`)}})
	require.ErrorIs(t, err, confo.ErrConflict, "a value without revision exists")
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "hand", Value: []byte(`{"by":"confo"}`), Revision: -1}})
	require.NoError(t, err)
}

func TestPublishOnCommit(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	sub := b.Client().Subscribe(ctx, b.Channel("ns"))
	defer sub.Close()
	_, err := sub.Receive(ctx) // the subscription confirmation
	require.NoError(t, err)
	revs, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{}`)}})
	require.NoError(t, err)
	msg, err := sub.ReceiveMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(revs[0], 10), msg.Payload)
}

func TestManagerRoundTrip(t *testing.T) {
	testserver.ManagerRoundTrip(t, confo.RedisBackend, credentials(t), func(t testing.TB, b confo.Backend, ns, name string, raw []byte) {
		putRaw(t, b.(*redis.Backend), ns, name, raw)
	})
}

func TestUnreachable(t *testing.T) {
	const dialTimeout = 500 * time.Millisecond
	testserver.Unreachable(t, dialTimeout, "s3cret", func(t *testing.T, port int) error {
		cfg, err := redis.ParseCredentials(confo.Credentials{"host": "127.0.0.1", "port": port, "dial_timeout": dialTimeout.String(), "user": "default", "password": "s3cret"})
		require.NoError(t, err)
		_, err = redis.New(t.Context(), cfg)
		return err
	})
}

func TestPassword(t *testing.T) {
	const secret = "right-horse-battery"
	srv, err := testserver.StartRedis(testserver.RedisConfig{Password: secret})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	testserver.Passwords(t, srv.Addr(), secret, func(t *testing.T, password string) (confo.Backend, error) {
		cfg, err := redis.ParseCredentials(confo.Credentials{"host": srv.Host, "port": srv.Port, "user": "default", "password": password})
		require.NoError(t, err)
		return redis.New(t.Context(), cfg)
	})
}

func TestConformance(t *testing.T) {
	srv := server.Get(t, startServer)
	open := func(t testing.TB, store string) *redis.Backend {
		b, err := redis.New(t.Context(), redis.Config{Addr: srv.Addr(), Prefix: "bt:" + store})
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
			b := open(t, store)
			defer b.Close()
			putRaw(t, b, ns, name, raw) // a hash field holds any bytes
			return true
		},
		RawUnwatched: true,
	})
}

func TestWatchBackend(t *testing.T) {
	b := newBackend(t)
	ctx, cancel := context.WithCancel(t.Context())
	_, err := b.Watch(ctx, "missing", 0)
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)

	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	revs, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)
	ch, err := b.Watch(ctx, "ns", revs[0])
	require.NoError(t, err)
	revs, err = b.Commit(ctx, "ns", []confo.Op{{Name: "b", Value: []byte(`{"v":2}`)}})
	require.NoError(t, err)
	batch := <-ch
	require.NoError(t, batch.Err)
	assert.False(t, batch.Full, "the first read was the state at afterRev")
	assert.Equal(t, revs[0], batch.Revision)
	assert.Equal(t, []confo.Change{{Name: "b", Value: []byte(`{"v":2}`), Revision: revs[0]}}, batch.Changes)

	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Revision: revs[0] - 1}})
	require.NoError(t, err)
	batch = <-ch
	require.NoError(t, batch.Err)
	require.Len(t, batch.Changes, 1)
	assert.Equal(t, "a", batch.Changes[0].Name)
	assert.Nil(t, batch.Changes[0].Value, "a delete")

	cancel()
	for range ch { // closed once ctx is done
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	b := newBackend(t)
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	ch, err := b.Watch(t.Context(), "ns", 0)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	var last confo.WatchBatch
	for batch := range ch {
		last = batch
	}
	if last.Err != nil {
		require.ErrorIs(t, last.Err, confo.ErrClosed)
	}
}

func TestTLS(t *testing.T) {
	certs, err := testserver.MakeCerts(t.TempDir())
	require.NoError(t, err)
	srv, err := testserver.StartRedis(testserver.RedisConfig{CertFile: certs.CertFile, KeyFile: certs.KeyFile})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	for name, tt := range map[string]struct {
		creds   confo.Credentials
		wantErr bool
	}{
		"ca_file":         {creds: confo.Credentials{"ca_file": certs.CAFile}},
		"tls and ca_file": {creds: confo.Credentials{"tls": true, "ca_file": certs.CAFile}},
		"unknown CA":      {creds: confo.Credentials{"tls": true}, wantErr: true},
		"plain text":      {creds: confo.Credentials{}, wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			tt.creds["host"], tt.creds["port"], tt.creds["dial_timeout"] = "127.0.0.1", srv.Port, "2s"
			tt.creds["prefix"] = t.Name()
			cfg, err := redis.ParseCredentials(tt.creds)
			require.NoError(t, err)
			b, err := redis.New(t.Context(), cfg)
			if tt.wantErr {
				require.Error(t, err)
				t.Log(err)
				assert.Contains(t, err.Error(), srv.Addr())
				return
			}
			require.NoError(t, err)
			defer b.Close()
			require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
			revs, err := b.Commit(t.Context(), "ns", []confo.Op{{Name: "a", Value: []byte(`{}`)}})
			require.NoError(t, err)
			assert.NotZero(t, revs[0])
		})
	}
}

// TestExportConfined plants configuration names that climb out of a
// directory, as any Redis client can (HSET confo:ns:<ns> ../../pwn ...):
// confo export writes nothing outside its directory.
func TestExportConfined(t *testing.T) {
	b := newBackend(t)
	testserver.ExportConfined(t, b, func(t testing.TB, ns, name string, raw []byte) {
		putRaw(t, b, ns, name, raw)
	}, "../../pwn", "..", "a/../../b")
}

// TestOutcomeUnknown freezes the server (SIGSTOP) as the commit script is
// sent: Persist fails with ErrOutcomeUnknown, the script runs once the
// server resumes, and a retry after Reload succeeds instead of conflicting
// with its own write.
func TestOutcomeUnknown(t *testing.T) {
	srv := server.Get(t, startServer)
	m := testserver.ManagerOn(t, newBackend(t), "ns")
	testserver.OutcomeUnknown(t, m, srv, func(freeze func()) { freeze() })
}

// TestCredentialRules runs the credential rules of the conformance suite.
func TestCredentialRules(t *testing.T) {
	backendtest.RunCredentials(t, backendtest.Credentials{
		Kind:      confo.RedisBackend,
		Valid:     credentials,
		Addresses: map[string]any{"host": "127.0.0.1"},
		Malformed: map[string]any{"host": "10.0.0.5:6379"},
		User:      "user", Password: "password",
	})
}

// TestCrashDurability kills a Redis server that keeps an append-only file
// synced before each reply (appendfsync always) under guarded writers,
// three times, and restarts it: no acknowledged commit is lost.
func TestCrashDurability(t *testing.T) {
	srv, err := testserver.StartRedis(testserver.RedisConfig{Durable: true})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	testserver.Crash(t, srv, 3, func(t testing.TB) *confo.Manager {
		b, err := redis.New(t.Context(), redis.Config{Addr: srv.Addr(), Prefix: "crash", DialTimeout: 5 * time.Second})
		require.NoError(t, err)
		return testserver.ManagerOn(t, b, "crash")
	})
}
