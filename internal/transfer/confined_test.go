package transfer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
)

// TestWriteDirConfined: names that are not valid configuration names write
// nothing, and a link planted in the directory is replaced, not followed.
func TestWriteDirConfined(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "export")
	outside := filepath.Join(base, "outside.json")
	require.NoError(t, os.WriteFile(outside, []byte(`{"keep":true}`), 0o600))

	for _, name := range []string{"../pwn", "..", ".", "", "a/b", "x\x00y"} {
		err := transfer.WriteDir(dir, transfer.Configs{"good": {"v": 1}, name: {"v": 2}})
		require.ErrorIs(t, err, confo.ErrInvalidName, "name %q", name)
	}
	_, err := os.Stat(filepath.Join(base, "pwn.json"))
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "good.json")))
	require.NoError(t, transfer.WriteDir(dir, transfer.Configs{"good": {"v": 1}}))
	raw, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.JSONEq(t, `{"keep":true}`, string(raw), "the link's target is untouched")
	fi, err := os.Lstat(filepath.Join(dir, "good.json"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link is replaced by the file")
	assert.Equal(t, transfer.FilePerm, fi.Mode().Perm())

	fresh := filepath.Join(base, "fresh")
	require.NoError(t, transfer.WriteDir(fresh, transfer.Configs{"a": {}}))
	fi, err = os.Stat(fresh)
	require.NoError(t, err)
	assert.Equal(t, transfer.DirPerm, fi.Mode().Perm())
}

// TestReadDirConfined: a link in the directory leading out of it is an
// error naming it, never read.
func TestReadDirConfined(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "import")
	require.NoError(t, os.Mkdir(dir, 0o700))
	secret := filepath.Join(base, "secret.json")
	require.NoError(t, os.WriteFile(secret, []byte(`{"password":"hunter2"}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"v":1}`), 0o600))
	require.NoError(t, os.Symlink("a.json", filepath.Join(dir, "alias.json")))

	got, err := transfer.ReadDir(dir)
	require.NoError(t, err, "a link inside the directory is read")
	assert.Equal(t, transfer.Configs{"a": {"v": int64(1)}, "alias": {"v": int64(1)}}, got)

	require.NoError(t, os.Symlink(secret, filepath.Join(dir, "secret.json")))
	_, err = transfer.ReadDir(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret.json")
	assert.NotContains(t, err.Error(), "hunter2")
}
