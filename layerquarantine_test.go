package confo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// errRefused is what refusing says of a value it refuses.
var errRefused = errors.New("refused by the test layer")

// refusing is a layer over a store that refuses, at Load, every value
// holding the text "bad" (as a schema layer refuses a value that fails its
// schema).
type refusing struct{ confo.Backend }

func (r refusing) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	snap, err := r.Backend.Load(ctx, ns)
	for name, e := range snap.Entries {
		if strings.Contains(string(e.Value), "bad") {
			e.Err = errRefused
			snap.Entries[name] = e
		}
	}
	return snap, err
}

func (r refusing) Unwrap() confo.Backend { return r.Backend }

// TestLayerRefusedValueIsCorrupt: a value a layer refuses is quarantined as
// a corrupt one is: with no good value before it, reading it is
// ErrCorruptValue, and the error still says what the layer said.
func TestLayerRefusedValueIsCorrupt(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	require.NoError(t, store.CreateNamespace(ctx, "db"))
	_, err := store.Commit(ctx, "db", []confo.Op{
		{Name: "good", Value: []byte(`{"v":1}`)},
		{Name: "refused", Value: []byte(`{"v":"bad"}`)},
	})
	require.NoError(t, err)
	m := confo.New(confo.WithLayers(func(b confo.Backend) confo.Backend { return refusing{b} }))
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", store))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.UseNamespace(ctx, "db"))

	_, err = m.Get("refused")
	require.ErrorIs(t, err, confo.ErrCorruptValue, "reading a refused value with no good one before it")
	require.ErrorIs(t, err, errRefused, "the layer's reason is kept")
	assert.Contains(t, err.Error(), `"refused"`)
	problems := m.Problems("db")
	require.Len(t, problems, 1)
	assert.ErrorIs(t, problems[0].Err, confo.ErrCorruptValue)
	assert.ErrorIs(t, problems[0].Err, errRefused)
	got, err := m.Get("good")
	require.NoError(t, err)
	assert.EqualValues(t, 1, got["v"])
}
