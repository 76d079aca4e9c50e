package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/postgres"
	"github.com/confo-go/confo/internal/testserver"
)

var server testserver.Once[*testserver.Postgres]

func TestMain(m *testing.M) { os.Exit(server.Run(m)) }

var tables atomic.Int64

// credentials returns credentials for the shared test server with a table
// of their own, so tests do not see each other's data.
func credentials(t testing.TB) confo.Credentials {
	t.Helper()
	srv := server.Get(t, testserver.StartPostgres)
	return confo.Credentials{
		"dsn":          srv.DSN(testserver.PostgresUser, ""),
		"table":        fmt.Sprintf("test%d", tables.Add(1)),
		"dial_timeout": "10s",
	}
}

func open(t testing.TB, creds confo.Credentials) *postgres.Backend {
	t.Helper()
	return testserver.Open(t, creds, postgres.ParseCredentials, postgres.New)
}

func newBackend(t testing.TB) (*postgres.Backend, string) {
	creds := credentials(t)
	return open(t, creds), creds["table"].(string)
}

// putRaw writes value under ns/name with the backend's own pool, as another
// writer following the documented layout would (no guard).
func putRaw(t testing.TB, b *postgres.Backend, table, ns, name string, value []byte) {
	t.Helper()
	ctx := context.Background()
	tbl := pgx.Identifier{table}.Sanitize()
	_, err := b.Pool().Exec(ctx, "INSERT INTO "+pgx.Identifier{table + "_namespaces"}.Sanitize()+" VALUES ($1) ON CONFLICT DO NOTHING", ns)
	require.NoError(t, err)
	_, err = b.Pool().Exec(ctx, "INSERT INTO "+tbl+" (namespace, name, value, revision) VALUES ($1, $2, $3, nextval('"+table+"_revision')) "+
		"ON CONFLICT (namespace, name) DO UPDATE SET value = excluded.value, revision = excluded.revision", ns, name, value)
	require.NoError(t, err)
}

func TestParseCredentials(t *testing.T) {
	def := postgres.Config{Host: "pg0", Port: 5432, SSLMode: "prefer", Table: "confo", DialTimeout: 5 * time.Second}
	with := func(f func(*postgres.Config)) postgres.Config { c := def; f(&c); return c }
	for name, tt := range map[string]struct {
		creds   confo.Credentials
		want    postgres.Config
		wantErr string // the key the error must name
	}{
		"defaults": {creds: confo.Credentials{}, want: def},
		"keys": {
			creds: confo.Credentials{"host": "db", "port": "5433", "user": "app", "password": "pw", "dbname": "cfg",
				"sslmode": "require", "table": "app.settings", "dial_timeout": "2s", "max_conns": 8, "namespaces": "a,b"},
			want: postgres.Config{Host: "db", Port: 5433, User: "app", Password: "pw", DBName: "cfg", SSLMode: "require",
				Table: "app.settings", DialTimeout: 2 * time.Second, MaxConns: 8, Namespaces: []string{"a", "b"}},
		},
		"dsn": {
			creds: confo.Credentials{"dsn": "postgres://app@db/cfg", "password": "pw"},
			want:  postgres.Config{DSN: "postgres://app@db/cfg", Password: "pw", Table: "confo", DialTimeout: 5 * time.Second},
		},
		"no address":    {creds: confo.Credentials{"host": nil}, wantErr: "host"},
		"port alone":    {creds: confo.Credentials{"host": nil, "port": 5432}, wantErr: "host"},
		"typo hots":     {creds: confo.Credentials{"hots": "db"}, wantErr: "host"},
		"typo passwd":   {creds: confo.Credentials{"user": "u", "passwd": "pw"}, wantErr: "password"},
		"host url":      {creds: confo.Credentials{"host": "postgres://db"}, wantErr: "host"},
		"host port":     {creds: confo.Credentials{"host": "db:5432"}, wantErr: "host"},
		"socket dir":    {creds: confo.Credentials{"host": "/run/postgresql"}, want: with(func(c *postgres.Config) { c.Host = "/run/postgresql" })},
		"password only": {creds: confo.Credentials{"password": "pw"}, wantErr: "user"},
		"json port":     {creds: confo.Credentials{"port": float64(6000)}, want: with(func(c *postgres.Config) { c.Port = 6000 })},
		"dsn and host":  {creds: confo.Credentials{"dsn": "postgres://db", "host": "db"}, wantErr: "host"},
		"port range":    {creds: confo.Credentials{"port": 65536}, wantErr: "port"},
		"port type":     {creds: confo.Credentials{"port": []int{1}}, wantErr: "port"},
		"sslmode":       {creds: confo.Credentials{"sslmode": "sometimes"}, wantErr: "sslmode"},
		"table quote":   {creds: confo.Credentials{"table": `x"; DROP TABLE y`}, wantErr: "table"},
		"table parts":   {creds: confo.Credentials{"table": "a.b.c"}, wantErr: "table"},
		"password":      {creds: confo.Credentials{"user": "u", "password": 1234}, wantErr: "password"},
		"timeout":       {creds: confo.Credentials{"dial_timeout": "0s"}, wantErr: "dial_timeout"},
		"namespaces":    {creds: confo.Credentials{"namespaces": []any{"ok", 1}}, wantErr: "namespaces"},
	} {
		t.Run(name, func(t *testing.T) {
			creds := confo.Credentials{}
			if tt.creds["dsn"] == nil {
				creds["host"] = "pg0"
			}
			maps.Copy(creds, tt.creds)
			if creds["host"] == nil {
				delete(creds, "host")
			}
			got, err := postgres.ParseCredentials(creds)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, confo.ErrInvalidCredentials)
				assert.Contains(t, err.Error(), strconv.Quote(tt.wantErr))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMalformedDSNNotShown(t *testing.T) {
	_, err := postgres.New(t.Context(), postgres.Config{DSN: "postgres://app:sup3rsecret@db:notaport/x"})
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Contains(t, err.Error(), `"dsn"`)
	assert.NotContains(t, err.Error(), "sup3rsecret")
}

func TestLayout(t *testing.T) {
	b, table := newBackend(t)
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "database"))
	revs, err := b.Commit(ctx, "database", []confo.Op{{Name: "mysql", Value: []byte(`{"host":"db","port":3306}`)}})
	require.NoError(t, err)

	var (
		value []byte
		host  string
		rev   int64
	)
	err = b.Pool().QueryRow(ctx, "SELECT value, convert_from(value, 'UTF8')::jsonb->>'host', revision FROM "+table+
		" WHERE namespace = 'database' AND name = 'mysql'").Scan(&value, &host, &rev)
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"db","port":3306}`, string(value))
	assert.Equal(t, "db", host)
	assert.Equal(t, revs[0], rev)
	var last int64
	require.NoError(t, b.Pool().QueryRow(ctx, "SELECT last_value FROM "+table+"_revision").Scan(&last))
	assert.Equal(t, rev, last)

	snap, err := b.Load(ctx, "database")
	require.NoError(t, err)
	assert.Equal(t, map[string]confo.Entry{"mysql": {Value: []byte(`{"host":"db","port":3306}`), Revision: revs[0]}}, snap.Entries)
}

func TestSchemaQualifiedTable(t *testing.T) {
	creds := credentials(t)
	creds["table"] = "appschema.settings"
	b := open(t, creds)
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	_, err := b.Commit(t.Context(), "ns", []confo.Op{{Name: "a", Value: []byte(`{}`)}})
	require.NoError(t, err)
	var n int
	require.NoError(t, b.Pool().QueryRow(t.Context(), "SELECT count(*) FROM appschema.settings").Scan(&n))
	assert.Equal(t, 1, n)
	open(t, creds) // a second New finds the tables in place
}

func TestConflictWithRawWrite(t *testing.T) {
	b, table := newBackend(t)
	testserver.ConflictWithRawWrite(t, b, func(t testing.TB, ns, name string, raw []byte) {
		putRaw(t, b, table, ns, name, raw)
	})
}

func TestNamespaces(t *testing.T) {
	b, _ := newBackend(t)
	testserver.Namespaces(t, b, "a'b", `a"b`) // quotes in SQL
}

func TestManagerRoundTrip(t *testing.T) {
	creds := credentials(t)
	testserver.ManagerRoundTrip(t, confo.DatabaseBackend, creds, func(t testing.TB, b confo.Backend, ns, name string, raw []byte) {
		putRaw(t, b.(*postgres.Backend), creds["table"].(string), ns, name, raw)
	})
}

func TestPassword(t *testing.T) {
	srv := server.Get(t, testserver.StartPostgres)
	testserver.Passwords(t, srv.Addr(), testserver.PasswordUserPassword, func(t *testing.T, password string) (confo.Backend, error) {
		creds := confo.Credentials{"host": srv.Host, "port": srv.Port, "user": testserver.PasswordUser,
			"dbname": "postgres", "sslmode": "disable", "table": "pwtest", "dial_timeout": "5s"}
		if password != "" {
			creds["password"] = password
		}
		cfg, err := postgres.ParseCredentials(creds)
		require.NoError(t, err)
		return postgres.New(t.Context(), cfg)
	})
}

func TestUnreachable(t *testing.T) {
	const dialTimeout = 500 * time.Millisecond
	testserver.Unreachable(t, dialTimeout, "s3cret", func(t *testing.T, port int) error {
		cfg, err := postgres.ParseCredentials(confo.Credentials{"host": "127.0.0.1", "port": port, "dial_timeout": dialTimeout.String(),
			"user": "u", "password": "s3cret", "sslmode": "disable"})
		require.NoError(t, err)
		_, err = postgres.New(t.Context(), cfg)
		return err
	})
}

// storeTable maps a backendtest store ID to a table name within
// PostgreSQL's 63-byte identifiers.
func storeTable(store string) string {
	sum := sha256.Sum256([]byte(store))
	return "bt_" + hex.EncodeToString(sum[:10])
}

func TestConformance(t *testing.T) {
	srv := server.Get(t, testserver.StartPostgres)
	open := func(t testing.TB, store string) *postgres.Backend {
		b, err := postgres.New(t.Context(), postgres.Config{DSN: srv.DSN(testserver.PostgresUser, ""), Table: storeTable(store)})
		require.NoError(t, err)
		return b
	}
	raw0 := open(t, "raw") // its pool writes the raw values of every store
	defer raw0.Close()
	backendtest.Run(t, backendtest.Harness{
		Open: func(t testing.TB, store string) confo.Backend { return open(t, store) },
		PutRaw: func(t testing.TB, store, ns, name string, raw []byte) {
			putRaw(t, raw0, storeTable(store), ns, name, raw)
		},
		PutForeign: func(t testing.TB, store, ns, name string, raw []byte) bool {
			if !utf8.ValidString(name) {
				return false // a text column of a UTF-8 database cannot hold it
			}
			putRaw(t, raw0, storeTable(store), ns, name, raw)
			return true
		},
		RawUnwatched: true,
	})
}

func TestWatchBackend(t *testing.T) {
	b, _ := newBackend(t)
	ctx := t.Context()
	_, err := b.Watch(ctx, "missing", 0)
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)

	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	require.NoError(t, b.CreateNamespace(ctx, "other"))
	ch, err := b.Watch(ctx, "ns", 0)
	require.NoError(t, err)
	first := <-ch
	require.NoError(t, first.Err)
	assert.True(t, first.Full)
	assert.Empty(t, first.Changes)

	_, err = b.Commit(ctx, "other", []confo.Op{{Name: "x", Value: []byte(`{}`)}}) // not ns: no batch
	require.NoError(t, err)
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Revision: 0}}) // rolled back? no: a no-op delete commits
	require.NoError(t, err)
	revs, err := b.Commit(ctx, "ns", []confo.Op{{Name: "b", Value: []byte(`{"v":2}`)}})
	require.NoError(t, err)
	var batch confo.WatchBatch
	for batch = range ch {
		require.NoError(t, batch.Err)
		if len(batch.Changes) > 0 {
			break
		}
	}
	assert.False(t, batch.Full)
	assert.Equal(t, []confo.Change{{Name: "b", Value: []byte(`{"v":2}`), Revision: revs[0]}}, batch.Changes)

	require.NoError(t, b.Close())
	for range ch { // Close ends the watch
	}
}

// TestExportConfined plants a row whose name climbs out of a directory, as
// any PostgreSQL client can: confo export writes nothing outside its
// directory.
func TestExportConfined(t *testing.T) {
	b, table := newBackend(t)
	testserver.ExportConfined(t, b, func(t testing.TB, ns, name string, raw []byte) {
		putRaw(t, b, table, ns, name, raw)
	}, "../x", "../../pwn")
}

// TestOutcomeUnknown freezes the server (SIGSTOP, every process) as the
// transaction's COMMIT is sent: Persist fails with ErrOutcomeUnknown, and
// a retry after Reload succeeds.
func TestOutcomeUnknown(t *testing.T) {
	srv := server.Get(t, testserver.StartPostgres)
	b, _ := newBackend(t)
	m := testserver.ManagerOn(t, b, "ns")
	testserver.OutcomeUnknown(t, m, srv.Server, func(freeze func()) {
		var once sync.Once
		restore := postgres.SetBeforeCommit(func() { once.Do(freeze) })
		t.Cleanup(restore)
	})
}

// TestCredentialRules runs the credential rules of the conformance suite.
func TestCredentialRules(t *testing.T) {
	srv := server.Get(t, testserver.StartPostgres)
	backendtest.RunCredentials(t, backendtest.Credentials{
		Kind: confo.DatabaseBackend,
		Valid: func(testing.TB) confo.Credentials {
			return confo.Credentials{"host": srv.Host, "port": srv.Port, "user": testserver.PostgresUser,
				"dbname": "postgres", "sslmode": "disable", "table": "credrules", "dial_timeout": "10s"}
		},
		Addresses: map[string]any{"host": srv.Host, "dsn": srv.DSN(testserver.PostgresUser, "")},
		Malformed: map[string]any{"host": "postgres://db:5432"},
		User:      "user", Password: "password",
	})
}

// TestCrashDurability kills a PostgreSQL server running with fsync and
// synchronous_commit on (every process, SIGKILL) under guarded writers,
// three times, and restarts it: no acknowledged commit is lost.
func TestCrashDurability(t *testing.T) {
	srv, err := testserver.StartPostgresConfig(testserver.PostgresConfig{Durable: true})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	testserver.Crash(t, srv.Server, 3, func(t testing.TB) *confo.Manager {
		b, err := postgres.New(t.Context(), postgres.Config{DSN: srv.DSN(testserver.PostgresUser, ""), Table: "crash", DialTimeout: 10 * time.Second})
		require.NoError(t, err)
		return testserver.ManagerOn(t, b, "crash")
	})
}
