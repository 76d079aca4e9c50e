package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadCommandLines runs every wrong command line of issue 11 ("every
// edge strict and truthful") against the built binary: each is refused with
// the exit status the README's table gives, one "confo: " prefix, and the
// offending argument named; nothing is guessed.
func TestBadCommandLines(t *testing.T) {
	t.Parallel()
	s := fileStore(t)
	s.ok("ns", "create", "database")
	for _, tt := range []struct {
		name    string
		env     []string
		args    []string // after the file store's flags unless noStore
		noStore bool
		code    int
		message string
	}{
		{name: "JSON that does not parse", args: []string{"set", "database", "probe", "list:=[1,2"}, code: 2,
			message: `argument "list:=[1,2": not valid JSON`},
		{name: "a leading zero", args: []string{"set", "database", "probe", "port:=08080"}, code: 2,
			message: `argument "port:=08080": not valid JSON: a number has no leading zero; for the string, write port=08080`},
		{name: "Python's True", args: []string{"set", "database", "probe", "enabled:=True"}, code: 2,
			message: `argument "enabled:=True": not valid JSON`},
		{name: "a field given twice", args: []string{"set", "database", "probe", "a=1", "a:=1"}, code: 2,
			message: `arguments "a=1" and "a:=1" both set field "a"`},
		{name: "empty namespace name", args: []string{"set", "", "mysql", "a=1"}, code: 2, message: `confo: NS: invalid name "": empty`},
		{name: "namespace with a slash", args: []string{"ns", "create", "a/b"}, code: 2, message: `confo: NS: invalid name "a/b"`},
		{name: "configuration named ..", args: []string{"rm", "database", ".."}, code: 2, message: `confo: NAME: invalid name ".."`},
		{name: "a missing configuration is a store error", args: []string{"get", "database", "nope"}, code: 1,
			message: `confo: get "nope" in namespace "database": configuration not found`},
		{name: "malformed endpoint", args: []string{"--endpoints", "nonsense", "--dial-timeout", "1m", "ns", "ls"}, noStore: true, code: 2,
			message: `confo: --endpoints: endpoint "nonsense": want host:port`},
		{name: "malformed endpoint from the environment", env: []string{"CONFO_ENDPOINTS=h:x"}, args: []string{"--dial-timeout", "1m", "ns", "ls"},
			noStore: true, code: 2, message: `confo: CONFO_ENDPOINTS: endpoint "h:x"`},
		{name: "malformed endpoint in a URL", args: []string{"copy", "--from", "etcd://nonsense", "--to", "memory://"}, code: 2,
			message: `--from: endpoint "nonsense": want host:port`},
		{name: "no store chosen", args: []string{"ns", "ls"}, noStore: true, code: 2, message: "confo: no store chosen: set --endpoints (or CONFO_ENDPOINTS)"},
		{name: "two stores in the environment", env: []string{"CONFO_CONFIG_PATH=/tmp", "CONFO_ETCD_ENDPOINTS=h:1"}, args: []string{"ns", "ls"},
			noStore: true, code: 2, message: "CONFO_CONFIG_PATH and CONFO_ETCD_ENDPOINTS are both set"},
		{name: "two stores in flags", args: []string{"--endpoints", "h:1", "--config-path", "/tmp", "ns", "ls"}, noStore: true, code: 2,
			message: "--config-path and --endpoints choose different stores"},
		{name: "a password without a user", env: []string{"CONFO_PASSWORD=s3cret"}, args: []string{"--backend", "redis", "--endpoints", "h:6379", "ns", "ls"},
			noStore: true, code: 2, message: "a password needs a user"},
		{name: "help on an unknown command", args: []string{"help", "nosuchcmd"}, noStore: true, code: 2, message: `confo: help: unknown command "nosuchcmd"`},
		{name: "help suggests", args: []string{"help", "gte"}, noStore: true, code: 2, message: `(did you mean "get"?)`},
		{name: "help suggests the nearest", args: []string{"help", "sett"}, noStore: true, code: 2, message: `(did you mean "set"?)`},
		{name: "the nearest command", args: []string{"sett"}, noStore: true, code: 2, message: `unknown command "sett" for "confo" (did you mean "set"?)`},
		{name: "export of an empty namespace", args: []string{"export", "database", t.TempDir()}, code: 1,
			message: `confo: export namespace "database": it holds no configuration: nothing exported`},
		{name: "copy from a mistyped prefix", args: []string{"copy", "--from", "etcd://" + etcdEndpoints + "/typo-no-such-prefix", "--to", "memory://"}, code: 1,
			message: "confo: --from: the source store has no namespaces: nothing copied"},
		{name: "copy from an empty namespace", args: []string{"copy", "--from", "file://" + s.flags[len(s.flags)-1] + "?ns=database", "--to", "memory://"}, code: 1,
			message: `confo: --from: namespace "database" holds no configuration: nothing copied`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if !tt.noStore {
				args = append(append([]string{}, s.flags...), args...)
			}
			start := time.Now()
			r := execConfo(t, "", tt.env, args...)
			elapsed := time.Since(start)
			assert.Equal(t, tt.code, r.code, "confo %q: stderr: %s", args, r.stderr)
			assert.True(t, strings.HasPrefix(r.stderr, "confo: "), "stderr: %s", r.stderr)
			first, _, _ := strings.Cut(r.stderr, "\n")
			assert.Equal(t, 1, strings.Count(first, "confo: "), "one confo: prefix: %s", first)
			assert.Contains(t, r.stderr, tt.message)
			assert.NotContains(t, r.stderr, "s3cret")
			assert.Empty(t, r.stdout)
			if tt.code == 2 {
				assert.Less(t, elapsed, 20*time.Second, "refused at once, without dialling")
			}
		})
	}
}

// TestValuesAreNeverGuessed stores the values of the command line
// with FIELD=VALUE: each is the string typed, and set prints it so.
func TestValuesAreNeverGuessed(t *testing.T) {
	t.Parallel()
	s := fileStore(t)
	s.ok("ns", "create", "database")
	out := s.ok("set", "database", "probe", "list=[1,2", "big=12345678901234567890", "version=1.10", "enabled=True", "port=08080",
		"exact:=12345678901234567", "n:=1e3", "f:=0.1", "huge:=12345678901234567890", "long:=0.12345678901234567890123")
	assert.Equal(t, `set 10 fields of "probe" in namespace "database":
FIELD    VALUE
list     "[1,2"
big      "12345678901234567890"
version  "1.10"
enabled  "True"
port     "08080"
exact    12345678901234567
n        1000
f        0.1
huge     12345678901234567890
long     0.12345678901234567890123
`, out)
	assert.Equal(t, map[string]any{"list": "[1,2", "big": "12345678901234567890", "version": "1.10", "enabled": "True", "port": "08080",
		"exact": 12345678901234567.0, "n": 1000.0, "f": 0.1, "huge": 12345678901234567890.0, "long": 0.12345678901234567890123},
		decodeJSON[map[string]any](t, s.ok("get", "database", "probe", "--json")))
	// numbers keep every digit typed, read back by another process
	assert.Equal(t, "12345678901234567\n", s.ok("get", "database", "probe", "exact"))
	assert.Equal(t, "12345678901234567890\n", s.ok("get", "database", "probe", "huge"))
	assert.Equal(t, "0.12345678901234567890123\n", s.ok("get", "database", "probe", "long"))
}

// TestFlagsWinOverTheEnvironment checks that a flag wins over every
// variable, including one that would pick another kind of store.
func TestFlagsWinOverTheEnvironment(t *testing.T) {
	t.Parallel()
	e := etcdStore(t)
	e.ok("ns", "create", "in-etcd")
	prefix := e.flags[len(e.flags)-1]
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "in-files"), 0o755))

	// --endpoints wins over CONFO_CONFIG_PATH, which alone would pick files
	r := execConfo(t, "", []string{"CONFO_CONFIG_PATH=" + dir}, "--endpoints", etcdEndpoints, "--prefix", prefix, "ns", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "NAMESPACE\nin-etcd\n", r.stdout)
	// and over CONFO_BACKEND=file
	r = execConfo(t, "", []string{"CONFO_BACKEND=file", "CONFO_CONFIG_PATH=" + dir}, "--endpoints", etcdEndpoints, "--prefix", prefix, "ns", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "NAMESPACE\nin-etcd\n", r.stdout)
	// --config-path wins over CONFO_ENDPOINTS and CONFO_BACKEND=etcd
	r = execConfo(t, "", []string{"CONFO_BACKEND=etcd", "CONFO_ENDPOINTS=" + etcdEndpoints}, "--config-path", dir, "ns", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "NAMESPACE\nin-files\n", r.stdout)
	// --backend wins over CONFO_BACKEND
	r = execConfo(t, "", []string{"CONFO_BACKEND=file", "CONFO_CONFIG_PATH=" + dir, "CONFO_ENDPOINTS=" + etcdEndpoints},
		"--backend", "etcd", "--prefix", prefix, "ns", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "NAMESPACE\nin-etcd\n", r.stdout)
	// CONFO_ETCD_ENDPOINTS is still read, as an alias of CONFO_ENDPOINTS
	r = execConfo(t, "", []string{"CONFO_ETCD_ENDPOINTS=" + etcdEndpoints}, "--prefix", prefix, "ns", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "NAMESPACE\nin-etcd\n", r.stdout)
}

// TestNamespaceCreateSaysWhich checks that ns create tells a namespace it
// created from one it found.
func TestNamespaceCreateSaysWhich(t *testing.T) {
	t.Parallel()
	s := fileStore(t)
	assert.Equal(t, "created namespace \"a\"\n", s.ok("ns", "create", "a"))
	assert.Equal(t, "namespace \"a\" exists already\ncreated namespace \"b\"\n", s.ok("ns", "create", "a", "b"))
	assert.Equal(t, map[string]any{"namespace": "b", "action": "exists"}, decodeJSON[map[string]any](t, s.ok("ns", "create", "b", "--json")))
}

// TestExportMakesDirEqual checks that export removes the files of
// configurations deleted since, so that export then import brings nothing
// back, and says what it removed.
func TestExportMakesDirEqual(t *testing.T) {
	t.Parallel()
	s := fileStore(t)
	s.ok("ns", "create", "database")
	s.ok("set", "database", "mysql", "port:=3306")
	s.ok("set", "database", "gone", "x=1")
	dir := filepath.Join(t.TempDir(), "export")
	s.ok("export", "database", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("kept"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".hidden.json"), []byte("{}"), 0o644))
	s.ok("rm", "database", "gone")

	out := s.ok("export", "database", dir)
	assert.Equal(t, "exported 1 configuration of namespace \"database\" to "+dir+"\n"+
		"removed "+filepath.Join(dir, "gone.json")+": no configuration \"gone\" in namespace \"database\"\n", out)
	assert.NoFileExists(t, filepath.Join(dir, "gone.json"))
	assert.FileExists(t, filepath.Join(dir, "notes.txt"))
	assert.FileExists(t, filepath.Join(dir, ".hidden.json"))
	assert.Equal(t, "no differences\n", s.ok("diff", dir, "database"))
	assert.Contains(t, s.ok("import", dir, "database"), "0 added, 0 changed, 0 removed")
	assert.Equal(t, []string{"mysql"}, decodeJSON[[]string](t, s.ok("ls", "database", "--json")))

	s.ok("set", "database", "other", "x=1")
	s.ok("rm", "database", "mysql")
	got := decodeJSON[map[string]any](t, s.ok("export", "database", dir, "--json"))
	assert.Equal(t, []any{"mysql"}, got["removed"])
}

// TestVersion checks --version, read from the build information.
func TestVersion(t *testing.T) {
	t.Parallel()
	r := execConfo(t, "", nil, "--version")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^confo \S+.*, go1\.\d+`, r.stdout)
}
