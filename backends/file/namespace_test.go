package file_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/file"
)

// TestDeleteNamespace deletes a namespace with its configurations and
// leaves the others.
func TestDeleteNamespace(t *testing.T) {
	b, err := file.New(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })

	ctx := t.Context()
	for _, ns := range []string{"gone", "kept"} {
		require.NoError(t, b.CreateNamespace(ctx, ns))
	}
	_, err = b.Commit(ctx, "gone", []confo.Op{{Name: "a", Value: []byte(`{"x":1}`)}, {Name: "b", Value: []byte(`{}`)}})
	require.NoError(t, err)
	_, err = b.Commit(ctx, "kept", []confo.Op{{Name: "a", Value: []byte(`{"x":2}`)}})
	require.NoError(t, err)

	require.NoError(t, b.DeleteNamespace(ctx, "gone"))
	nss, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"kept"}, nss)
	_, err = b.Load(ctx, "gone")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
	snap, err := b.Load(ctx, "kept")
	require.NoError(t, err)
	assert.Len(t, snap.Entries, 1, "another namespace is untouched")
	require.ErrorIs(t, b.DeleteNamespace(ctx, "gone"), confo.ErrNamespaceNotFound)
	require.ErrorIs(t, b.DeleteNamespace(ctx, "a/b"), confo.ErrInvalidName)

	// created again, it starts empty
	require.NoError(t, b.CreateNamespace(ctx, "gone"))
	snap, err = b.Load(ctx, "gone")
	require.NoError(t, err)
	assert.Empty(t, snap.Entries)
}
