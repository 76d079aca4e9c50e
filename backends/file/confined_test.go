package file_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// TestSymlinksLeadingOutAreNotFollowed plants symbolic links in the
// backend's directory that lead outside it: a namespace directory and a
// configuration file. The backend reads nothing through them and writes
// nothing outside.
func TestSymlinksLeadingOutAreNotFollowed(t *testing.T) {
	b, dir := newBackendIn(t, "ns")
	ctx := t.Context()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.json")
	require.NoError(t, os.WriteFile(secret, []byte(`{"password":"hunter2"}`), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "evil")))
	require.NoError(t, os.Symlink(secret, filepath.Join(dir, "ns", "secret.json")))
	require.NoError(t, os.Symlink("../../"+filepath.Base(outside)+"/secret.json", filepath.Join(dir, "ns", "rel.json")))
	_, err := b.Commit(ctx, "ns", []confo.Op{{Name: "good", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)

	nss, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"ns"}, nss, "a namespace link leading out is not listed")

	_, err = b.Load(ctx, "evil")
	assert.Error(t, err, "a namespace link leading out is not loaded")
	_, err = b.Commit(ctx, "evil", []confo.Op{{Name: "pwn", Value: []byte(`{}`)}})
	assert.Error(t, err)

	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	assert.Equal(t, []string{"good"}, keys(snap.Entries), "links leading out are not configurations")

	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "secret", Value: []byte(`{"password":"pwned"}`)}})
	assert.Error(t, err, "a commit over a link leading out fails")
	_, err = b.Commit(ctx, "ns", []confo.Op{{Name: "secret", Revision: 1}})
	assert.Error(t, err)

	raw, err := os.ReadFile(secret)
	require.NoError(t, err)
	assert.JSONEq(t, `{"password":"hunter2"}`, string(raw))
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing written outside")
}

// TestSymlinkInsideIsFollowed keeps what links are for: a namespace
// directory linked to another inside config_path loads.
func TestSymlinkInsideIsFollowed(t *testing.T) {
	b, dir := newBackendIn(t, "real")
	ctx := t.Context()
	_, err := b.Commit(ctx, "real", []confo.Op{{Name: "a", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)
	require.NoError(t, os.Symlink("real", filepath.Join(dir, "alias")))

	nss, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"real", "alias"}, nss)
	snap, err := b.Load(ctx, "alias")
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, keys(snap.Entries))
}
