package confo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

func TestManagerReload(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.Set("postgres", map[string]any{"port": 5678}))
	require.NoError(t, m.Set("keep", map[string]any{"n": 1}))
	require.NoError(t, m.Persist(ctx))

	// Unsaved local changes ...
	require.NoError(t, m.SetField("mysql", "port", 1))
	require.NoError(t, m.Set("unsaved", map[string]any{}))
	require.NoError(t, m.Delete("keep"))
	// ... and changes by another writer.
	rec.store.Put("database", "postgres", []byte(`{"port":5679}`))
	rec.store.Put("database", "remote", []byte(`{"new":true}`))
	rec.store.Remove("database", "mysql")

	rec.reset()
	require.NoError(t, m.Reload(ctx))
	assert.Equal(t, []string{"load database"}, rec.recorded(), "one read per loaded namespace")
	want := map[string]map[string]any{
		"postgres": {"port": int64(5679)},
		"remote":   {"new": true},
		"keep":     {"n": int64(1)},
	}
	assert.Equal(t, want, mustGetAll(t, m), "the store wins")
	assert.Equal(t, "database", m.Namespace())

	rec.reset()
	require.NoError(t, m.Persist(ctx))
	assert.Empty(t, rec.recorded(), "nothing dirty after a reload")

	require.NoError(t, m.SetField("postgres", "port", 1))
	require.NoError(t, m.Persist(ctx), "guarded by the reloaded revision: no conflict")
	assert.Equal(t, mustGetAll(t, m), storeView(t, rec.store, "database"))
}

func TestManagerReloadEveryNamespace(t *testing.T) {
	ctx := t.Context()
	m, rec := newTestManager(t)
	require.NoError(t, m.CreateNamespace(ctx, "sales"))
	require.NoError(t, m.CreateNamespace(ctx, "never-used"))
	require.NoError(t, m.UseNamespace(ctx, "sales"))
	rec.store.Put("database", "mysql", []byte(`{"port":1}`))
	rec.store.Put("sales", "forecast", []byte(`{"url":"x"}`))

	rec.reset()
	require.NoError(t, m.Reload(ctx))
	assert.ElementsMatch(t, []string{"load database", "load sales"}, rec.recorded(), "only loaded namespaces")
	assert.Equal(t, map[string]map[string]any{"forecast": {"url": "x"}}, mustGetAll(t, m))
	require.NoError(t, m.UseNamespace(ctx, "database"))
	assert.Equal(t, map[string]map[string]any{"mysql": {"port": int64(1)}}, mustGetAll(t, m))
}

var corruptValues = map[string]string{
	"not JSON":       `not json`,
	"array":          `[1]`,
	"string":         `"s"`,
	"number":         `42`,
	"null":           `null`,
	"empty":          ``,
	"spaces":         `   `,
	"trailing data":  `{"a":1} x`,
	"two objects":    `{"a":1}{"b":2}`,
	"truncated":      `{"a":`,
	"invalid UTF-8":  "{\"a\":\"\xff\"}",
	"trailing comma": `{"a":1,}`,
}

// TestManagerCorruptValue checks that a corrupt stored value is
// quarantined, never contagious: the namespace loads and reloads, the rest
// of it is served, the configuration keeps its last good value (or reads
// as ErrCorruptValue naming it and its revision when it never had one),
// the manager lists the problem, and a Set + Persist over it repairs it.
func TestManagerCorruptValue(t *testing.T) {
	ctx := t.Context()
	for name, raw := range corruptValues {
		t.Run(name, func(t *testing.T) {
			t.Run("UseNamespace", func(t *testing.T) {
				m, rec := newTestManager(t)
				require.NoError(t, m.CreateNamespace(ctx, "sales"))
				rec.store.Put("sales", "fine", []byte(`{"ok":true}`))
				rec.store.Put("sales", "broken", []byte(raw))
				require.NoError(t, m.UseNamespace(ctx, "sales"), "a corrupt value does not fail the namespace")
				assert.Equal(t, map[string]map[string]any{"fine": {"ok": true}}, mustGetAll(t, m), "the rest loads")
				_, err := m.Get("broken")
				requireError(t, err, confo.ErrCorruptValue, `"broken"`, `"sales"`, "revision")
				_, err = m.GetField("broken", "a")
				require.ErrorIs(t, err, confo.ErrCorruptValue)
				problems := m.Problems("sales")
				require.Len(t, problems, 1)
				assert.Equal(t, "broken", problems[0].Name)
				require.ErrorIs(t, problems[0].Err, confo.ErrCorruptValue)

				// An operator repairs it through the library.
				require.NoError(t, m.Set("broken", map[string]any{"a": 1}))
				require.NoError(t, m.Persist(ctx), "guarded by the corrupt value's revision")
				assert.Equal(t, map[string]any{"a": int64(1)}, storeView(t, rec.store, "sales")["broken"])
				assert.Empty(t, m.Problems("sales"), "repaired")
			})

			t.Run("Reload", func(t *testing.T) {
				m, rec := newTestManager(t)
				require.NoError(t, m.CreateNamespace(ctx, "sales"))
				require.NoError(t, m.UseNamespace(ctx, "sales"))
				require.NoError(t, m.Set("forecast", map[string]any{"url": "x"}))
				require.NoError(t, m.Persist(ctx))
				require.NoError(t, m.UseNamespace(ctx, "database"))
				require.NoError(t, m.UseNamespace(ctx, "sales"))

				// A fine remote change in one namespace, a corrupt value in the other.
				rec.store.Put("database", "remote", []byte(`{"ok":true}`))
				rec.store.Put("sales", "forecast", []byte(raw))
				require.NoError(t, m.Reload(ctx), "a corrupt value does not fail Reload")
				assert.Equal(t, map[string]map[string]any{"forecast": {"url": "x"}}, mustGetAll(t, m), "the last good value stays")
				problems := m.Problems("sales")
				require.Len(t, problems, 1)
				assert.Equal(t, "forecast", problems[0].Name)
				require.NoError(t, m.UseNamespace(ctx, "database"))
				_, err := m.Get("remote")
				require.NoError(t, err, "the other namespace reloaded")

				// The corrupt value goes: the problem goes with it.
				rec.store.Remove("sales", "forecast")
				require.NoError(t, m.Reload(ctx))
				assert.Empty(t, m.Problems("sales"))
			})
		})
	}
}
