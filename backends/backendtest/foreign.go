package backendtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// managerQuarantinesForeignNames turns on the Manager half of the foreign
// names check: an invalid name in the store is not in GetAll and
// [confo.Manager.Problems] lists it wrapping [confo.ErrInvalidName]. It
// needs the core's quarantine of foreign names (issue 16 item 2); set it to
// true when that lands.
const managerQuarantinesForeignNames = true

// foreignNames are names another client may write into a store that are
// not valid configuration names: each breaks one rule of
// [confo.ValidateName].
var foreignNames = []string{
	"a/b",
	"../../pwn",
	".",
	"..",
	"",
	"ctl\x01char",
	"bad\xffutf8",
	strings.Repeat("x", 256),
}

// plantForeign writes "good" and every foreign name the store can hold
// into namespace ns of store, and returns the names planted.
func (s *suite) plantForeign(t testing.TB, store, ns string) []string {
	t.Helper()
	s.h.PutRaw(t, store, ns, "good", []byte(`{"v":1}`))
	var planted []string
	for _, name := range foreignNames {
		if s.h.PutForeign(t, store, ns, name, []byte(`{"planted":true}`)) {
			planted = append(planted, name)
		}
	}
	require.NotEmpty(t, planted, "Harness.PutForeign held none of the foreign names")
	return planted
}

// testForeignNames checks that names in the store that are not valid
// configuration names are passed up by Load and Watch as they are (the
// Manager decides what to do with them) and do not fail a Manager's load.
func (s *suite) testForeignNames(t *testing.T) {
	t.Run("Load", func(t *testing.T) {
		store := newStore(t)
		b := s.open(t, store)
		require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
		planted := s.plantForeign(t, store, "ns")
		entries := load(t, b, "ns")
		requireEntry(t, entries, "good", `{"v":1}`, 0)
		for _, name := range planted {
			e, ok := entries[name]
			if assert.True(t, ok, "Load passes up foreign name %q as it is", name) {
				assert.JSONEq(t, `{"planted":true}`, string(e.Value), "value of %q", name)
			}
		}
	})
	t.Run("ManagerLoads", func(t *testing.T) {
		store := newStore(t)
		b := s.open(t, store)
		require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
		s.plantForeign(t, store, "ns")
		m := newManager(t, s.openUnclosed(t, store))
		require.NoError(t, m.UseNamespace(t.Context(), "ns"), "foreign names do not fail the load")
		got, err := m.Get("good")
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"v": int64(1)}, got)
		require.NoError(t, m.Reload(t.Context()), "nor a reload")
	})
	if managerQuarantinesForeignNames {
		t.Run("ManagerQuarantines", s.testForeignNamesQuarantined)
	}
	t.Run("ExportAndMirrorConfined", s.testForeignNamesConfined)
	if _, ok := s.open(t, newStore(t)).(confo.Watcher); ok {
		t.Run("Watch", s.testForeignNamesWatch)
	}
}

// testForeignNamesQuarantined checks the Manager half: foreign names are
// not configurations of the view, and are reported as problems.
func (s *suite) testForeignNamesQuarantined(t *testing.T) {
	store := newStore(t)
	b := s.open(t, store)
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	planted := s.plantForeign(t, store, "ns")
	m := newManager(t, s.openUnclosed(t, store))
	require.NoError(t, m.UseNamespace(t.Context(), "ns"))
	all, err := m.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"good": {"v": int64(1)}}, all)
	problems := m.Problems("ns")
	reported := map[string]error{}
	for _, p := range problems {
		reported[p.Name] = p.Err
	}
	for _, name := range planted {
		if assert.Contains(t, reported, name, "problem for foreign name %q", name) {
			assert.ErrorIs(t, reported[name], confo.ErrInvalidName)
		}
	}
}

// testForeignNamesWatch checks that a backend's watch passes foreign names
// up as they are. A commit through the backend follows the planted names,
// for stores whose watch wakes on their own commits only.
func (s *suite) testForeignNamesWatch(t *testing.T) {
	store := newStore(t)
	watcher, writer := s.open(t, store), s.open(t, store)
	require.NoError(t, writer.CreateNamespace(t.Context(), "ns"))
	snap, err := watcher.Load(t.Context(), "ns")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := watcher.(confo.Watcher).Watch(ctx, "ns", snap.Revision)
	require.NoError(t, err)

	planted := s.plantForeign(t, store, "ns")
	commit(t, writer, "ns", put("barrier", `{"v":2}`, 0))
	want := map[string]bool{"good": true, "barrier": true}
	for _, name := range planted {
		want[name] = true
	}
	seen := map[string]bool{}
	timeout := time.After(watchTimeout)
	for len(seen) < len(want) {
		select {
		case batch, ok := <-ch:
			require.True(t, ok, "watch closed; seen %q", seen)
			require.NoError(t, batch.Err)
			for _, c := range batch.Changes {
				if want[c.Name] && c.Value != nil {
					seen[c.Name] = true
				}
			}
		case <-timeout:
			var missing []string
			for name := range want {
				if !seen[name] {
					missing = append(missing, fmt.Sprintf("%q", name))
				}
			}
			require.FailNow(t, "watch did not pass up every name", "missing: %s", strings.Join(missing, ", "))
		}
	}
}

// testForeignNamesConfined loads a namespace holding foreign names through
// a Manager with a mirror and exports it as confo export does: no file is
// written outside the mirror's or the export's directory.
func (s *suite) testForeignNamesConfined(t *testing.T) {
	store := newStore(t)
	b := s.open(t, store)
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	s.plantForeign(t, store, "ns")

	base := t.TempDir()
	mirror := filepath.Join(base, "a", "b", "mirror")
	export := filepath.Join(base, "a", "b", "export")
	m := confo.New(confo.WithMirror(mirror))
	require.NoError(t, m.AddBackend("backendtest", s.openUnclosed(t, store)))
	require.NoError(t, m.ActivateBackend("backendtest"))
	configs, err := transfer.Load(t.Context(), m, "ns", false)
	require.NoError(t, err)
	require.NoError(t, transfer.WriteDir(export, configs), "export without the foreign names")
	require.NoError(t, m.Close(), "Close waits for the mirror's writes")
	_, err = os.Stat(filepath.Join(mirror, "backendtest", "ns", "good.json"))
	require.NoError(t, err, "the mirror holds the valid configuration")
	_, err = os.Stat(filepath.Join(export, "good.json"))
	require.NoError(t, err, "the export holds the valid configuration")

	require.NoError(t, filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasPrefix(path, mirror+string(filepath.Separator)) && !strings.HasPrefix(path, export+string(filepath.Separator)) {
			t.Errorf("a file outside the mirror and the export: %s", path)
		}
		return nil
	}))
}
