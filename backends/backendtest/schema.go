package backendtest

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/changelog"
	"github.com/confo-go/confo/schema"
)

// The schemas of the Schema subtests. schemaLow accepts 3306 and refuses
// 5000, which schemaPort accepts.
const (
	schemaPort = `{"type":"object","properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535}},"required":["host","port"]}`
	schemaLow  = `{"type":"object","properties":{"port":{"type":"integer","maximum":4000}}}`
)

// layeredManager returns a Manager on a new client of store with the
// schema and change-record layers (the latter with retention records),
// using namespace ns, which it creates if needed, and its schema layer.
func (s *suite) layeredManager(t testing.TB, store, ns string, records changelog.Options, opts ...confo.Option) (*confo.Manager, *schema.Backend) {
	t.Helper()
	layers := confo.WithLayers(schema.Layer(), changelog.LayerWith(records))
	m := confo.New(append([]confo.Option{layers}, opts...)...)
	require.NoError(t, m.AddBackend("backendtest", s.openUnclosed(t, store)))
	t.Cleanup(func() { assert.NoError(t, m.Close(), "Manager.Close") })
	require.NoError(t, m.ActivateBackend("backendtest"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	b, err := m.Layered("backendtest")
	require.NoError(t, err)
	sch := schema.Of(b)
	require.NotNil(t, sch, "schema.Of(Manager.Layered) finds the schema layer")
	return m, sch
}

// testSchema checks the schema layer (package schema) through a Manager on
// the backend: on a backend that implements confo.MetaStore, a schema set
// is enforced by Set and by Persist against the store's schema, values
// that fail it are quarantined when loaded or watched, a schema that a
// current value fails is refused unless forced, and every Persist moves
// schema.ValuesKey, which guards schema.Set; on one that does not,
// schema.Set is errors.ErrUnsupported.
func (s *suite) testSchema(t *testing.T) {
	b := s.open(t, newStore(t))
	if _, ok := b.(confo.MetaStore); !ok {
		s.testSchemaUnsupported(t)
		return
	}
	t.Run("SetRefusedWithPointer", s.testSchemaSetRefused)
	t.Run("PersistChecksStoreSchema", s.testSchemaChangedByAnother)
	t.Run("QuarantinedAtLoad", s.testSchemaQuarantinedAtLoad)
	t.Run("QuarantinedByWatch", s.testSchemaQuarantinedByWatch)
	t.Run("SchemaRefusedByCurrentValue", s.testSchemaRefusedByValue)
	t.Run("PersistMovesValuesKey", s.testSchemaValuesKey)
}

// testSchemaUnsupported checks that on a store without metadata the
// layers say so instead of pretending: schema.Set and the change records
// are errors.ErrUnsupported, and Persist works as without them.
func (s *suite) testSchemaUnsupported(t *testing.T) {
	t.Logf("%T does not implement confo.MetaStore: schema.Set must be errors.ErrUnsupported", s.open(t, newStore(t)))
	store := newStore(t)
	m, sch := s.layeredManager(t, store, "db", changelog.Options{})
	_, err := sch.Set(t.Context(), "db", "mysql", []byte(schemaPort))
	require.ErrorIs(t, err, errors.ErrUnsupported, "schema.Set")
	_, err = sch.Get(t.Context(), "db", "mysql")
	require.ErrorIs(t, err, errors.ErrUnsupported, "schema.Get")
	require.NoError(t, m.Set("mysql", map[string]any{"port": "not checked"}))
	require.NoError(t, m.Persist(t.Context()))
	requireEntry(t, load(t, s.open(t, store), "db"), "mysql", `{"port":"not checked"}`, 0)
}

// requireInvalid checks that err is ErrInvalidValue wrapping a
// *schema.ValidationError of configuration name of namespace ns, against
// schema key, with one failure at pointer.
func requireInvalid(t testing.TB, err error, ns, name, key, pointer string) {
	t.Helper()
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	var ve *schema.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, ns, ve.Namespace, "ValidationError.Namespace")
	assert.Equal(t, name, ve.Name, "ValidationError.Name")
	assert.Equal(t, key, ve.Schema, "ValidationError.Schema")
	require.Len(t, ve.Failures, 1, "failures: %v", ve.Failures)
	assert.Equal(t, pointer, ve.Failures[0].Pointer, "the failure's JSON pointer")
	assert.NotEmpty(t, ve.Failures[0].Message, "the failure's message")
	assert.Contains(t, err.Error(), `"`+pointer+`"`, "the message names the pointer")
}

// requireSchemaProblem checks that m lists exactly one problem in ns, for
// name, refused by its schema at pointer.
func requireSchemaProblem(t testing.TB, m *confo.Manager, ns, name, pointer string) {
	t.Helper()
	problems := m.Problems(ns)
	require.Len(t, problems, 1, "the manager lists the problem: %v", problems)
	assert.Equal(t, name, problems[0].Name)
	assert.Positive(t, problems[0].Revision, "the problem's revision")
	requireInvalid(t, problems[0].Err, ns, name, schema.Key(name), pointer)
}

func (s *suite) testSchemaSetRefused(t *testing.T) {
	store := newStore(t)
	m, sch := s.layeredManager(t, store, "db", changelog.Options{})
	rev, err := sch.Set(t.Context(), "db", "mysql", []byte(schemaPort))
	require.NoError(t, err)
	assert.Positive(t, rev)
	_, other := s.layeredManager(t, store, "db", changelog.Options{})
	got, err := other.Get(t.Context(), "db", "mysql")
	require.NoError(t, err, "another client reads the schema from the store")
	assert.JSONEq(t, schemaPort, string(got.Document))
	assert.Equal(t, rev, got.Revision)
	assert.Equal(t, schema.Key("mysql"), got.Key)

	err = m.Set("mysql", map[string]any{"host": "db1", "port": "80a"})
	requireInvalid(t, err, "db", "mysql", schema.Key("mysql"), "/port")
	_, err = m.Get("mysql")
	require.ErrorIs(t, err, confo.ErrConfigNotFound, "nothing changed in the view")

	valid := map[string]any{"host": "db1", "port": int64(3306)}
	require.NoError(t, m.Set("mysql", valid))
	requireInvalid(t, m.SetField("mysql", "port", 70000), "db", "mysql", schema.Key("mysql"), "/port")
	err = m.Update("mysql", func(old map[string]any) (map[string]any, error) {
		old["port"] = "80a"
		return old, nil
	})
	requireInvalid(t, err, "db", "mysql", schema.Key("mysql"), "/port")
	v, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, valid, v, "refused edits leave the view alone")

	require.NoError(t, m.Persist(t.Context()), "a valid value persists")
	requireEntry(t, load(t, s.open(t, store), "db"), "mysql", `{"host":"db1","port":3306}`, 0)
	fresh, _ := s.layeredManager(t, store, "db", changelog.Options{})
	v, err = fresh.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, valid, v)
	assert.Empty(t, fresh.Problems("db"))
}

func (s *suite) testSchemaChangedByAnother(t *testing.T) {
	store := newStore(t)
	m, sch := s.layeredManager(t, store, "db", changelog.Options{})
	_, err := sch.Set(t.Context(), "db", "mysql", []byte(schemaPort))
	require.NoError(t, err)
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db1", "port": 3306}))
	require.NoError(t, m.Persist(t.Context()))
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db1", "port": 5000}), "valid under the schema m knows")
	ms := s.open(t, store).(confo.MetaStore)
	records := recordKeys(t, ms, "db")

	_, admin := s.layeredManager(t, store, "db", changelog.Options{})
	_, err = admin.Set(t.Context(), "db", "mysql", []byte(schemaLow))
	require.NoError(t, err, "the stored value 3306 passes the new schema")

	err = m.Persist(t.Context())
	require.ErrorIs(t, err, confo.ErrConflict, "the schema changed under m: %v", err)
	assert.Contains(t, err.Error(), `"`+schema.Key("mysql")+`"`, "the conflict names the schema")
	err = m.Persist(t.Context())
	requireInvalid(t, err, "db", "mysql", schema.Key("mysql"), "/port")
	requireEntry(t, load(t, s.open(t, store), "db"), "mysql", `{"host":"db1","port":3306}`, 0)
	assert.Equal(t, records, recordKeys(t, ms, "db"), "a refused Persist leaves no change record")

	requireInvalid(t, m.SetField("mysql", "port", 4500), "db", "mysql", schema.Key("mysql"), "/port")
	require.NoError(t, m.SetField("mysql", "port", 3307))
	require.NoError(t, m.Persist(t.Context()), "a value valid under the new schema persists")
	requireEntry(t, load(t, s.open(t, store), "db"), "mysql", `{"host":"db1","port":3307}`, 0)
}

func (s *suite) testSchemaQuarantinedAtLoad(t *testing.T) {
	store := newStore(t)
	running, sch := s.layeredManager(t, store, "db", changelog.Options{})
	_, err := sch.Set(t.Context(), "db", "mysql", []byte(schemaPort))
	require.NoError(t, err)
	good := map[string]any{"host": "db1", "port": int64(3306)}
	require.NoError(t, running.Set("mysql", good))
	require.NoError(t, running.Set("redis", map[string]any{"host": "cache"}), "no schema of its own, no default")
	require.NoError(t, running.Persist(t.Context()))

	s.h.PutRaw(t, store, "db", "mysql", []byte(`{"host":"db1","port":"80a"}`))
	require.NoError(t, running.Reload(t.Context()), "an invalid value does not fail Reload")
	v, err := running.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, good, v, "the last valid value stays")
	requireSchemaProblem(t, running, "db", "mysql", "/port")

	starting, _ := s.layeredManager(t, store, "db", changelog.Options{})
	_, err = starting.Get("mysql")
	require.ErrorIs(t, err, confo.ErrCorruptValue, "no valid value to serve: %v", err)
	require.ErrorIs(t, err, confo.ErrInvalidValue, "and the schema's error: %v", err)
	assert.Contains(t, err.Error(), `"mysql"`)
	requireSchemaProblem(t, starting, "db", "mysql", "/port")
	v, err = starting.Get("redis")
	require.NoError(t, err, "the rest loads")
	assert.Equal(t, map[string]any{"host": "cache"}, v)

	// Set and Persist over it repair it, guarded by the invalid revision.
	require.NoError(t, starting.Set("mysql", good))
	require.NoError(t, starting.Persist(t.Context()))
	assert.Empty(t, starting.Problems("db"), "repaired")
	require.NoError(t, running.Reload(t.Context()))
	assert.Empty(t, running.Problems("db"), "the repair reaches other managers")
}

func (s *suite) testSchemaQuarantinedByWatch(t *testing.T) {
	store := newStore(t)
	m, sch := s.layeredManager(t, store, "db", changelog.Options{})
	if _, ok := s.open(t, store).(confo.Watcher); !ok {
		t.Log("backend cannot watch: Manager.Watch returns errors.ErrUnsupported")
		_, err := m.Watch(t.Context(), "db")
		require.ErrorIs(t, err, errors.ErrUnsupported)
		return
	}
	_, err := sch.Set(t.Context(), "db", "mysql", []byte(schemaPort))
	require.NoError(t, err)
	good := map[string]any{"host": "db1", "port": int64(3306)}
	require.NoError(t, m.Set("mysql", good))
	require.NoError(t, m.Persist(t.Context()))
	events, err := m.Watch(t.Context(), "db")
	require.NoError(t, err)

	s.h.PutRaw(t, store, "db", "mysql", []byte(`{"host":"db1","port":"80a"}`))
	s.reloadUnwatched(t, m)
	ev := nextSettled(t, events, "mysql")
	require.Equal(t, confo.EventProblem, ev.Type, "watchers are told: %+v", ev)
	requireInvalid(t, ev.Err, "db", "mysql", schema.Key("mysql"), "/port")
	v, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, good, v, "the last valid value stays")
	requireSchemaProblem(t, m, "db", "mysql", "/port")

	s.h.PutRaw(t, store, "db", "mysql", []byte(`{"host":"db2","port":3307}`))
	s.reloadUnwatched(t, m)
	ev = nextSettled(t, events, "mysql")
	require.Equal(t, confo.EventPut, ev.Type, "a valid value arrives: %+v", ev)
	assert.Empty(t, m.Problems("db"), "a valid version ends the problem")
	v, err = m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "db2", "port": int64(3307)}, v)
}

func (s *suite) testSchemaRefusedByValue(t *testing.T) {
	store := newStore(t)
	m, sch := s.layeredManager(t, store, "db", changelog.Options{})
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db1", "port": 5000}))
	require.NoError(t, m.Set("pg", map[string]any{"host": "db2", "port": 5432}))
	require.NoError(t, m.Set("redis", map[string]any{"host": "cache", "port": 3000}))
	require.NoError(t, m.Persist(t.Context()))

	for name, want := range map[string][]string{"mysql": {"mysql"}, "": {"mysql", "pg"}} {
		_, err := sch.Set(t.Context(), "db", name, []byte(schemaLow))
		require.ErrorIs(t, err, confo.ErrInvalidValue, "schema %q", name)
		var re *schema.RefusedError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "db", re.Namespace)
		assert.Equal(t, schema.Key(name), re.Key)
		assert.Equal(t, want, slices.Sorted(maps.Keys(re.Failures)), "the configurations that fail schema %q", name)
		for _, c := range want {
			require.NotNil(t, re.Failures[c], c)
			require.NotEmpty(t, re.Failures[c].Failures, c)
			assert.Equal(t, "/port", re.Failures[c].Failures[0].Pointer, c)
			assert.Contains(t, err.Error(), `"`+c+`"`, "the error names %q", c)
		}
		_, err = sch.Get(t.Context(), "db", name)
		require.ErrorIs(t, err, schema.ErrNoSchema, "a refused schema is not stored")
	}
	require.NoError(t, m.SetField("mysql", "port", 6000), "no schema in force")

	rev, err := sch.Set(t.Context(), "db", "mysql", []byte(schemaLow), schema.Force())
	require.NoError(t, err, "forced")
	got, err := sch.Get(t.Context(), "db", "mysql")
	require.NoError(t, err)
	assert.Equal(t, rev, got.Revision)
	assert.JSONEq(t, schemaLow, string(got.Document))
	fresh, _ := s.layeredManager(t, store, "db", changelog.Options{})
	requireSchemaProblem(t, fresh, "db", "mysql", "/port")
}

func (s *suite) testSchemaValuesKey(t *testing.T) {
	store := newStore(t)
	m, _ := s.layeredManager(t, store, "db", changelog.Options{})
	ms := s.open(t, store).(confo.MetaStore)
	_, ok := loadMeta(t, ms, "db", "")[schema.ValuesKey]
	require.False(t, ok, "no %q before the first Persist", schema.ValuesKey)

	var prev int64
	for i := range 4 {
		// Writes of the same value, and of values seen before, count too.
		require.NoError(t, m.Set("mysql", map[string]any{"port": 1 + i%2}))
		require.NoError(t, m.Persist(t.Context()))
		e, ok := loadMeta(t, ms, "db", "")[schema.ValuesKey]
		require.True(t, ok, "Persist %d writes %q", i, schema.ValuesKey)
		require.NotEqual(t, prev, e.Revision, "Persist %d moves the revision of %q: schema.Set's guard depends on it", i, schema.ValuesKey)
		if prev != 0 {
			_, err := ms.CommitMeta(t.Context(), "db", nil, []confo.MetaOp{{Key: schema.ValuesKey, Revision: prev, Check: true}})
			require.ErrorIs(t, err, confo.ErrConflict, "a guard on the revision of %q before Persist %d", schema.ValuesKey, i)
		}
		prev = e.Revision
	}
}

// nextSettled is nextEvent, passing over problems that are corrupt values:
// a raw writer that is not atomic (echo > file) can show a watch a
// half-written value before the one it writes.
func nextSettled(t testing.TB, ch <-chan confo.Event, name string) confo.Event {
	t.Helper()
	for {
		ev := nextEvent(t, ch, name)
		if ev.Type != confo.EventProblem || !errors.Is(ev.Err, confo.ErrCorruptValue) || errors.Is(ev.Err, confo.ErrInvalidValue) {
			return ev
		}
		t.Logf("passing over a half-written value: %v", ev.Err)
	}
}
