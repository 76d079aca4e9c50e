package backendtest

import (
	"errors"
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corruptValues are stored values that are not one JSON object.
var corruptValues = map[string]string{
	"not JSON":       "not json",
	"array":          "[1]",
	"empty":          "",
	"invalid UTF-8":  "{\"a\":\"\xff\"}",
	"null":           "null",
	"string":         `"text"`,
	"trailing value": `{"a":1} {"b":2}`,
	"truncated":      `{"a":`,
}

// testCorruptValue checks that a corrupt stored value is quarantined, never
// contagious, the same way in load, reload and watch: the namespace loads,
// the rest of it is served, a view that had a good value keeps it, one that
// never had one reads ErrCorruptValue naming the configuration, the manager
// lists the problem, watchers get an EventProblem, and Set + Persist over it
// repairs it.
func (s *suite) testCorruptValue(t *testing.T) {
	for name, raw := range corruptValues {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			m1 := s.managerOn(t, store, "ns")
			require.NoError(t, m1.Set("good", map[string]any{"v": 1}))
			require.NoError(t, m1.Persist(t.Context()))

			// Reload: the last good value stays.
			s.h.PutRaw(t, store, "ns", "good", []byte(raw))
			require.NoError(t, m1.Reload(t.Context()), "a corrupt value does not fail Reload")
			got, err := m1.Get("good")
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"v": int64(1)}, got, "the last good value stays")
			requireProblem(t, m1, "ns", "good")

			// Load: a manager that never saw a good value.
			m2 := newManager(t, s.openUnclosed(t, store))
			s.h.PutRaw(t, store, "ns", "other", []byte(`{"ok":true}`))
			require.NoError(t, m2.UseNamespace(t.Context(), "ns"), "a corrupt value does not fail the load")
			_, err = m2.Get("good")
			require.ErrorIs(t, err, confo.ErrCorruptValue)
			assert.Contains(t, err.Error(), `"good"`, "the error names the configuration")
			assert.Contains(t, err.Error(), "revision", "and its revision")
			other, err := m2.Get("other")
			require.NoError(t, err, "the rest loads")
			assert.Equal(t, map[string]any{"ok": true}, other)
			requireProblem(t, m2, "ns", "good")

			// Repair through the library, guarded by the corrupt revision.
			require.NoError(t, m2.Set("good", map[string]any{"v": 2}))
			require.NoError(t, m2.Persist(t.Context()))
			assert.Empty(t, m2.Problems("ns"), "repaired")
			require.NoError(t, m1.Reload(t.Context()))
			assert.Empty(t, m1.Problems("ns"), "the repair reaches other managers")
			got, err = m1.Get("good")
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"v": int64(2)}, got)
		})
	}
}

// testCorruptValueWatch checks that a watch quarantines a corrupt value as
// a load does, and says so to its receivers.
func (s *suite) testCorruptValueWatch(t *testing.T) {
	store := newStore(t)
	m := s.managerOn(t, store, "ns")
	if _, ok := s.open(t, store).(confo.Watcher); !ok {
		t.Log("backend cannot watch: Manager.Watch returns errors.ErrUnsupported, checked by Watch/Unsupported")
		_, err := m.Watch(t.Context(), "ns")
		require.ErrorIs(t, err, errors.ErrUnsupported)
		return
	}
	require.NoError(t, m.Set("cfg", map[string]any{"v": 1}))
	require.NoError(t, m.Persist(t.Context()))
	events, err := m.Watch(t.Context(), "ns")
	require.NoError(t, err)

	s.h.PutRaw(t, store, "ns", "cfg", []byte("not json"))
	s.reloadUnwatched(t, m)
	ev := nextEvent(t, events, "cfg")
	require.Equal(t, confo.EventProblem, ev.Type, "watchers are told")
	require.ErrorIs(t, ev.Err, confo.ErrCorruptValue)
	got, err := m.Get("cfg")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"v": int64(1)}, got, "the last good value stays")
	requireProblem(t, m, "ns", "cfg")

	s.h.PutRaw(t, store, "ns", "cfg", []byte(`{"v":3}`))
	s.reloadUnwatched(t, m)
	ev = nextEvent(t, events, "cfg")
	require.Equal(t, confo.EventPut, ev.Type)
	assert.Empty(t, m.Problems("ns"), "a good version ends the problem")
}

// requireProblem checks that m lists exactly one problem in ns, for name,
// wrapping ErrCorruptValue.
func requireProblem(t testing.TB, m *confo.Manager, ns, name string) {
	t.Helper()
	problems := m.Problems(ns)
	require.Len(t, problems, 1, "the manager lists the problem")
	assert.Equal(t, name, problems[0].Name)
	assert.ErrorIs(t, problems[0].Err, confo.ErrCorruptValue)
}

// reloadUnwatched reloads m when the store's watch cannot see PutRaw.
func (s *suite) reloadUnwatched(t testing.TB, m *confo.Manager) {
	t.Helper()
	if s.h.RawUnwatched {
		require.NoError(t, m.Reload(t.Context()))
	}
}
