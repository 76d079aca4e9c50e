package confo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

func TestManagerBackends(t *testing.T) {
	ctx := t.Context()
	for name, tt := range map[string]struct {
		do      func(m *confo.Manager) error
		wantErr error
		names   []string
	}{
		"activate unknown": {
			do:      func(m *confo.Manager) error { return m.ActivateBackend("nosuch") },
			wantErr: confo.ErrBackendNotFound, names: []string{`"nosuch"`},
		},
		"Backend unknown": {
			do:      func(m *confo.Manager) error { _, err := m.Backend("nosuch"); return err },
			wantErr: confo.ErrBackendNotFound, names: []string{`"nosuch"`},
		},
		"Backend known": {
			do: func(m *confo.Manager) error { _, err := m.Backend("test"); return err },
		},
		"add taken name": {
			do:      func(m *confo.Manager) error { return m.AddBackend("test", memory.New()) },
			wantErr: confo.ErrBackendExists, names: []string{`"test"`},
		},
		"load taken name": {
			do:      func(m *confo.Manager) error { return m.LoadBackend(ctx, "test", confo.MemoryBackend, nil) },
			wantErr: confo.ErrBackendExists, names: []string{`"test"`},
		},
		"add empty name": {
			do:      func(m *confo.Manager) error { return m.AddBackend("", memory.New()) },
			wantErr: confo.ErrInvalidName,
		},
		"load empty name": {
			do:      func(m *confo.Manager) error { return m.LoadBackend(ctx, "", confo.MemoryBackend, nil) },
			wantErr: confo.ErrInvalidName,
		},
		"add nil": {
			do:      func(m *confo.Manager) error { return m.AddBackend("other", nil) },
			wantErr: confo.ErrInvalidValue, names: []string{`"other"`},
		},
		"load etcd, not linked": {
			do:      func(m *confo.Manager) error { return m.LoadBackend(ctx, "prod", confo.EtcdBackend, nil) },
			wantErr: confo.ErrUnknownBackendType,
			names:   []string{`"prod"`, `"etcd"`, "github.com/confo-go/confo/backends/etcd"},
		},
		"load unknown type": {
			do:      func(m *confo.Manager) error { return m.LoadBackend(ctx, "x", confo.BackendType("nosuch"), nil) },
			wantErr: confo.ErrUnknownBackendType, names: []string{`"nosuch"`},
		},
		"load memory": {
			do: func(m *confo.Manager) error { return m.LoadBackend(ctx, "mem", confo.MemoryBackend, nil) },
		},
		"load memory with namespaces": {
			do: func(m *confo.Manager) error {
				return m.LoadBackend(ctx, "mem", confo.MemoryBackend, confo.Credentials{"namespaces": []any{"a", "b"}})
			},
		},
		"namespaces not a list": {
			do: func(m *confo.Manager) error {
				return m.LoadBackend(ctx, "mem", confo.MemoryBackend, confo.Credentials{"namespaces": 42, "password": "hunter2"})
			},
			wantErr: confo.ErrInvalidCredentials, names: []string{`"mem"`, `"namespaces"`},
		},
		"namespaces with a number": {
			do: func(m *confo.Manager) error {
				return m.LoadBackend(ctx, "mem", confo.MemoryBackend, confo.Credentials{"namespaces": []any{"a", 1}})
			},
			wantErr: confo.ErrInvalidCredentials, names: []string{`"mem"`, `"namespaces"`},
		},
		"namespaces with a bad name": {
			do: func(m *confo.Manager) error {
				return m.LoadBackend(ctx, "mem", confo.MemoryBackend, confo.Credentials{"namespaces": []string{"a/b"}})
			},
			wantErr: confo.ErrInvalidName, names: []string{`"mem"`, `"a/b"`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := newManager(t, memory.New())
			err := tt.do(m)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			requireError(t, err, tt.wantErr, tt.names...)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.Equal(t, confo.Backends{All: []string{"test"}, Active: "test"}, m.GetBackends(),
				"a failed call registers nothing")
		})
	}
}

func TestManagerLoadBackendNamespaces(t *testing.T) {
	ctx := t.Context()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.LoadBackend(ctx, "mem", confo.MemoryBackend, confo.Credentials{"namespaces": "sales, analytics"}))
	require.NoError(t, m.ActivateBackend("mem"))
	ns, err := m.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"analytics", "sales"}}, ns)
	assert.Contains(t, confo.BackendTypes(), confo.MemoryBackend)
	assert.NotContains(t, confo.BackendTypes(), confo.EtcdBackend)
}

func TestManagerGetBackends(t *testing.T) {
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	assert.Empty(t, m.GetBackends().All)
	assert.Equal(t, "", m.GetBackends().Active)
	for _, name := range []string{"zeta", "alpha", "mid"} {
		require.NoError(t, m.AddBackend(name, memory.New()))
	}
	assert.Equal(t, confo.Backends{All: []string{"alpha", "mid", "zeta"}}, m.GetBackends())
	require.NoError(t, m.ActivateBackend("mid"))
	assert.Equal(t, confo.Backends{All: []string{"alpha", "mid", "zeta"}, Active: "mid"}, m.GetBackends())
	require.ErrorIs(t, m.ActivateBackend("nosuch"), confo.ErrBackendNotFound)
	assert.Equal(t, "mid", m.GetBackends().Active, "a failed activation keeps the active backend")
}

func TestManagerActivateBackendKeepsNamespaces(t *testing.T) {
	ctx := t.Context()
	m, _ := newTestManager(t) // "test": database in use, mysql persisted
	require.NoError(t, m.SetField("mysql", "port", 3306))

	other := memory.New()
	require.NoError(t, m.AddBackend("other", other))
	require.NoError(t, m.ActivateBackend("other"))
	assert.Equal(t, "", m.Namespace(), "a backend starts with no namespace in use")
	_, err := m.Get("mysql")
	require.ErrorIs(t, err, confo.ErrNamespaceNotLoaded)

	require.NoError(t, m.CreateNamespace(ctx, "sales"))
	require.NoError(t, m.UseNamespace(ctx, "sales"))
	require.NoError(t, m.Set("forecast", map[string]any{"url": "http://forecast"}))
	ns, err := m.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"sales"}, Current: "sales"}, ns)
	require.NoError(t, m.Persist(ctx), "persists the active backend only")

	require.NoError(t, m.ActivateBackend("test"))
	assert.Equal(t, "database", m.Namespace())
	port, err := m.GetField("mysql", "port")
	require.NoError(t, err)
	assert.Equal(t, int64(3306), port, "unsaved change kept across the switch")
	_, err = m.Get("forecast")
	require.ErrorIs(t, err, confo.ErrConfigNotFound)
	ns, err = m.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"database"}, Current: "database"}, ns)

	assert.Equal(t, map[string]map[string]any{"forecast": {"url": "http://forecast"}}, storeView(t, other, "sales"))

	require.NoError(t, m.ActivateBackend("other"))
	assert.Equal(t, "sales", m.Namespace())
	all, err := m.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"forecast": {"url": "http://forecast"}}, all)
}

func TestManagerNamespaces(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)

	count, err := m.GetCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, count)

	require.NoError(t, m.CreateNamespace(ctx, "sales"))
	require.NoError(t, m.CreateNamespace(ctx, "sales"), "idempotent")
	require.NoError(t, m.CreateNamespace(ctx, "analytics"))
	ns, err := m.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"analytics", "database", "sales"}, Current: "database"}, ns)
	count, err = m.GetCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, count)
	assert.Equal(t, "database", m.Namespace(), "CreateNamespace does not use it")

	err = m.UseNamespace(ctx, "nosuch")
	requireError(t, err, confo.ErrNamespaceNotFound, `"nosuch"`)
	assert.Equal(t, "database", m.Namespace(), "a failed use keeps the namespace in use")

	rec.reset()
	require.NoError(t, m.UseNamespace(ctx, "sales"))
	assert.Equal(t, []string{"load sales"}, rec.recorded(), "first use loads")
	n, err := m.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	require.NoError(t, m.Set("forecast", map[string]any{"url": "x"}))

	rec.reset()
	require.NoError(t, m.UseNamespace(ctx, "database"))
	require.NoError(t, m.UseNamespace(ctx, "sales"))
	assert.Empty(t, rec.recorded(), "later uses switch without I/O")
	got, err := m.Get("forecast")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"url": "x"}, got, "unsaved change kept across the switch")
}
