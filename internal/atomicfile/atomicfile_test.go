package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	require.NoError(t, atomicfile.Write(path, []byte(`{"v":1}`), 0o600))
	require.NoError(t, atomicfile.Write(path, []byte(`{"v":2}`), 0o600))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"v":2}`, string(raw))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	err = atomicfile.Write(filepath.Join(dir, "missing", "b.json"), []byte(`{}`), 0o600)
	require.ErrorIs(t, err, os.ErrNotExist)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}
