package testserver

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// Unreachable checks how a backend fails to reach a server that is not
// there, in two subtests: "silent", a port that accepts connections and
// never answers, and "refused", a port nothing listens on. open connects
// to 127.0.0.1:port with a dial timeout of dialTimeout and secret among its
// credentials, and returns the error. That error must come within
// dialTimeout (plus slack for a loaded machine), name 127.0.0.1:port and
// not show secret.
func Unreachable(t *testing.T, dialTimeout time.Duration, secret string, open func(t *testing.T, port int) error) {
	t.Helper()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	refused, err := FreePort()
	require.NoError(t, err)

	for name, port := range map[string]int{"silent": silent.Addr().(*net.TCPAddr).Port, "refused": refused} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := open(t, port)
			elapsed := time.Since(start)
			require.Error(t, err)
			t.Log(err)
			assert.Less(t, elapsed, dialTimeout+1500*time.Millisecond, "dial_timeout plus slack for a loaded machine")
			assert.Contains(t, err.Error(), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

// Passwords checks password authentication against the server at addr,
// whose password is right, in three subtests: with the right password the
// backend connects and creates a namespace; with a wrong one or none it
// fails with confo.ErrInvalidCredentials, naming addr and showing no
// password. open connects with password ("" for none).
func Passwords(t *testing.T, addr, right string, open func(t *testing.T, password string) (confo.Backend, error)) {
	t.Helper()
	const wrong = "wrong-password"
	for name, tt := range map[string]struct {
		password string
		wantErr  error
	}{
		"right":   {password: right},
		"wrong":   {password: wrong, wantErr: confo.ErrInvalidCredentials},
		"missing": {wantErr: confo.ErrInvalidCredentials},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := open(t, tt.password)
			require.ErrorIs(t, err, tt.wantErr)
			if err != nil {
				t.Log(err)
				assert.Contains(t, err.Error(), addr)
				assert.NotContains(t, err.Error(), right)
				assert.NotContains(t, err.Error(), wrong)
				return
			}
			defer b.Close()
			require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
		})
	}
}

// LoadManager returns a Manager that has loaded a backend of type kind
// from creds, under the name string(kind), made it active and uses
// namespace ns. The Manager is closed when t ends.
func LoadManager(t testing.TB, kind confo.BackendType, creds confo.Credentials, ns string) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.LoadBackend(t.Context(), string(kind), kind, creds))
	require.NoError(t, m.ActivateBackend(string(kind)))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// ManagerRoundTrip checks a backend of type kind through the registry: two
// managers load it from creds, which create namespace "database" at load;
// what one persists the other reloads, with the same Go values; a stale
// change conflicts; and a value that is not JSON, written by putRaw as
// another tool would, makes Reload fail naming it.
func ManagerRoundTrip(t *testing.T, kind confo.BackendType, creds confo.Credentials, putRaw func(t testing.TB, b confo.Backend, ns, name string, raw []byte)) {
	t.Helper()
	ctx := t.Context()
	creds["namespaces"] = []string{"database"}
	m1, m2 := LoadManager(t, kind, creds, "database"), LoadManager(t, kind, creds, "database")
	require.NoError(t, m1.Set("mysql", map[string]any{"host": "db", "port": 3306, "tags": []any{"a"}}))
	require.NoError(t, m1.Persist(ctx))
	require.NoError(t, m2.Reload(ctx))
	got, err := m2.Get("mysql")
	require.NoError(t, err)
	want, err := m1.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// m2 changes it; m1's stale change conflicts
	require.NoError(t, m2.SetField("mysql", "port", 3307))
	require.NoError(t, m2.Persist(ctx))
	require.NoError(t, m1.SetField("mysql", "port", 3308))
	require.ErrorIs(t, m1.Persist(ctx), confo.ErrConflict)

	// a corrupt value: Reload quarantines it, naming it
	b, err := m1.Backend(string(kind))
	require.NoError(t, err)
	putRaw(t, b, "database", "broken", []byte("not json \xff"))
	require.NoError(t, m2.Reload(ctx))
	_, err = m2.Get("broken")
	require.ErrorIs(t, err, confo.ErrCorruptValue)
	assert.Contains(t, err.Error(), "broken")
}

// ConflictWithRawWrite checks the guard of b, a backend whose revisions
// grow, against a configuration rewritten by another tool (putRaw writes
// as such a tool would, in b's store): a batch based on the old revision
// fails naming that configuration only and writes nothing; creating what
// exists and deleting with a stale revision or as absent conflict too; a
// batch based on the current revisions goes through, and deleting what
// never existed is a no-op.
func ConflictWithRawWrite(t *testing.T, b confo.Backend, putRaw func(t testing.TB, ns, name string, raw []byte)) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "ns"))
	revs, err := b.Commit(ctx, "ns", []confo.Op{
		{Name: "a", Value: []byte(`{"v":1}`)},
		{Name: "b", Value: []byte(`{"v":1}`)},
	})
	require.NoError(t, err)

	putRaw(t, "ns", "a", []byte(`{"v":"other"}`))

	_, err = b.Commit(ctx, "ns", []confo.Op{
		{Name: "a", Value: []byte(`{"v":2}`), Revision: revs[0]},
		{Name: "b", Value: []byte(`{"v":2}`), Revision: revs[1]},
	})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), `"a"`)
	assert.NotContains(t, err.Error(), `"b"`)

	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":"other"}`, string(snap.Entries["a"].Value))
	assert.JSONEq(t, `{"v":1}`, string(snap.Entries["b"].Value), "nothing of a failed batch is written")

	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "b", Value: []byte(`{}`)}})
	require.ErrorIs(t, err, confo.ErrConflict, "creating what exists")
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a", Revision: revs[0]}})
	require.ErrorIs(t, err, confo.ErrConflict, "deleting with a stale revision")
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "a"}})
	require.ErrorIs(t, err, confo.ErrConflict, "deleting as absent what exists")

	revs2, err := b.Commit(ctx, "ns", []confo.Op{
		{Name: "a", Revision: snap.Entries["a"].Revision},
		{Name: "b", Value: []byte(`{"v":3}`), Revision: snap.Entries["b"].Revision},
		{Name: "never", Revision: 0},
	})
	require.NoError(t, err)
	assert.Equal(t, int64(0), revs2[0])
	assert.Greater(t, revs2[1], snap.Entries["b"].Revision)
	assert.Equal(t, int64(0), revs2[2])
	snap, err = b.Load(ctx, "ns")
	require.NoError(t, err)
	require.Len(t, snap.Entries, 1)
	assert.Equal(t, revs2[1], snap.Entries["b"].Revision)
}
