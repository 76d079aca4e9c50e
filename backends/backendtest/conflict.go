package backendtest

import (
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The conflict subtests: two managers on one store, the guard between
// them, and Reload letting the store win.

func (s *suite) testManagerConflict(t *testing.T) {
	store := newStore(t)
	m1 := s.persisted(t, store, "database", map[string]any{"host": "localhost", "port": 3306}, "mysql")
	m2 := s.managerOn(t, store, "database")

	require.NoError(t, m2.SetField("mysql", "port", 3307))
	require.NoError(t, m2.Persist(t.Context()))

	require.NoError(t, m1.SetField("mysql", "port", 3308))
	err := m1.Persist(t.Context())
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "mysql", "the error names the configuration")
	port, err := m1.GetField("mysql", "port")
	require.NoError(t, err)
	assert.Equal(t, int64(3308), port, "a failed Persist keeps the change in memory")
	m3 := s.managerOn(t, store, "database")
	port, err = m3.GetField("mysql", "port")
	require.NoError(t, err)
	assert.Equal(t, int64(3307), port, "the store keeps the other change")

	// After a Reload, the store wins and a new change persists.
	require.NoError(t, m1.Reload(t.Context()))
	port, err = m1.GetField("mysql", "port")
	require.NoError(t, err)
	assert.Equal(t, int64(3307), port)
	require.NoError(t, m1.SetField("mysql", "port", 3309))
	require.NoError(t, m1.Persist(t.Context()))

	// Creating what another manager created meanwhile is a conflict too.
	require.NoError(t, m2.Set("redis", map[string]any{"by": "m2"}))
	require.NoError(t, m2.Persist(t.Context()))
	require.NoError(t, m1.Set("redis", map[string]any{"by": "m1"}))
	err = m1.Persist(t.Context())
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "redis")
}

func (s *suite) testManagerConflictBatch(t *testing.T) {
	store := newStore(t)
	m1 := s.persisted(t, store, "ns", map[string]any{"v": "old"}, "a", "b", "c")
	m2 := s.managerOn(t, store, "ns")
	require.NoError(t, m2.SetField("b", "v", "m2"))
	require.NoError(t, m2.Persist(t.Context()))
	before := s.revisions(t, store, "ns")

	for _, name := range []string{"a", "b", "c", "d"} {
		require.NoError(t, m1.SetField(name, "v", "m1"))
	}
	err := m1.Persist(t.Context())
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), `"b"`)

	if maxOps(backendOf(t, m1), 4) == 4 { // the four changes are one batch
		assert.Equal(t, before, s.revisions(t, store, "ns"), "nothing of the batch written")
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		v, err := m1.GetField(name, "v")
		require.NoError(t, err)
		assert.Equal(t, "m1", v, "%q kept in memory", name)
	}
}

func (s *suite) testReloadStoreWins(t *testing.T) {
	store := newStore(t)
	m1 := s.persisted(t, store, "ns", map[string]any{"v": "stored"}, "a")
	m2 := s.managerOn(t, store, "ns")

	require.NoError(t, m1.SetField("a", "v", "unsaved"))
	require.NoError(t, m1.Set("local", map[string]any{"v": "unsaved"}))
	require.NoError(t, m2.SetField("a", "v", "m2"))
	require.NoError(t, m2.Set("remote", map[string]any{"v": "m2"}))
	require.NoError(t, m2.Persist(t.Context()))

	require.NoError(t, m1.Reload(t.Context()))
	all, err := m1.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"a": {"v": "m2"}, "remote": {"v": "m2"}}, all,
		"the store wins: unsaved changes are discarded")
	require.NoError(t, m1.Persist(t.Context()), "nothing left to persist")
}

func (s *suite) testReloadDeletedInStore(t *testing.T) {
	store := newStore(t)
	m1 := s.persisted(t, store, "ns", map[string]any{"v": 1}, "a", "b")
	m2 := s.managerOn(t, store, "ns")
	require.NoError(t, m2.Delete("b"))
	require.NoError(t, m2.Persist(t.Context()))

	requireGone(t, m1, "b", 1)
}
