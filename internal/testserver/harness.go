package testserver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// Run runs the tests of m and then stops the server, if one was started;
// it returns m.Run's exit code. A package's TestMain is then
//
//	func TestMain(m *testing.M) { os.Exit(server.Run(m)) }
func (o *Once[S]) Run(m *testing.M) int {
	defer o.Stop()
	return m.Run()
}

// Open returns a backend opened from creds as a store package does it:
// creds parsed by parse into a config that open connects with. A parse or
// open error fails t; the backend is closed when t ends. A store's tests
// call it as testserver.Open(t, creds, redis.ParseCredentials, redis.New).
func Open[C any, B confo.Backend](t testing.TB, creds confo.Credentials, parse func(confo.Credentials) (C, error), open func(context.Context, C) (B, error)) B {
	t.Helper()
	cfg, err := parse(creds)
	require.NoError(t, err)
	b, err := open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// ManagerOn returns a Manager whose active backend is b, under the name
// "store", using namespace ns, which it creates. The Manager (and so b) is
// closed when t ends.
func ManagerOn(t testing.TB, b confo.Backend, ns string) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("store", b))
	require.NoError(t, m.ActivateBackend("store"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// Namespaces checks the namespaces of b, a backend on an empty store:
// none at first; creating one twice, and each of names, lists each once,
// as given; loading or committing to a namespace that does not exist is
// ErrNamespaceNotFound. names holds what the store's own layout makes
// worth trying (a Redis key separator, ...).
func Namespaces(t *testing.T, b confo.Backend, names ...string) {
	t.Helper()
	ctx := t.Context()
	got, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
	want := append([]string{"sales", "analytics"}, names...)
	require.NoError(t, b.CreateNamespace(ctx, "sales"))
	for _, ns := range want {
		require.NoError(t, b.CreateNamespace(ctx, ns), "CreateNamespace %q", ns)
	}
	got, err = b.Namespaces(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, want, got)

	_, err = b.Load(ctx, "missing")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
	_, err = b.Commit(ctx, "missing", []confo.Op{{Name: "x", Value: []byte(`{}`)}})
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
}
