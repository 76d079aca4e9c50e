package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/atomicfile"
)

// TestWriteInConfined writes through an os.Root: names that climb out, and
// symbolic links planted inside that lead out, write nothing outside.
func TestWriteInConfined(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.Mkdir(outside, 0o700))
	target := filepath.Join(outside, "target.json")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "out")))
	require.NoError(t, os.Symlink(target, filepath.Join(dir, "link.json")))

	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()

	for _, name := range []string{"../pwn.json", "out/pwn.json", "../outside/pwn.json"} {
		assert.Error(t, atomicfile.WriteIn(root, name, []byte("x"), 0o600), name)
	}
	// A link as the final element is replaced, not followed.
	require.NoError(t, atomicfile.WriteIn(root, "link.json", []byte(`{"v":1}`), 0o600))
	fi, err := os.Lstat(filepath.Join(dir, "link.json"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing written outside")
	raw, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(raw))

	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary file left: out, link.json")
}
