package backendtest

import (
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDeleteNamespace checks a backend that implements
// confo.NamespaceDeleter: the namespace goes with its configurations, the
// others stay, and one created again under its name starts empty.
func (s *suite) testDeleteNamespace(t *testing.T) {
	b := s.open(t, newStore(t))
	nd, ok := b.(confo.NamespaceDeleter)
	if !ok {
		t.Skipf("%T does not implement confo.NamespaceDeleter", b)
	}
	ctx := t.Context()
	for _, ns := range []string{"gone", "kept"} {
		require.NoError(t, b.CreateNamespace(ctx, ns))
	}
	commit(t, b, "gone", put("a", `{"x":1}`, 0), put("b", `{}`, 0))
	commit(t, b, "kept", put("a", `{"x":2}`, 0))

	require.NoError(t, nd.DeleteNamespace(ctx, "gone"))
	names, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"kept"}, names)
	_, err = b.Load(ctx, "gone")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
	entries := load(t, b, "kept")
	assert.Len(t, entries, 1, "another namespace is untouched")
	requireEntry(t, entries, "a", `{"x":2}`, 0)
	require.ErrorIs(t, nd.DeleteNamespace(ctx, "gone"), confo.ErrNamespaceNotFound)
	require.ErrorIs(t, nd.DeleteNamespace(ctx, "a/b"), confo.ErrInvalidName)

	// Created again, it starts empty.
	require.NoError(t, b.CreateNamespace(ctx, "gone"))
	assert.Empty(t, load(t, b, "gone"))
}
