package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/transfer"
)

type plan struct {
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

// seedDir writes n configurations of varied content to a new directory.
func seedDir(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		obj := map[string]any{
			"host":    fmt.Sprintf("db-%d.internal", i),
			"port":    3000 + i,
			"ratio":   float64(i) + 0.25,
			"big":     int64(1) << 62,
			"enabled": i%2 == 0,
			"tags":    []any{"a", i, nil},
			"nested":  map[string]any{"unicode": "héllo ✓ <&>", "level": map[string]any{"i": i}},
		}
		raw, err := transfer.Encode(obj)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("config-%04d.json", i)), raw, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a configuration"), 0o644))
	return dir
}

// requireSameConfigs requires the configurations of two directories to be
// equal as JSON values.
func requireSameConfigs(t testing.TB, want, got string) {
	t.Helper()
	w, err := transfer.ReadDir(want)
	require.NoError(t, err)
	g, err := transfer.ReadDir(got)
	require.NoError(t, err)
	require.Equal(t, len(w), len(g))
	require.Equal(t, w, g)
}

func TestExportImportDiffRoundTrip(t *testing.T) {
	const n = 1000
	stores(t, func(t *testing.T, s *target) {
		src := seedDir(t, n)

		// a missing namespace counts as empty, and diff creates nothing
		p := decodeJSON[plan](t, s.ok("diff", src, "bulk", "--json"))
		assert.Len(t, p.Added, n)
		assert.Empty(t, p.Changed)
		assert.Empty(t, p.Removed)
		assert.NotContains(t, s.ok("ns", "ls"), "bulk")

		out := s.ok("import", src, "bulk")
		assert.Equal(t, fmt.Sprintf("imported %s into namespace \"bulk\": %d added, 0 changed, 0 removed\n", src, n), out)
		assert.Equal(t, "no differences\n", s.ok("diff", src, "bulk"))
		assert.Len(t, decodeJSON[[]string](t, s.ok("ls", "bulk", "--json")), n)

		exported := filepath.Join(t.TempDir(), "export")
		assert.Equal(t, fmt.Sprintf("exported %d configurations of namespace \"bulk\" to %s\n", n, exported),
			s.ok("export", "bulk", exported))
		requireSameConfigs(t, src, exported)
		assert.Equal(t, "no differences\n", s.ok("diff", exported, "bulk"))

		// change two, remove two, add one
		require.NoError(t, os.WriteFile(filepath.Join(exported, "config-0007.json"), []byte(`{"host":"changed"}`), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(exported, "config-0500.json"), []byte(`{"port": 1.5}`), 0o644))
		require.NoError(t, os.Remove(filepath.Join(exported, "config-0001.json")))
		require.NoError(t, os.Remove(filepath.Join(exported, "config-0999.json")))
		require.NoError(t, os.WriteFile(filepath.Join(exported, "zz-new.json"), []byte(`{"new":true}`), 0o644))
		want := plan{Added: []string{"zz-new"}, Changed: []string{"config-0007", "config-0500"}, Removed: []string{"config-0001", "config-0999"}}
		assert.Equal(t, want, decodeJSON[plan](t, s.ok("diff", exported, "bulk", "--json")))
		assert.Equal(t, "CHANGE   NAME\nadded    zz-new\nchanged  config-0007\nchanged  config-0500\nremoved  config-0001\nremoved  config-0999\n",
			s.ok("diff", exported, "bulk"))
		assert.Equal(t, plan{Added: want.Added, Changed: want.Changed, Removed: []string{}},
			decodeJSON[plan](t, s.ok("diff", exported, "bulk", "--json", "--no-delete")))

		// --no-delete keeps what the directory lacks; a plain import removes it
		s.ok("import", "--no-delete", exported, "bulk")
		assert.Equal(t, plan{Added: []string{}, Changed: []string{}, Removed: want.Removed},
			decodeJSON[plan](t, s.ok("diff", exported, "bulk", "--json")))
		assert.Equal(t, want.Removed, decodeJSON[plan](t, s.ok("import", exported, "bulk", "--json")).Removed)
		assert.Equal(t, "no differences\n", s.ok("diff", exported, "bulk"))
		assert.Equal(t, "changed\n", s.ok("get", "bulk", "config-0007", "host"))

		again := filepath.Join(t.TempDir(), "again")
		s.ok("export", "bulk", again)
		requireSameConfigs(t, exported, again)
	})
}

func TestImportBadInput(t *testing.T) {
	t.Parallel()
	s := fileStore(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "good.json"), []byte(`{"a":1}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"a":`), 0o644))
	msg := s.fails(1, filepath.Join(dir, "bad.json")+": not valid JSON", "import", dir, "ns")
	assert.NotContains(t, msg, "good")
	s.fails(1, "not valid JSON", "diff", dir, "ns")
	assert.NotContains(t, s.ok("ns", "ls"), "ns", "nothing is imported from a bad directory")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`"a string"`), 0o644))
	s.fails(1, "bad.json: a JSON string, not an object", "import", dir, "ns")
	s.fails(1, "no such file or directory", "import", filepath.Join(dir, "missing"), "ns")
	s.fails(2, `NS: invalid name "a/b"`, "import", dir, "a/b")
	s.fails(1, `namespace "missing": namespace not found`, "export", "missing", t.TempDir())
}

func TestCopy(t *testing.T) {
	t.Parallel()
	e := etcdStore(t)
	e.ok("ns", "create", "database", "sales")
	e.ok("set", "database", "mysql", "host=db", "port:=3306")
	e.ok("set", "database", "postgres", "host=pg")
	e.ok("set", "sales", "eu", "rate:=0.2")
	prefix := e.flags[len(e.flags)-1]

	// every namespace of etcd into a directory
	dir := t.TempDir()
	out := e.ok("copy", "--from", "etcd://"+etcdEndpoints+prefix, "--to", "file://"+dir)
	assert.Equal(t, "copied namespace \"database\" to \"database\": 2 added, 0 changed, 0 removed\n"+
		"copied namespace \"sales\" to \"sales\": 1 added, 0 changed, 0 removed\n", out)
	f := &target{t: t, kind: "file", flags: []string{"--backend", "file", "--config-path", dir}}
	assert.Equal(t, "3306\n", f.ok("get", "database", "mysql", "port"))
	assert.Equal(t, "0.2\n", f.ok("get", "sales", "eu", "rate"))

	// one namespace back into etcd under another name and prefix
	f.ok("set", "database", "mysql", "port:=3307")
	to := "etcd://" + etcdEndpoints + prefix + "-copy?ns=db2&dial_timeout=3s"
	p := decodeJSON[[]map[string]any](t, f.ok("copy", "--from", "file://"+dir+"?ns=database", "--to", to, "--json"))
	require.Len(t, p, 1)
	assert.Equal(t, "database", p[0]["from"])
	assert.Equal(t, "db2", p[0]["to"])
	c := &target{t: t, kind: "etcd", flags: []string{"--endpoints", etcdEndpoints, "--prefix", prefix + "-copy"}}
	assert.Equal(t, "3307\n", c.ok("get", "db2", "mysql", "port"))
	assert.Equal(t, []string{"db2"}, decodeJSON[[]string](t, c.ok("ns", "ls", "--json")))

	// copying again changes only what differs, and removes what the source lacks
	e.ok("rm", "database", "postgres")
	e.ok("set", "database", "mysql", "port:=3307")
	out = e.ok("copy", "--from", "etcd://"+etcdEndpoints+prefix+"?ns=database", "--to", to)
	assert.Equal(t, "copied namespace \"database\" to \"db2\": 0 added, 0 changed, 1 removed\n", out)

	e.fails(2, "both --from and --to are required", "copy", "--from", "memory://")
	e.fails(2, "a password in a URL", "copy", "--from", "etcd://u:secret@127.0.0.1:2379", "--to", "memory://")
	e.fails(2, `unknown parameter "bogus"`, "copy", "--from", "memory://?bogus=1", "--to", "memory://")
	e.fails(2, `unknown backend "nosuch"`, "copy", "--from", "nosuch://x", "--to", "memory://")
	e.fails(2, "--from names none", "copy", "--from", "memory://", "--to", "memory://?ns=a")
	r := e.run("copy", "--from", "etcd://u:secret@127.0.0.1:2379", "--to", "memory://")
	assert.NotContains(t, r.stderr, "secret")
	e.fails(1, `--from: use namespace "nope"`, "copy", "--from", "etcd://"+etcdEndpoints+prefix+"?ns=nope", "--to", "memory://")
}

// TestUsage checks the exit codes and messages of command lines that are
// wrong in themselves, and of stores that cannot be reached.
func TestUsage(t *testing.T) {
	t.Parallel()
	s := fileStore(t)
	for _, tt := range []struct {
		args    []string
		code    int
		message string
	}{
		{[]string{"bogus"}, 2, `unknown command "bogus" for "confo"`},
		{[]string{"gte"}, 2, `(did you mean "get"?)`},
		{[]string{"ns", "bogus"}, 2, `unknown command "bogus" for "confo ns"`},
		{[]string{"--bogus", "ns", "ls"}, 2, "unknown flag: --bogus"},
		{[]string{"get", "--password", "x", "a", "b"}, 2, "unknown flag: --password"},
		{[]string{"get", "a"}, 2, "get: want NS NAME [FIELD], got 1 argument(s)"},
		{[]string{"get", "a", "b", "c", "d"}, 2, "get: want NS NAME [FIELD], got 4 argument(s)"},
		{[]string{"ns", "ls", "extra"}, 2, "ns ls: want no arguments, got 1 argument(s)"},
		{[]string{"set", "a", "b"}, 2, "set: want NS NAME FIELD=VALUE|FIELD:=JSON..., got 2 argument(s)"},
		{[]string{"set", "a", "b", "novalue"}, 2, `argument "novalue": want FIELD=STRING or FIELD:=JSON`},
		{[]string{"set", "a", "b", "=1"}, 2, `argument "=1": the field name is empty`},
		{[]string{"rollback", "a", "b", "0"}, 2, `rollback: REV "0": want a positive revision number`},
		{[]string{"--timeout", "0s", "ns", "ls"}, 2, "--timeout must be positive"},
		{[]string{"--dial-timeout", "soon", "ns", "ls"}, 2, `invalid argument "soon" for "--dial-timeout"`},
		{[]string{"--backend", "nosuch", "ns", "ls"}, 2, `unknown backend "nosuch" (want one of database, etcd, file, memory, redis, zookeeper)`},
		{[]string{"--backend", "file", "--config-path", "", "ns", "ls"}, 2, "the file backend needs --config-path"},
		{[]string{"--backend", "etcd", "--endpoints", "127.0.0.1:1", "--dial-timeout", "500ms", "ns", "ls"}, 1, "127.0.0.1:1"},
		{[]string{"--backend", "etcd", "--endpoints", "127.0.0.1:1", "--cert-file", "c.pem", "ns", "ls"}, 2, "--cert-file and --key-file go together"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if !strings.HasPrefix(strings.Join(args, " "), "--backend") {
				args = append(append([]string{}, s.flags...), args...)
			}
			r := execConfo(t, "", nil, args...)
			assert.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			assert.True(t, strings.HasPrefix(r.stderr, "confo: "), "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, tt.message)
			if tt.code == 2 {
				assert.Contains(t, r.stderr, "--help' for usage.")
			}
			assert.Empty(t, r.stdout)
		})
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, path := range [][]string{
		{}, {"ns"}, {"ns", "ls"}, {"ns", "create"}, {"ns", "rm"}, {"ls"}, {"get"}, {"set"}, {"put"}, {"rm"},
		{"edit"}, {"history"}, {"rollback"}, {"watch"}, {"export"}, {"import"}, {"diff"}, {"copy"},
	} {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			t.Parallel()
			r := execConfo(t, "", nil, append(path, "--help")...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "Usage:")
			assert.Regexp(t, "Examples:\n(  .*\n)*  confo ", r.stdout)
			assert.Empty(t, r.stderr)
		})
	}
	r := execConfo(t, "", nil)
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Available Commands:")
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := execConfo(t, "", nil, "completion", shell)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "confo", shell)
	}
	// cobra's hidden completion request lists the subcommands
	r := execConfo(t, "", nil, "__complete", "n")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ns\t")
}
