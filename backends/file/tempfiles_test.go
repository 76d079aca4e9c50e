package file_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/file"
)

// TestCommitRemovesStaleTemps leaves temporary files in a namespace as a
// writer killed mid-Commit would: a Commit removes those older than
// StaleTempAge and keeps the young ones (a live writer's), other files and
// other namespaces' temporary files.
func TestCommitRemovesStaleTemps(t *testing.T) {
	b, dir := newBackendIn(t, "ns", "other")
	ctx := t.Context()

	old := time.Now().Add(-file.StaleTempAge - time.Minute)
	write := func(path string, mtime time.Time) string {
		t.Helper()
		require.NoError(t, os.WriteFile(path, []byte(`{"half":`), 0o644))
		require.NoError(t, os.Chtimes(path, mtime, mtime))
		return path
	}
	stale := write(filepath.Join(dir, "ns", ".confo-0123456789abcdef.tmp"), old)
	young := write(filepath.Join(dir, "ns", ".confo-fedcba9876543210.tmp"), time.Now().Add(-file.StaleTempAge+time.Minute))
	notTemp := write(filepath.Join(dir, "ns", "notes.txt"), old)
	otherNS := write(filepath.Join(dir, "other", ".confo-00000000000000ff.tmp"), old)
	staleDir := filepath.Join(dir, "ns", ".confo-dir.tmp")
	require.NoError(t, os.Mkdir(staleDir, 0o755))
	require.NoError(t, os.Chtimes(staleDir, old, old))

	_, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)

	assert.NoFileExists(t, stale, "a stale temporary file is removed")
	assert.FileExists(t, young, "a live writer's temporary file stays")
	assert.FileExists(t, notTemp, "only temporary files are removed")
	assert.FileExists(t, otherNS, "only in the namespace committed to")
	assert.DirExists(t, staleDir, "only regular files are removed")
	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, keys(snap.Entries))
}

// newBackendIn returns a Backend on a new directory, closed when t ends,
// with namespaces created, and the directory.
func newBackendIn(t testing.TB, namespaces ...string) (*file.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := file.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	for _, ns := range namespaces {
		require.NoError(t, b.CreateNamespace(t.Context(), ns))
	}
	return b, dir
}

func keys(m map[string]confo.Entry) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
