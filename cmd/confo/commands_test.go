package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeJSON decodes a command's --json output into a value of type T.
func decodeJSON[T any](t testing.TB, out string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(out), &v), "output: %s", out)
	return v
}

func TestNamespaces(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		assert.Equal(t, "NAMESPACE\n", s.ok("ns", "ls"))
		assert.Equal(t, "created namespace \"sales\"\ncreated namespace \"database\"\n", s.ok("ns", "create", "sales", "database"))
		assert.Equal(t, "namespace \"sales\" exists already\n", s.ok("ns", "create", "sales")) // idempotent, and says so
		assert.Equal(t, "NAMESPACE\ndatabase\nsales\n", s.ok("ns", "ls"))
		assert.Equal(t, []string{"database", "sales"}, decodeJSON[[]string](t, s.ok("ns", "ls", "--json")))

		s.fails(2, `NS: invalid name "a/b"`, "ns", "create", "a/b")
		s.ok("set", "sales", "eu", "rate=1")
		s.ok("set", "sales", "us", "rate=2")
		s.fails(2, `removing namespace "sales" deletes its 2 configurations: confirm with --yes`, "ns", "rm", "sales")
		assert.Equal(t, []string{"eu", "us"}, decodeJSON[[]string](t, s.ok("ls", "sales", "--json")))
		out := s.ok("ns", "rm", "sales", "--yes")
		assert.Contains(t, out, `namespace "sales"`)
		assert.NotContains(t, s.ok("ns", "ls"), "sales")
		assert.Contains(t, s.fails(1, `namespace "sales"`, "ls", "sales"), ": namespace not found")
		assert.Contains(t, s.fails(1, `namespace "nope"`, "ns", "rm", "nope", "--yes"), ": namespace not found")
	})
}

func TestConfigurations(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		s.ok("ns", "create", "database")
		msg := s.fails(1, `use namespace "missing": `, "set", "missing", "mysql", "a=1")
		assert.Contains(t, msg, ": namespace not found")

		out := s.ok("set", "database", "mysql", "host=db.internal", "port:=3306", "tls:=true", `version=10`,
			`tags:=["a","b"]`, `pool:={"max":10,"ratio":0.5}`, "note=not json", "nothing:=null", "empty=", "text=true")
		assert.Equal(t, `set 10 fields of "mysql" in namespace "database":
FIELD    VALUE
host     "db.internal"
port     3306
tls      true
version  "10"
tags     ["a","b"]
pool     {"max":10,"ratio":0.5}
note     "not json"
nothing  null
empty    ""
text     "true"
`, out)
		want := map[string]any{
			"host": "db.internal", "port": 3306.0, "tls": true, "version": "10",
			"tags": []any{"a", "b"}, "pool": map[string]any{"max": 10.0, "ratio": 0.5},
			"note": "not json", "nothing": nil, "empty": "", "text": "true",
		}
		assert.Equal(t, want, decodeJSON[map[string]any](t, s.ok("get", "database", "mysql", "--json")))

		assert.Equal(t, "db.internal\n", s.ok("get", "database", "mysql", "host"))
		assert.Equal(t, "3306\n", s.ok("get", "database", "mysql", "port"))
		assert.Equal(t, "{\"max\":10,\"ratio\":0.5}\n", s.ok("get", "database", "mysql", "pool"))
		assert.Equal(t, "\"db.internal\"\n", s.ok("get", "database", "mysql", "host", "--json"))
		table := s.ok("get", "database", "mysql")
		assert.Contains(t, table, "FIELD    VALUE\n")
		assert.Contains(t, table, "host     \"db.internal\"\n")
		assert.Contains(t, table, "port     3306\n")

		// set changes only the fields it names
		assert.Equal(t, map[string]any{"namespace": "database", "name": "mysql", "action": "set", "fields": map[string]any{"port": 3307.0}},
			decodeJSON[map[string]any](t, s.ok("set", "database", "mysql", "port:=3307", "--json")))
		assert.Equal(t, "db.internal\n", s.ok("get", "database", "mysql", "host"))
		assert.Equal(t, "3307\n", s.ok("get", "database", "mysql", "port"))

		// put from a file and from stdin replaces the whole configuration
		file := filepath.Join(t.TempDir(), "pg.json")
		require.NoError(t, os.WriteFile(file, []byte(`{"host": "pg", "port": 5432}`), 0o600))
		assert.Equal(t, "put \"postgres\" in namespace \"database\": {\"host\":\"pg\",\"port\":5432}\n", s.ok("put", "database", "postgres", file))
		assert.Equal(t, map[string]any{"host": "pg", "port": 5432.0}, decodeJSON[map[string]any](t, s.ok("get", "database", "postgres", "--json")))
		r := s.runIn(`{"host":"pg2"}`, "put", "database", "postgres", "-")
		require.Equal(t, 0, r.code, r.stderr)
		r = s.runIn(`{"host":"redis"}`, "put", "database", "redis")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, map[string]any{"host": "pg2"}, decodeJSON[map[string]any](t, s.ok("get", "database", "postgres", "--json")))

		assert.Equal(t, "NAME      FIELDS\nmysql     10\npostgres  1\nredis     1\n", s.ok("ls", "database"))
		assert.Equal(t, []string{"mysql", "postgres", "redis"}, decodeJSON[[]string](t, s.ok("ls", "database", "--json")))

		assert.Equal(t, "removed \"redis\" from namespace \"database\"\n", s.ok("rm", "database", "redis"))
		s.fails(1, `get "redis" in namespace "database": configuration not found`, "get", "database", "redis")
		s.fails(1, `delete "redis" in namespace "database": configuration not found`, "rm", "database", "redis")
		s.fails(1, `get field "nope" of "mysql": field not found`, "get", "database", "mysql", "nope")

		// bad input: exit 1 naming what is wrong
		r = s.runIn(`{"host":`, "put", "database", "bad")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "confo: put: stdin: not valid JSON")
		r = s.runIn(`[1,2]`, "put", "database", "bad")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "confo: put: stdin: a JSON array, not an object")
		s.fails(1, "no such file or directory", "put", "database", "bad", filepath.Join(t.TempDir(), "missing.json"))
		s.fails(2, `NAME: invalid name ".."`, "get", "database", "..")
		s.fails(2, `NAME: invalid name "a/b"`, "set", "database", "a/b", "x=1")
		s.fails(1, "", "get", "database", "bad") // nothing was written by the failed puts
	})
}

func TestEnvironmentSelectsTheStore(t *testing.T) {
	t.Parallel()
	prefix := "/env" + strconv.FormatInt(prefixes.Add(1), 10)
	env := []string{"CONFO_BACKEND=etcd", "CONFO_ENDPOINTS=" + etcdEndpoints}
	r := execConfo(t, "", env, "--prefix", prefix, "ns", "create", "fromenv")
	require.Equal(t, 0, r.code, r.stderr)
	r = execConfo(t, "", env, "--prefix", prefix, "ns", "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{"fromenv"}, decodeJSON[[]string](t, r.stdout))

	// a flag wins over the environment; a config path alone selects the file backend
	dir := t.TempDir()
	r = execConfo(t, "", []string{"CONFO_CONFIG_PATH=" + dir}, "ns", "create", "files")
	require.Equal(t, 0, r.code, r.stderr)
	assert.DirExists(t, filepath.Join(dir, "files"))
	r = execConfo(t, "", env, "--backend", "file", "--config-path", dir, "ns", "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{"files"}, decodeJSON[[]string](t, r.stdout))
}

// editor writes a shell script usable as $EDITOR that runs body with the
// file to edit in $1, and returns the environment setting it.
func editor(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "editor.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\nset -e\n"+body+"\n"), 0o700))
	return "EDITOR=" + path
}

// shellQuote quotes args for a POSIX shell.
func shellQuote(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func TestEdit(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		s.ok("ns", "create", "database")
		s.ok("set", "database", "mysql", "host=db", "port:=3306")

		// the editor sees the configuration as indented JSON and saves a change
		seen := filepath.Join(t.TempDir(), "seen.json")
		s.env = []string{editor(t, `cp "$1" `+shellQuote(seen)+`
printf '{"host": "db2", "port": 3306, "new": [1]}' > "$1"`)}
		assert.Equal(t, "saved \"mysql\" in namespace \"database\"\n", s.ok("edit", "database", "mysql"))
		got, err := os.ReadFile(seen)
		require.NoError(t, err)
		assert.Equal(t, "{\n  \"host\": \"db\",\n  \"port\": 3306\n}\n", string(got))
		assert.Equal(t, map[string]any{"host": "db2", "port": 3306.0, "new": []any{1.0}}, decodeJSON[map[string]any](t, s.ok("get", "database", "mysql", "--json")))

		// an editor that saves nothing new changes nothing
		s.env = []string{editor(t, "true")}
		assert.Equal(t, "no change to \"mysql\"\n", s.ok("edit", "database", "mysql"))

		// a missing configuration starts as {} and is created
		s.env = []string{editor(t, `printf '{"fresh": true}' > "$1"`)}
		s.ok("edit", "database", "created")
		assert.Equal(t, "true\n", s.ok("get", "database", "created", "fresh"))

		// an edit that is not a JSON object is refused and kept
		s.env = []string{editor(t, `printf '{"host": ' > "$1"`)}
		msg := s.fails(1, "not valid JSON", "edit", "database", "mysql")
		assert.Contains(t, msg, "nothing written, your edit is kept in ")
		kept := strings.TrimSpace(msg[strings.LastIndex(msg, "kept in ")+len("kept in "):])
		got, err = os.ReadFile(kept)
		require.NoError(t, err, "the kept edit must exist")
		assert.Equal(t, `{"host": `, string(got))
		os.Remove(kept)
		assert.Equal(t, "db2\n", s.ok("get", "database", "mysql", "host"))

		// an editor that fails changes nothing
		s.env = []string{editor(t, "exit 4")}
		s.fails(1, "editor", "edit", "database", "mysql")
		assert.Equal(t, "db2\n", s.ok("get", "database", "mysql", "host"))
	})
}

// TestEditConflict has another writer change the configuration while the
// editor is open: edit must exit 3, write nothing, keep the edit, and the
// store must keep the other writer's value.
func TestEditConflict(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		s.ok("ns", "create", "database")
		s.ok("set", "database", "mysql", "host=db")
		other := shellQuote(append(append([]string{bin}, s.flags...), "set", "database", "mysql", "host=other")...)
		s.env = []string{editor(t, other+` >/dev/null
printf '{"host": "mine"}' > "$1"`)}
		msg := s.fails(3, "changed in the store while you were editing", "edit", "database", "mysql")
		assert.Contains(t, msg, ": conflict")
		assert.Equal(t, 1, strings.Count(msg, "confo: "), "one confo: prefix: %s", msg)
		kept := strings.TrimSpace(msg[strings.LastIndex(msg, "kept in ")+len("kept in "):])
		kept = strings.TrimSuffix(kept[:strings.Index(kept, ".json")+len(".json")], ":")
		got, err := os.ReadFile(kept)
		require.NoError(t, err, "the kept edit must exist: %s", msg)
		assert.JSONEq(t, `{"host": "mine"}`, string(got))
		os.Remove(kept)

		s.env = nil
		assert.Equal(t, "other\n", s.ok("get", "database", "mysql", "host"))
	})
}

func TestHistoryAndRollback(t *testing.T) {
	t.Parallel()
	s := etcdStore(t)
	s.ok("ns", "create", "database")
	s.env = append(s.env, "CONFO_AUTHOR=carol")
	s.ok("set", "database", "mysql", "port:=1")
	s.ok("set", "database", "mysql", "port:=2", "-m", "second")
	s.ok("set", "database", "mysql", "port:=3")

	type version struct {
		Revision int64          `json:"revision"`
		Value    map[string]any `json:"value"`
	}
	versions := decodeJSON[[]version](t, s.ok("history", "database", "mysql", "--json"))
	require.Len(t, versions, 3)
	for i, port := range []float64{3, 2, 1} {
		assert.Equal(t, map[string]any{"port": port}, versions[i].Value)
	}
	table := s.ok("history", "database", "mysql")
	assert.Regexp(t, `^REVISION +AUTHOR +MESSAGE +VALUE\n`, table)
	assert.Regexp(t, "\n"+strconv.FormatInt(versions[2].Revision, 10)+` +carol +- +\{"port":1\}\n`, table)
	assert.Regexp(t, "\n"+strconv.FormatInt(versions[1].Revision, 10)+` +carol +second +\{"port":2\}\n`, table)

	first := strconv.FormatInt(versions[2].Revision, 10)
	assert.Equal(t, `rolled back "mysql" in namespace "database" to revision `+first+"\n",
		s.ok("rollback", "database", "mysql", first))
	assert.Equal(t, "1\n", s.ok("get", "database", "mysql", "port"))
	assert.Len(t, decodeJSON[[]version](t, s.ok("history", "database", "mysql", "--json")), 4)

	s.fails(2, `REV "x": want a positive revision number`, "rollback", "database", "mysql", "x")
	s.fails(1, "revision not found", "rollback", "database", "mysql", "1")
	s.fails(1, "configuration not found", "history", "database", "nope")

	f := fileStore(t)
	f.ok("ns", "create", "database")
	f.ok("set", "database", "mysql", "port:=1")
	f.fails(1, "keeps no history", "history", "database", "mysql")
}

func TestWatch(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		s.ok("ns", "create", "database")
		s.ok("set", "database", "before", "x=0")

		cmd, lines, stderr := startWatch(t, s, "database")
		first := firstChange(s, lines)
		fields := strings.Split(first, "\t")
		require.Len(t, fields, 4, "line %q", first)
		rev, err := strconv.ParseInt(fields[0], 10, 64)
		require.NoError(t, err, "revision of %q", first)
		assert.NotZero(t, rev)
		assert.Equal(t, []string{"put", "mysql"}, fields[1:3])
		assert.Regexp(t, `^\{"port":\d+\}$`, fields[3])

		// drain the echoes of the other writes, then a delete
		time.Sleep(300 * time.Millisecond)
		for len(lines) > 0 {
			<-lines
		}
		s.ok("rm", "database", "before")
		select {
		case line := <-lines:
			assert.Regexp(t, `^\d+\tdelete\tbefore$`, line)
		case <-time.After(10 * time.Second):
			t.Fatal("no delete event")
		}

		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		for range lines {
		}
		require.NoError(t, cmd.Wait(), "watch must exit 0 on SIGINT; stderr:\n%s", stderr.String())
		assert.Empty(t, stderr.String())
	})
}

// startWatch starts "confo watch" with args on s's store and returns the
// command, the lines it prints and what it writes to stderr. It is killed
// when t ends, if still running.
func startWatch(t testing.TB, s *target, args ...string) (*exec.Cmd, <-chan string, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(bin, append(append(append([]string{}, s.flags...), "watch"), args...)...)
	cmd.Env = childEnv()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines, stderr
}

// firstChange returns the first line a watch of namespace database prints.
// The watch starts at some point after the command does: it writes
// configuration mysql until the watch reports a change.
func firstChange(s *target, lines <-chan string) string {
	var first string
	for i := 1; first == "" && i < 100; i++ {
		s.ok("set", "database", "mysql", "port:="+strconv.Itoa(i))
		select {
		case first = <-lines:
		case <-time.After(300 * time.Millisecond):
		}
	}
	return first
}

func TestWatchJSON(t *testing.T) {
	t.Parallel()
	s := etcdStore(t)
	s.ok("ns", "create", "database")
	cmd, lines, _ := startWatch(t, s, "database", "--json")
	ev := decodeJSON[map[string]any](t, firstChange(s, lines))
	assert.Equal(t, "put", ev["type"])
	assert.Equal(t, "mysql", ev["name"])
	assert.Contains(t, ev["value"], "port")
	assert.NotZero(t, ev["revision"])
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for range lines {
	}
	require.NoError(t, cmd.Wait(), "watch must exit 0 on SIGTERM")
}
