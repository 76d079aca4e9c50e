package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/file"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConformance(t *testing.T) {
	root := t.TempDir()
	backendtest.Run(t, backendtest.Harness{
		Open: func(t testing.TB, store string) confo.Backend {
			b, err := file.New(filepath.Join(root, store))
			require.NoError(t, err)
			return b
		},
		PutRaw: func(t testing.TB, store, ns, name string, raw []byte) {
			// As an editor or echo would: in place, not atomically.
			require.NoError(t, os.WriteFile(filepath.Join(root, store, ns, name+".json"), raw, 0o644))
		},
	})
}

// newManager returns a Manager on a file backend loaded from credentials
// with config_path dir, using namespace ns.
func newManager(t testing.TB, dir, ns string) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	require.NoError(t, m.LoadBackend(t.Context(), "files", confo.FileBackend, confo.Credentials{"config_path": dir}))
	require.NoError(t, m.ActivateBackend("files"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

func TestManagerRoundTripAndLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	m1 := newManager(t, dir, "database")
	mysql := map[string]any{"host": "localhost", "port": int64(3306), "tags": []any{"a", "é"}}
	require.NoError(t, m1.Set("mysql", mysql))
	require.NoError(t, m1.Persist(t.Context()))

	raw, err := os.ReadFile(filepath.Join(dir, "database", "mysql.json"))
	require.NoError(t, err, "<config_path>/<namespace>/<name>.json")
	var onDisk map[string]any
	require.NoError(t, json.Unmarshal(raw, &onDisk))
	assert.Equal(t, map[string]any{"host": "localhost", "port": 3306.0, "tags": []any{"a", "é"}}, onDisk)
	assert.Contains(t, string(raw), "é", "written as UTF-8, not escaped")

	entries, err := os.ReadDir(filepath.Join(dir, "database"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"mysql.json", ".lock"}, names, "no temporary file left")

	m2 := newManager(t, dir, "database")
	got, err := m2.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, mysql, got)

	require.NoError(t, m2.Delete("mysql"))
	require.NoError(t, m2.Persist(t.Context()))
	assert.NoFileExists(t, filepath.Join(dir, "database", "mysql.json"))
}

func TestOpenCredentials(t *testing.T) {
	for name, tt := range map[string]struct {
		creds   confo.Credentials
		wantErr error
		wantMsg string
	}{
		"missing config_path": {creds: confo.Credentials{}, wantErr: confo.ErrInvalidCredentials, wantMsg: "config_path"},
		"empty config_path":   {creds: confo.Credentials{"config_path": ""}, wantErr: confo.ErrInvalidCredentials, wantMsg: "config_path"},
		"config_path not a string": {
			creds: confo.Credentials{"config_path": 42}, wantErr: confo.ErrInvalidCredentials, wantMsg: "config_path",
		},
		"namespaces not a list": {
			creds: confo.Credentials{"config_path": "DIR", "namespaces": 42}, wantErr: confo.ErrInvalidCredentials, wantMsg: "namespaces",
		},
		"invalid namespace": {
			creds: confo.Credentials{"config_path": "DIR", "namespaces": []string{"../escape"}}, wantErr: confo.ErrInvalidName, wantMsg: "namespaces",
		},
		"namespaces": {creds: confo.Credentials{"config_path": "DIR", "namespaces": []any{"sales", "database"}}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "config")
			if tt.creds["config_path"] == "DIR" {
				tt.creds["config_path"] = dir
			}
			m := confo.New()
			t.Cleanup(func() { m.Close() })
			err := m.LoadBackend(t.Context(), "files", confo.FileBackend, tt.creds)
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr != nil {
				assert.Contains(t, err.Error(), tt.wantMsg)
				return
			}
			require.NoError(t, m.ActivateBackend("files"))
			got, err := m.GetNamespaces(t.Context())
			require.NoError(t, err)
			assert.Equal(t, []string{"database", "sales"}, got.All)
			assert.DirExists(t, filepath.Join(dir, "sales"), "the directory is created with its parents")
		})
	}
}

func TestNewOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	_, err := file.New(path)
	require.Error(t, err)
	_, err = file.New(filepath.Join(path, "below"))
	require.Error(t, err)
}

func TestNamesCannotLeaveConfigPath(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "config")
	b, err := file.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	require.NoError(t, b.CreateNamespace(ctx, "ns"))

	for _, name := range []string{
		"..", ".", "../x", "../../etc", "a/b", "/etc/passwd", "/", "", "x\x00y", "sub/../..",
		"a\\..\\..\\b", strings.Repeat("n", 256),
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if filepath.Separator == '/' && name == "a\\..\\..\\b" {
				// A backslash is an ordinary character here: the name is
				// one file in config_path, which is fine.
				return
			}
			assert.ErrorIs(t, b.CreateNamespace(ctx, name), confo.ErrInvalidName, "CreateNamespace")
			_, err := b.Load(ctx, name)
			assert.ErrorIs(t, err, confo.ErrInvalidName, "Load")
			_, err = b.Commit(ctx, name, []confo.Op{{Name: "x", Value: []byte(`{}`)}})
			assert.ErrorIs(t, err, confo.ErrInvalidName, "Commit to namespace")
			_, err = b.Commit(ctx, "ns", []confo.Op{{Name: name, Value: []byte(`{}`)}})
			assert.ErrorIs(t, err, confo.ErrInvalidName, "Commit of configuration")
			_, err = b.Commit(ctx, "ns", []confo.Op{{Name: name}})
			assert.ErrorIs(t, err, confo.ErrInvalidName, "Commit of delete")
		})
	}

	// Nothing was created outside config_path, nor inside but the namespace.
	outside, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, outside, 1)
	assert.Equal(t, "config", outside[0].Name())
	inside, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, inside, 1)
	assert.Equal(t, "ns", inside[0].Name())
	files, err := os.ReadDir(filepath.Join(dir, "ns"))
	require.NoError(t, err)
	assert.Empty(t, files)
}

func TestConfigurationNameLimit(t *testing.T) {
	b, err := file.New(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))

	longest := strings.Repeat("n", 250)
	_, err = b.Commit(t.Context(), "ns", []confo.Op{{Name: longest, Value: []byte(`{}`)}})
	require.NoError(t, err, "250 bytes plus .json fit a file name")
	_, err = b.Commit(t.Context(), "ns", []confo.Op{{Name: longest + "x", Value: []byte(`{}`)}})
	require.ErrorIs(t, err, confo.ErrInvalidName)
	snap, err := b.Load(t.Context(), "ns")
	require.NoError(t, err)
	assert.Len(t, snap.Entries, 1)
}

func TestLoadIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir, "ns")
	require.NoError(t, m.Set("real", map[string]any{"v": 1}))
	require.NoError(t, m.Persist(t.Context()))

	ns := filepath.Join(dir, "ns")
	for name, content := range map[string]string{
		".confo-0123456789abcdef.tmp": `{"v":`, // left by a crash mid-write
		"notes.txt":                   "not a configuration",
		"real.json.bak":               `{"v":0}`,
		"real.json~":                  `{"v":0}`,
		".json":                       `{"v":0}`, // no name
	} {
		require.NoError(t, os.WriteFile(filepath.Join(ns, name), []byte(content), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(ns, "sub.json"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a namespace"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".confo-deleted-0123.tmp"), 0o755)) // a namespace being deleted
	require.ErrorIs(t, m.CreateNamespace(t.Context(), ".confo-x.tmp"), confo.ErrInvalidName, "reserved name")

	require.NoError(t, m.Reload(t.Context()))
	all, err := m.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"real": {"v": int64(1)}}, all)
	got, err := m.GetNamespaces(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"ns"}, got.All, "neither a file nor a temporary directory is a namespace")

	require.NoError(t, m.SetField("real", "v", 2))
	require.NoError(t, m.Persist(t.Context()), "a leftover temporary file does not get in the way")
}

// TestTornWriteNeverVisible has readers load a namespace, and read its files
// directly, while a writer keeps replacing large values: every read decodes
// completely.
func TestTornWriteNeverVisible(t *testing.T) {
	dir := t.TempDir()
	writer := newManager(t, dir, "ns")
	reader, err := file.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { reader.Close() })

	const (
		writes = 20
		size   = 64 << 10
	)
	value := func(i int) map[string]any {
		return map[string]any{"i": int64(i), "pad": strings.Repeat(strconv.Itoa(i%10), size)}
	}
	require.NoError(t, writer.Set("big", value(0)))
	require.NoError(t, writer.Set("other", value(0)))
	require.NoError(t, writer.Persist(t.Context()))

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var loads, reads int
	wg.Go(func() {
		for ctx.Err() == nil {
			snap, err := reader.Load(ctx, "ns")
			if ctx.Err() != nil {
				return
			}
			if !assert.NoError(t, err) {
				return
			}
			for name, e := range snap.Entries {
				var v struct {
					I   int
					Pad string
				}
				if !assert.NoError(t, json.Unmarshal(e.Value, &v), "Load of %q: %d bytes", name, len(e.Value)) ||
					!assert.Len(t, v.Pad, size) {
					return
				}
			}
			loads++
		}
	})
	wg.Go(func() {
		path := filepath.Join(dir, "ns", "big.json")
		for ctx.Err() == nil {
			raw, err := os.ReadFile(path)
			if !assert.NoError(t, err) {
				return
			}
			if !assert.True(t, json.Valid(raw), "read of big.json: %d bytes", len(raw)) {
				return
			}
			reads++
		}
	})
	for i := 1; i <= writes && !t.Failed(); i++ {
		require.NoError(t, writer.Set("big", value(i)))
		require.NoError(t, writer.Set("other", value(i)))
		require.NoError(t, writer.Persist(t.Context()))
	}
	stop()
	wg.Wait()
	t.Logf("%d writes, %d loads, %d direct reads", writes, loads, reads)
}

func TestTwoManagersConflict(t *testing.T) {
	dir := t.TempDir()
	m1 := newManager(t, dir, "database")
	require.NoError(t, m1.Set("mysql", map[string]any{"port": 3306}))
	require.NoError(t, m1.Persist(t.Context()))
	m2 := newManager(t, dir, "database")

	require.NoError(t, m1.SetField("mysql", "port", 3307))
	require.NoError(t, m1.Persist(t.Context()))
	require.NoError(t, m2.SetField("mysql", "port", 3308))
	err := m2.Persist(t.Context())
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), `"mysql"`)

	raw, err := os.ReadFile(filepath.Join(dir, "database", "mysql.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"port":3307}`, string(raw), "the first manager's write stands")
}

func TestPermissionsKept(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir, "secrets")
	require.NoError(t, m.Set("db", map[string]any{"password": "x"}))
	require.NoError(t, m.Persist(t.Context()))
	path := filepath.Join(dir, "secrets", "db.json")
	require.NoError(t, os.Chmod(path, 0o600))

	require.NoError(t, m.SetField("db", "password", "y"))
	require.NoError(t, m.Persist(t.Context()))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
}

// The cross-process test runs this test binary again as a second process
// that increments the same counter as the first.
const childEnv = "CONFO_FILE_TEST_CHILD_DIR"

// TestCrossProcessGuard has two processes increment one counter through
// guarded commits, retrying on conflict: with the lock on <ns>/.lock
// serializing the check and the write, no increment is lost.
func TestCrossProcessGuard(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		increment(t, dir, crossIncrements)
		return
	}
	dir := t.TempDir()
	b, err := file.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	_, err = b.Commit(t.Context(), "ns", []confo.Op{{Name: "counter", Value: []byte(`{"n":0}`)}})
	require.NoError(t, err)

	exe, err := os.Executable()
	require.NoError(t, err)
	child := exec.CommandContext(t.Context(), exe, "-test.run=^TestCrossProcessGuard$", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"="+dir)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	require.NoError(t, child.Start())
	increment(t, dir, crossIncrements)
	require.NoError(t, child.Wait(), "child process:\n%s", out.String())

	raw, err := os.ReadFile(filepath.Join(dir, "ns", "counter.json"))
	require.NoError(t, err)
	assert.JSONEq(t, fmt.Sprintf(`{"n":%d}`, 2*crossIncrements), string(raw))
}

const crossIncrements = 40

// increment adds n to the counter of dir, one guarded commit at a time.
func increment(t *testing.T, dir string, n int) {
	b, err := file.New(dir)
	require.NoError(t, err)
	defer b.Close()
	for done, tries := 0, 0; done < n; tries++ {
		require.Less(t, tries, 100*n, "no progress")
		snap, err := b.Load(t.Context(), "ns")
		require.NoError(t, err)
		e := snap.Entries["counter"]
		var c struct{ N int }
		require.NoError(t, json.Unmarshal(e.Value, &c))
		_, err = b.Commit(t.Context(), "ns", []confo.Op{{
			Name: "counter", Value: fmt.Appendf(nil, `{"n":%d}`, c.N+1), Revision: e.Revision,
		}})
		if err == nil {
			done++
			continue
		}
		require.ErrorIs(t, err, confo.ErrConflict)
	}
}

// TestLoadSeesWholeCommits has a reader load a namespace while a writer
// commits batches that change two files together: every Load sees both
// files of a batch or neither.
func TestLoadSeesWholeCommits(t *testing.T) {
	dir := t.TempDir()
	writer, err := file.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { writer.Close() })
	reader, err := file.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { reader.Close() })
	require.NoError(t, writer.CreateNamespace(t.Context(), "ns"))

	value := func(i int) []byte { return fmt.Appendf(nil, `{"i":%d}`, i) }
	revs, err := writer.Commit(t.Context(), "ns", []confo.Op{{Name: "a", Value: value(0)}, {Name: "b", Value: value(0)}})
	require.NoError(t, err)

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	loads := 0
	wg.Go(func() {
		for ctx.Err() == nil {
			snap, err := reader.Load(ctx, "ns")
			if ctx.Err() != nil {
				return
			}
			if !assert.NoError(t, err) ||
				!assert.Equal(t, string(snap.Entries["a"].Value), string(snap.Entries["b"].Value), "half a batch") {
				return
			}
			loads++
		}
	})
	for i := 1; i <= 40 && !t.Failed(); i++ {
		revs, err = writer.Commit(t.Context(), "ns", []confo.Op{
			{Name: "a", Value: value(i), Revision: revs[0]},
			{Name: "b", Value: value(i), Revision: revs[1]},
		})
		require.NoError(t, err)
	}
	stop()
	wg.Wait()
	t.Logf("%d loads", loads)
}

// TestCredentialRules runs the credential rules of the conformance suite.
func TestCredentialRules(t *testing.T) {
	backendtest.RunCredentials(t, backendtest.Credentials{
		Kind: confo.FileBackend,
		Valid: func(t testing.TB) confo.Credentials {
			return confo.Credentials{"config_path": t.TempDir(), "namespaces": []string{"a"}}
		},
	})
}
