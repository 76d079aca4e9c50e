package transfer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/internal/transfer"
)

func TestDecode(t *testing.T) {
	obj, err := transfer.Decode([]byte(`{"i": 5678, "w": 2.0, "e": 1e3, "f": 1.5, "big": 1e300, "n": null, "a": [1, {"x": 2}]}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"i": int64(5678), "w": int64(2), "e": int64(1000), "f": 1.5, "big": 1e300, "n": nil,
		"a": []any{int64(1), map[string]any{"x": int64(2)}},
	}, obj)

	for raw, want := range map[string]string{
		``:              "empty",
		`{"a":`:         "not valid JSON",
		`[1]`:           "a JSON array, not an object",
		`"s"`:           "a JSON string, not an object",
		`{} {}`:         "data after the JSON object",
		`{"a": tru}`:    "not valid JSON",
		`null`:          "a JSON null, not an object",
		`{"x": 1} junk`: "data after the JSON object",
	} {
		_, err := transfer.Decode([]byte(raw))
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), want, raw)
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]any{
		"3306": int64(3306), "0.5": 0.5, "true": true, "null": nil, `"10"`: "10", `[1,"a"]`: []any{int64(1), "a"},
		`{"a":1}`: map[string]any{"a": int64(1)}, "localhost": "localhost", "": "", "1 2": "1 2", "{": "{", "1e999": json.Number("1e999"),
	} {
		assert.Equal(t, want, transfer.ParseValue(in), in)
	}
}

// newManager is a manager on a new memory store with namespace ns holding
// configs.
func newManager(t testing.TB, ns string, configs transfer.Configs) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", memory.New()))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	for name, v := range configs {
		require.NoError(t, m.Set(name, v))
	}
	require.NoError(t, m.Persist(t.Context()))
	return m
}

func TestDirRoundTrip(t *testing.T) {
	configs := transfer.Configs{
		"mysql": {"host": "db", "port": int64(3306), "html": "<&>", "nested": map[string]any{"f": 0.5}},
		"empty": {},
	}
	dir := filepath.Join(t.TempDir(), "new")
	require.NoError(t, transfer.WriteDir(dir, configs))
	raw, err := os.ReadFile(filepath.Join(dir, "mysql.json"))
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"host\": \"db\",\n  \"html\": \"<&>\",\n  \"nested\": {\n    \"f\": 0.5\n  },\n  \"port\": 3306\n}\n", string(raw))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".hidden.json"), []byte("ignored"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.json"), 0o755))
	got, err := transfer.ReadDir(dir)
	require.NoError(t, err)
	assert.Equal(t, configs, got)

	_, err = transfer.ReadDir(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestApply(t *testing.T) {
	ctx := t.Context()
	m := newManager(t, "ns", transfer.Configs{"same": {"v": 1}, "old": {"v": 1}, "gone": {"v": 1}})
	desired := transfer.Configs{"same": {"v": int64(1)}, "old": {"v": int64(2)}, "new1": {}, "new2": {}, "new3": {}}

	plan, err := transfer.Apply(ctx, m, "ns", desired, transfer.Options{DryRun: true, Prune: true})
	require.NoError(t, err)
	want := transfer.Plan{Added: []string{"new1", "new2", "new3"}, Changed: []string{"old"}, Removed: []string{"gone"}}
	assert.Equal(t, want, plan)

	var steps [][2]int
	plan, err = transfer.Apply(ctx, m, "ns", desired, transfer.Options{Prune: true, Batch: 2,
		Progress: func(done, total int) { steps = append(steps, [2]int{done, total}) }})
	require.NoError(t, err)
	assert.Equal(t, want, plan)
	assert.Equal(t, [][2]int{{2, 5}, {4, 5}, {5, 5}}, steps)
	require.NoError(t, m.Reload(ctx))
	all, err := m.GetAll()
	require.NoError(t, err)
	assert.Equal(t, desired, all)

	plan, err = transfer.Apply(ctx, m, "ns", desired, transfer.Options{Prune: true})
	require.NoError(t, err)
	assert.Zero(t, plan.Len(), "applying again changes nothing")

	// without Prune, what desired lacks stays
	plan, err = transfer.Apply(ctx, m, "ns", transfer.Configs{"only": {}}, transfer.Options{})
	require.NoError(t, err)
	assert.Equal(t, transfer.Plan{Added: []string{"only"}, Changed: []string{}, Removed: []string{}}, plan)

	// a dry run of a missing namespace: everything is added, nothing created
	plan, err = transfer.Apply(ctx, m, "other", desired, transfer.Options{DryRun: true})
	require.NoError(t, err)
	assert.Len(t, plan.Added, 5)
	nss, err := m.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"ns"}, nss.All)
}

func TestApplyConflictSaysHowMuchWasApplied(t *testing.T) {
	ctx := t.Context()
	b := memory.New()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", b))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.CreateNamespace(ctx, "ns"))

	// Another writer creates "c" after Apply has read the namespace: the
	// batch that adds it conflicts, the one before it went through.
	desired := transfer.Configs{"a": {}, "b": {}, "c": {}, "d": {}}
	calls := 0
	_, err := transfer.Apply(ctx, m, "ns", desired, transfer.Options{Batch: 2, Progress: func(int, int) {
		calls++
		b.Put("ns", "c", []byte(`{"other":true}`))
	}})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "2 of 4 changes applied before")
	assert.Equal(t, 1, calls)
	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	assert.Len(t, snap.Entries, 3, "a and b from Apply, c from the other writer")
	assert.JSONEq(t, `{"other":true}`, string(snap.Entries["c"].Value))
}
