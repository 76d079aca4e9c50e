package testserver

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
)

// ExportConfined checks that names planted in a store cannot lead an export
// outside its directory. plant writes raw under a configuration name of
// namespace ns as another client of the store would (ns is created first
// through b). It plants "good" and each of names, loads ns through a
// Manager on b and exports it with the transfer package (what confo export
// runs) to base/a/b/export, and checks that no file appears in base outside
// base/a/b/export: the export succeeds without the planted names (once the
// Manager quarantines them) or fails with ErrInvalidName, writing nothing.
func ExportConfined(t *testing.T, b confo.Backend, plant func(t testing.TB, ns, name string, raw []byte), names ...string) {
	t.Helper()
	ctx := t.Context()
	const ns = "exported"
	require.NoError(t, b.CreateNamespace(ctx, ns))
	plant(t, ns, "good", []byte(`{"v":1}`))
	for _, name := range names {
		plant(t, ns, name, []byte(`{"planted":true}`))
	}

	m := confo.New()
	require.NoError(t, m.AddBackend("store", b))
	require.NoError(t, m.ActivateBackend("store"))
	configs, err := transfer.Load(ctx, m, ns, false)
	require.NoError(t, err, "loading a namespace with planted names")

	base := t.TempDir()
	dir := filepath.Join(base, "a", "b", "export")
	err = transfer.WriteDir(dir, configs)
	if err != nil {
		require.ErrorIs(t, err, confo.ErrInvalidName)
	} else {
		raw, err := os.ReadFile(filepath.Join(dir, "good.json"))
		require.NoError(t, err)
		assert.JSONEq(t, `{"v":1}`, string(raw))
	}
	require.NoError(t, filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			t.Errorf("export wrote %s, outside %s", path, dir)
		} else if fi, err := d.Info(); err == nil {
			assert.Equal(t, transfer.FilePerm, fi.Mode().Perm(), "mode of %s", path)
		}
		return nil
	}))
}
