package schema_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/internal/forward"
	"github.com/confo-go/confo/schema"
)

const mysqlSchema = `{
  "type": "object",
  "properties": {
    "host": {"type": "string", "format": "hostname"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "replicas": {"type": "array", "items": {"type": "object", "required": ["host"]}}
  },
  "required": ["host", "port"]
}`

// newStore returns a memory store with namespace db holding mysql, and a
// schema layer on it.
func newStore(t *testing.T) (*memory.Backend, *schema.Backend) {
	t.Helper()
	mem := memory.New()
	require.NoError(t, mem.CreateNamespace(t.Context(), "db"))
	_, err := mem.Commit(t.Context(), "db", []confo.Op{{Name: "mysql", Value: []byte(`{"host":"db1","port":3306}`)}})
	require.NoError(t, err)
	return mem, schema.Wrap(mem)
}

func validationError(t *testing.T, err error) *schema.ValidationError {
	t.Helper()
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	var ve *schema.ValidationError
	require.True(t, errors.As(err, &ve), "a *ValidationError: %v", err)
	return ve
}

func TestSetGetRemove(t *testing.T) {
	_, s := newStore(t)
	ctx := t.Context()
	_, err := s.Get(ctx, "db", "mysql")
	require.ErrorIs(t, err, schema.ErrNoSchema)

	rev, err := s.Set(ctx, "db", "mysql", []byte(mysqlSchema))
	require.NoError(t, err)
	assert.Positive(t, rev)
	got, err := s.Get(ctx, "db", "mysql")
	require.NoError(t, err)
	assert.Equal(t, "schema/mysql", got.Key)
	assert.Equal(t, rev, got.Revision)
	assert.JSONEq(t, mysqlSchema, string(got.Document))

	require.NoError(t, s.Remove(ctx, "db", "mysql"))
	require.ErrorIs(t, s.Remove(ctx, "db", "mysql"), schema.ErrNoSchema)
}

func TestSetRefusesInvalidSchemas(t *testing.T) {
	_, s := newStore(t)
	for name, doc := range map[string]string{
		"not JSON":       `{"type":`,
		"bad keyword":    `{"type": 12}`,
		"remote ref":     `{"$ref": "https://example.com/schema.json"}`,
		"file ref":       `{"$ref": "file:///etc/passwd"}`,
		"bad pattern":    `{"properties": {"a": {"pattern": "("}}}`,
		"relative ref":   `{"$ref": "other.json"}`,
		"unknown anchor": `{"$ref": "#/$defs/missing"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Set(t.Context(), "db", "mysql", []byte(doc))
			require.ErrorIs(t, err, schema.ErrInvalidSchema)
			_, err = s.Get(t.Context(), "db", "mysql")
			require.ErrorIs(t, err, schema.ErrNoSchema, "nothing stored")
		})
	}
}

func TestCheckValueNamesTheField(t *testing.T) {
	_, s := newStore(t)
	_, err := s.Set(t.Context(), "db", "mysql", []byte(mysqlSchema))
	require.NoError(t, err)

	require.NoError(t, checkValue(s, "db", "mysql", map[string]any{"host": "db2", "port": int64(3307)}))
	ve := validationError(t, checkValue(s, "db", "mysql", map[string]any{
		"host": "db2", "port": "80a", "replicas": []any{map[string]any{"port": int64(1)}},
	}))
	assert.Equal(t, "schema/mysql", ve.Schema)
	var pointers []string
	for _, f := range ve.Failures {
		pointers = append(pointers, f.Pointer)
		assert.NotEmpty(t, f.Message)
	}
	assert.Equal(t, []string{"/port", "/replicas/0"}, pointers)
	assert.Contains(t, ve.Error(), `at "/port": got string, want integer`)
	assert.NoError(t, checkValue(s, "db", "mysql", nil), "a delete is not checked")
	assert.NoError(t, checkValue(s, "db", "redis", map[string]any{"x": true}), "no schema, no default")
}

func TestDefaultSchema(t *testing.T) {
	_, s := newStore(t)
	_, err := s.Set(t.Context(), "db", "", []byte(`{"type":"object","properties":{"port":{"type":"integer"}}}`))
	require.NoError(t, err)
	ve := validationError(t, checkValue(s, "db", "redis", map[string]any{"port": "x"}))
	assert.Equal(t, "schema", ve.Schema)
	_, err = s.Set(t.Context(), "db", "redis", []byte(`{"type":"object"}`))
	require.NoError(t, err)
	assert.NoError(t, checkValue(s, "db", "redis", map[string]any{"port": "x"}), "its own schema wins")
}

func TestSetRefusedByCurrentValues(t *testing.T) {
	mem, s := newStore(t)
	ctx := t.Context()
	mem.Put("db", "postgres", []byte(`{"host":"pg","port":"5432"}`))
	strict := `{"type":"object","properties":{"port":{"type":"integer"}}}`
	_, err := s.Set(ctx, "db", "", []byte(strict))
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	var refused *schema.RefusedError
	require.True(t, errors.As(err, &refused))
	assert.Equal(t, []string{"postgres"}, keys(refused.Failures))
	assert.Contains(t, err.Error(), `"postgres" (at "/port": got string, want integer)`)
	_, err = s.Get(ctx, "db", "")
	require.ErrorIs(t, err, schema.ErrNoSchema, "refused: nothing stored")

	_, err = s.Set(ctx, "db", "", []byte(strict), schema.Force())
	require.NoError(t, err)
	failures, err := s.Check(ctx, "db")
	require.NoError(t, err)
	require.Len(t, failures, 1)
	assert.Equal(t, "postgres", validationError(t, failures[0]).Name)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLoadQuarantines(t *testing.T) {
	mem, s := newStore(t)
	_, err := s.Set(t.Context(), "db", "mysql", []byte(mysqlSchema))
	require.NoError(t, err)
	mem.Put("db", "mysql", []byte(`{"host":"db1","port":"80a"}`)) // as etcdctl would
	mem.Put("db", "other", []byte(`{"anything":1}`))
	snap, err := s.Load(t.Context(), "db")
	require.NoError(t, err)
	ve := validationError(t, snap.Entries["mysql"].Err)
	assert.Equal(t, "/port", ve.Failures[0].Pointer)
	assert.NoError(t, snap.Entries["other"].Err)
}

func TestCommitValidatesAndGuards(t *testing.T) {
	mem, s := newStore(t)
	ctx := t.Context()
	_, err := s.Set(ctx, "db", "mysql", []byte(mysqlSchema))
	require.NoError(t, err)
	snap, err := s.Load(ctx, "db")
	require.NoError(t, err)
	rev := snap.Entries["mysql"].Revision

	_, err = s.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"host":"db1","port":0}`), Revision: rev}})
	ve := validationError(t, err)
	assert.Equal(t, "/port", ve.Failures[0].Pointer)

	// Another writer tightens the schema: the commit, valid under the old
	// one, fails with a conflict naming the schema, and the next attempt
	// is checked against the new schema.
	other := schema.Wrap(mem)
	_, err = other.Set(ctx, "db", "mysql", []byte(`{"type":"object","properties":{"port":{"type":"integer","minimum":3306}}}`))
	require.NoError(t, err)
	op := confo.Op{Name: "mysql", Value: []byte(`{"host":"db1","port":80}`), Revision: rev}
	_, err = s.Commit(ctx, "db", []confo.Op{op})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "schema/mysql")
	_, err = s.Commit(ctx, "db", []confo.Op{op})
	validationError(t, err)

	// A default schema set by another writer guards a configuration that
	// has no schema of its own.
	_, err = other.Set(ctx, "db", "", []byte(`{"type":"object","required":["owner"]}`))
	require.NoError(t, err)
	_, err = s.Commit(ctx, "db", []confo.Op{{Name: "redis", Value: []byte(`{}`)}})
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), `"schema"`)
}

func TestBatchLimitsLeaveRoomForGuards(t *testing.T) {
	for inner, want := range map[int]int{128: 125, 8: 5, 4: 1, 3: 1, 0: 0} {
		s := schema.Wrap(limited{memory.New(), confo.BatchLimits{MaxOps: inner}})
		assert.Equal(t, want, s.BatchLimits().MaxOps, "inner %d", inner)
	}
}

type limited struct {
	*memory.Backend
	l confo.BatchLimits
}

func (l limited) BatchLimits() confo.BatchLimits { return l.l }

// checkValue is s.CheckValue's error.
func checkValue(s *schema.Backend, ns, name string, value map[string]any) error {
	_, err := s.CheckValue(ns, name, value)
	return err
}

// TestManageWithoutMetadata: on a store without metadata, beneath another
// layer too (a layer is a MetaStore whatever it wraps), the management
// calls say the store keeps no metadata rather than that there is no schema.
func TestManageWithoutMetadata(t *testing.T) {
	mem := memory.New()
	require.NoError(t, mem.CreateNamespace(t.Context(), "db"))
	for _, b := range []confo.Backend{plain{mem}, forward.New("inner", plain{mem})} {
		s := schema.Wrap(b)
		_, err := s.Get(t.Context(), "db", "mysql")
		require.ErrorIs(t, err, errors.ErrUnsupported, "%T", b)
		require.ErrorIs(t, s.Remove(t.Context(), "db", "mysql"), errors.ErrUnsupported, "%T", b)
	}
}

// plain is a store seen through the Backend interface alone: it keeps no
// metadata.
type plain struct{ confo.Backend }
