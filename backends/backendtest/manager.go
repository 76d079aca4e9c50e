package backendtest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Manager subtests use the backend through a confo.Manager, usually two
// managers on two clients of one store, as two processes would.

func (s *suite) testManagerNamespaces(t *testing.T) {
	store := newStore(t)
	m := newManager(t, s.openUnclosed(t, store))
	got, err := m.GetNamespaces(t.Context())
	require.NoError(t, err)
	assert.Empty(t, got.All, "empty store")
	assert.Empty(t, got.Current)
	n, err := m.GetCount(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)

	for _, ns := range []string{"sales", "analytics", "database", "sales"} {
		require.NoError(t, m.CreateNamespace(t.Context(), ns))
	}
	require.NoError(t, m.UseNamespace(t.Context(), "database"))
	got, err = m.GetNamespaces(t.Context())
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"analytics", "database", "sales"}, Current: "database"}, got)
	n, err = m.GetCount(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	other := newManager(t, s.openUnclosed(t, store))
	got, err = other.GetNamespaces(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"analytics", "database", "sales"}, got.All, "another manager")
}

func (s *suite) testManagerUseMissing(t *testing.T) {
	m := newManager(t, s.openUnclosed(t, newStore(t)))
	require.ErrorIs(t, m.UseNamespace(t.Context(), "missing"), confo.ErrNamespaceNotFound)
	assert.Empty(t, m.Namespace())
	_, err := m.Get("mysql")
	assert.ErrorIs(t, err, confo.ErrNamespaceNotLoaded)
}

func (s *suite) testManagerValueTypes(t *testing.T) {
	store := newStore(t)
	m1 := s.managerOn(t, store, "types")
	in := map[string]any{
		"string":   "héllo, 世界 🚀 \u2028 <a href=\"x\">&amp;</a> \\ \" \t\n",
		"empty":    "",
		"int":      42,
		"int64max": int64(math.MaxInt64),
		"int64min": int64(math.MinInt64),
		"uint8":    uint8(7),
		"whole":    2.0,
		"float":    1.5,
		"tenth":    0.1 + 0.2,
		"tiny":     -1e-300,
		"huge":     1e300,
		"true":     true,
		"false":    false,
		"null":     nil,
		"strings":  []string{"a", "b"},
		"array":    []any{1, "two", 3.5, nil, true, []any{}, map[string]any{"k": "v"}},
		"object":   map[string]any{"nested": map[string]any{"deep": []any{map[string]any{}}}},
		"emptyobj": map[string]any{},
		"ключ 🔑":   "unicode key",
	}
	want := map[string]any{
		"string":   in["string"],
		"empty":    "",
		"int":      int64(42),
		"int64max": int64(math.MaxInt64),
		"int64min": int64(math.MinInt64),
		"uint8":    int64(7),
		"whole":    int64(2),
		"float":    1.5,
		"tenth":    0.1 + 0.2,
		"tiny":     -1e-300,
		"huge":     1e300,
		"true":     true,
		"false":    false,
		"null":     nil,
		"strings":  []any{"a", "b"},
		"array":    []any{int64(1), "two", 3.5, nil, true, []any{}, map[string]any{"k": "v"}},
		"object":   map[string]any{"nested": map[string]any{"deep": []any{map[string]any{}}}},
		"emptyobj": map[string]any{},
		"ключ 🔑":   "unicode key",
	}
	require.NoError(t, m1.Set("values", in))
	require.NoError(t, m1.Set("empty", nil))
	require.NoError(t, m1.SetField("fields", "port", 5432))
	require.NoError(t, m1.SetField("fields", "hosts", []any{"a", "b"}))
	got, err := m1.Get("values")
	require.NoError(t, err)
	require.Equal(t, want, got, "Get before Persist")
	require.NoError(t, m1.Persist(t.Context()))

	m2 := s.managerOn(t, store, "types")
	got, err = m2.Get("values")
	require.NoError(t, err)
	assert.Equal(t, want, got, "Get in another manager")
	all1, err := m1.GetAll()
	require.NoError(t, err)
	all2, err := m2.GetAll()
	require.NoError(t, err)
	assert.Equal(t, all1, all2)
	assert.Equal(t, map[string]any{}, all2["empty"])
	assert.Equal(t, map[string]any{"port": int64(5432), "hosts": []any{"a", "b"}}, all2["fields"])

	// And back again through a Reload of the first.
	require.NoError(t, m1.Reload(t.Context()))
	got, err = m1.Get("values")
	require.NoError(t, err)
	assert.Equal(t, want, got, "Get after Reload")
}

func (s *suite) testManagerNames(t *testing.T) {
	store := newStore(t)
	names := []string{"配置", "with space", "a.b.c", "x.json", ".hidden", "UPPER", "-dash", strings.Repeat("c", 200)}
	spaces := []string{"données", "ns.with.dots"}
	m1 := newManager(t, s.openUnclosed(t, store))
	for _, ns := range spaces {
		require.NoError(t, m1.CreateNamespace(t.Context(), ns))
		require.NoError(t, m1.UseNamespace(t.Context(), ns))
		for _, name := range names {
			require.NoError(t, m1.Set(name, map[string]any{"ns": ns, "name": name}))
		}
	}
	require.NoError(t, m1.Persist(t.Context()))

	m2 := newManager(t, s.openUnclosed(t, store))
	got, err := m2.GetNamespaces(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, spaces, got.All)
	for _, ns := range spaces {
		require.NoError(t, m2.UseNamespace(t.Context(), ns))
		all, err := m2.GetAll()
		require.NoError(t, err)
		require.Len(t, all, len(names), "namespace %q", ns)
		for _, name := range names {
			assert.Equal(t, map[string]any{"ns": ns, "name": name}, all[name], "%q in %q", name, ns)
		}
	}
}

func (s *suite) testManagerCancelled(t *testing.T) {
	store := newStore(t)
	m := s.managerOn(t, store, "ns")
	require.NoError(t, m.CreateNamespace(t.Context(), "other"))
	require.NoError(t, m.Set("a", map[string]any{"v": 1}))
	ctx := cancelled(t)

	assert.ErrorIs(t, m.CreateNamespace(ctx, "new"), context.Canceled, "CreateNamespace")
	assert.ErrorIs(t, m.UseNamespace(ctx, "other"), context.Canceled, "UseNamespace")
	_, err := m.GetNamespaces(ctx)
	assert.ErrorIs(t, err, context.Canceled, "GetNamespaces")
	assert.ErrorIs(t, m.Persist(ctx), context.Canceled, "Persist")
	assert.ErrorIs(t, m.Reload(ctx), context.Canceled, "Reload")

	assert.Empty(t, s.revisions(t, store, "ns"), "nothing written")
	got, err := m.Get("a")
	require.NoError(t, err, "the change is kept")
	assert.Equal(t, map[string]any{"v": int64(1)}, got)
	require.NoError(t, m.Persist(t.Context()))
	assert.Contains(t, s.revisions(t, store, "ns"), "a")
}

func (s *suite) testManagerConcurrent(t *testing.T) {
	store := newStore(t)
	m := s.managerOn(t, store, "ns")
	const rounds = 3
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("worker-%02d", w)
			for i := range rounds {
				want := map[string]any{"w": int64(w), "i": int64(i)}
				if !assert.NoError(t, m.Set(name, want)) {
					return
				}
				if !assert.NoError(t, m.SetField(name, "field", int64(i))) {
					return
				}
				want["field"] = int64(i)
				got, err := m.Get(name)
				if !assert.NoError(t, err) || !assert.Equal(t, want, got) {
					return
				}
				if _, err := m.GetField(name, "field"); !assert.NoError(t, err) {
					return
				}
				if _, err := m.GetAll(); !assert.NoError(t, err) {
					return
				}
				if _, err := m.ConfigCount(); !assert.NoError(t, err) {
					return
				}
				if _, err := m.GetNamespaces(ctx); !assert.NoError(t, err) {
					return
				}
				if !assert.NoError(t, m.Persist(ctx), "concurrent Persist calls do not conflict") {
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	require.NoError(t, m.Persist(t.Context()))

	want := make(map[string]map[string]any, workers)
	for w := range workers {
		want[fmt.Sprintf("worker-%02d", w)] = map[string]any{"w": int64(w), "i": int64(rounds - 1), "field": int64(rounds - 1)}
	}
	m2 := s.managerOn(t, store, "ns")
	all, err := m2.GetAll()
	require.NoError(t, err)
	require.Equal(t, want, all, "another manager reads every last value")

	// Reloads and reads together.
	for w := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("worker-%02d", w)
			mm := m
			if w%2 == 1 {
				mm = m2
			}
			if w%4 < 2 && !assert.NoError(t, mm.Reload(ctx)) {
				return
			}
			got, err := mm.Get(name)
			if assert.NoError(t, err) {
				assert.Equal(t, want[name], got)
			}
		})
	}
	wg.Wait()
}

func (s *suite) testManagerClose(t *testing.T) {
	b := s.openUnclosed(t, newStore(t))
	m := confo.New()
	require.NoError(t, m.AddBackend("backendtest", b))
	closed := false
	t.Cleanup(func() {
		if !closed {
			m.Close()
		}
	})
	require.NoError(t, m.ActivateBackend("backendtest"))
	require.NoError(t, m.CreateNamespace(t.Context(), "ns"))
	require.NoError(t, m.UseNamespace(t.Context(), "ns"))
	require.NoError(t, m.Set("a", map[string]any{"v": 1}))

	closed = true
	require.NoError(t, m.Close())
	assert.ErrorIs(t, m.CreateNamespace(t.Context(), "other"), confo.ErrClosed, "CreateNamespace")
	assert.ErrorIs(t, m.UseNamespace(t.Context(), "ns"), confo.ErrClosed, "UseNamespace")
	_, err := m.GetNamespaces(t.Context())
	assert.ErrorIs(t, err, confo.ErrClosed, "GetNamespaces")
	assert.ErrorIs(t, m.Persist(t.Context()), confo.ErrClosed, "Persist")
	assert.ErrorIs(t, m.Reload(t.Context()), confo.ErrClosed, "Reload")
	_, err = m.Get("a")
	assert.ErrorIs(t, err, confo.ErrClosed, "Get")

	_, err = b.Namespaces(t.Context())
	assert.ErrorIs(t, err, confo.ErrClosed, "Manager.Close closes the backend")
}
