package backendtest

import (
	"fmt"
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Persist subtests: what a Manager writes, and only that.

// revisions returns the revision of every configuration of ns in store.
func (s *suite) revisions(t testing.TB, store, ns string) map[string]int64 {
	t.Helper()
	revs := make(map[string]int64)
	for name, e := range load(t, s.open(t, store), ns) {
		revs[name] = e.Revision
	}
	return revs
}

// backendOf returns the Backend of a Manager made by newManager.
func backendOf(t testing.TB, m *confo.Manager) confo.Backend {
	t.Helper()
	b, err := m.Backend("backendtest")
	require.NoError(t, err)
	return b
}

// persisted returns a manager on namespace ns of store (see
// [suite.managerOn]) that has set each of names to value and persisted them.
func (s *suite) persisted(t testing.TB, store, ns string, value map[string]any, names ...string) *confo.Manager {
	t.Helper()
	m := s.managerOn(t, store, ns)
	for _, name := range names {
		require.NoError(t, m.Set(name, value))
	}
	require.NoError(t, m.Persist(t.Context()))
	return m
}

func (s *suite) testPersistOnlyDirty(t *testing.T) {
	store := newStore(t)
	m1 := s.persisted(t, store, "ns", map[string]any{"v": 1}, "a", "b")

	before := s.revisions(t, store, "ns")
	require.NoError(t, m1.Persist(t.Context()), "nothing to persist")
	assert.Equal(t, before, s.revisions(t, store, "ns"), "a Persist without changes writes nothing")

	m2 := s.managerOn(t, store, "ns")
	require.NoError(t, m2.SetField("b", "v", 2))
	require.NoError(t, m2.Persist(t.Context()))

	// m1's copy of b is stale, but b is not written, so no conflict.
	require.NoError(t, m1.SetField("a", "v", 3))
	require.NoError(t, m1.Persist(t.Context()))
	after := s.revisions(t, store, "ns")
	assert.NotEqual(t, before["a"], after["a"])

	m3 := s.managerOn(t, store, "ns")
	all, err := m3.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"a": {"v": int64(3)}, "b": {"v": int64(2)}}, all)
}

func (s *suite) testPersistDeletes(t *testing.T) {
	store := newStore(t)
	m1 := s.persisted(t, store, "ns", map[string]any{"v": 1}, "a", "b")
	m2 := s.managerOn(t, store, "ns")

	require.NoError(t, m1.Delete("a"))
	require.NoError(t, m1.Persist(t.Context()))
	assert.NotContains(t, s.revisions(t, store, "ns"), "a", "deleted in the store")

	requireGone(t, m2, "a", 1)

	// Created again after its deletion.
	require.NoError(t, m1.Set("a", map[string]any{"v": "again"}))
	require.NoError(t, m1.Persist(t.Context()))
	require.NoError(t, m2.Reload(t.Context()))
	got, err := m2.Get("a")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"v": "again"}, got)
}

// requireGone reloads m and requires that configuration name is no longer
// in it and that count configurations remain.
func requireGone(t testing.TB, m *confo.Manager, name string, count int) {
	t.Helper()
	require.NoError(t, m.Reload(t.Context()))
	_, err := m.Get(name)
	assert.ErrorIs(t, err, confo.ErrConfigNotFound)
	n, err := m.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, count, n)
}

func (s *suite) testPersistMany(t *testing.T) {
	store := newStore(t)
	m1 := newManager(t, s.openUnclosed(t, store))
	n := 40
	if bl, ok := backendOf(t, m1).(confo.BatchLimiter); ok && bl.BatchLimits().MaxOps > 0 {
		n = 2*bl.BatchLimits().MaxOps + 1 // three batches
	}
	require.NoError(t, m1.CreateNamespace(t.Context(), "many"))
	require.NoError(t, m1.UseNamespace(t.Context(), "many"))
	want := make(map[string]map[string]any, n)
	for i := range n {
		name := fmt.Sprintf("conf-%04d", i)
		want[name] = map[string]any{"i": int64(i)}
		require.NoError(t, m1.Set(name, want[name]))
	}
	require.NoError(t, m1.Persist(t.Context()))

	m2 := s.managerOn(t, store, "many")
	all, err := m2.GetAll()
	require.NoError(t, err)
	assert.Equal(t, want, all)

	for name := range want {
		require.NoError(t, m1.Delete(name))
	}
	require.NoError(t, m1.Persist(t.Context()))
	require.NoError(t, m2.Reload(t.Context()))
	count, err := m2.ConfigCount()
	require.NoError(t, err)
	assert.Zero(t, count)
}

func (s *suite) testPersistConfigAndNamespace(t *testing.T) {
	store := newStore(t)
	m := s.managerOn(t, store, "one")
	require.NoError(t, m.CreateNamespace(t.Context(), "two"))
	require.NoError(t, m.UseNamespace(t.Context(), "two"))
	require.NoError(t, m.Set("x", map[string]any{"v": "x"}))
	require.NoError(t, m.Set("y", map[string]any{"v": "y"}))

	require.NoError(t, m.PersistConfig(t.Context(), "two", "x"))
	revs := s.revisions(t, store, "two")
	assert.Contains(t, revs, "x")
	assert.NotContains(t, revs, "y", "PersistConfig writes that configuration only")

	require.NoError(t, m.PersistNamespace(t.Context(), "two"))
	assert.Contains(t, s.revisions(t, store, "two"), "y")

	require.NoError(t, m.UseNamespace(t.Context(), "one"))
	require.NoError(t, m.Set("z", map[string]any{"v": "z"}))
	require.NoError(t, m.Persist(t.Context()))
	assert.Contains(t, s.revisions(t, store, "one"), "z")
}
