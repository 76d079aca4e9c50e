package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const mysqlSchemaDoc = `{"type":"object","properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535}},"required":["host","port"]}`

// storeRevision returns the in-process etcd's current revision.
func storeRevision(t *testing.T) int64 {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdEndpoints}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	resp, err := cli.Get(t.Context(), "/")
	require.NoError(t, err)
	return resp.Header.Revision
}

func TestSchemaCommands(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		file := filepath.Join(t.TempDir(), "mysql.schema.json")
		require.NoError(t, os.WriteFile(file, []byte(mysqlSchemaDoc), 0o600))
		s.ok("ns", "create", "database")
		s.ok("set", "database", "mysql", "host=db1", "port:=3306")

		s.ok("schema", "set", "database", "mysql", file)
		assert.JSONEq(t, mysqlSchemaDoc, s.ok("schema", "get", "database", "mysql"))
		assert.Contains(t, s.ok("schema", "get", "database"), "schema/mysql")

		// An invalid set is refused with the field's location.
		s.fails(1, `at "/port": got string, want integer`, "set", "database", "mysql", "port=80a")
		s.fails(1, `"/port"`, "set", "database", "mysql", "port:=0")

		// A schema that a current value fails is refused, listing it.
		s.ok("set", "database", "redis", "port:=6379")
		r := s.runIn(`{"type":"object","required":["owner"]}`, "schema", "set", "database", "--default", "-")
		require.Equal(t, 1, r.code, r.stderr)
		assert.Contains(t, r.stderr, `"redis" (at (root): missing property 'owner')`)
		assert.NotContains(t, r.stderr, `"mysql"`, "mysql has a schema of its own")
		r = s.runIn(`{"type":"object","required":["owner"]}`, "schema", "set", "database", "--default", "-", "--force")
		require.Equal(t, 0, r.code, r.stderr)
		r = s.run("schema", "check", "database")
		require.Equal(t, 1, r.code, r.stderr)
		assert.Contains(t, r.stdout, "invalid: \"redis\" fails schema \"schema\"")
		assert.Contains(t, r.stdout, "(root): missing property 'owner'")
		s.ok("schema", "rm", "database", "--default")
		s.ok("schema", "check", "database")
		s.ok("schema", "rm", "database", "mysql")
		s.fails(1, "no schema", "schema", "rm", "database", "mysql")
	})
}

func TestDryRunWritesNothing(t *testing.T) {
	s := etcdStore(t)
	file := filepath.Join(t.TempDir(), "mysql.schema.json")
	require.NoError(t, os.WriteFile(file, []byte(mysqlSchemaDoc), 0o600))
	s.ok("ns", "create", "database")
	s.ok("set", "database", "mysql", "host=db1", "port:=3306")
	s.ok("set", "database", "mysql", "port:=3307")
	s.ok("schema", "set", "database", "mysql", file)
	before := storeRevision(t)

	out := s.ok("set", "database", "mysql", "port:=3308", "tls:=true", "--dry-run")
	assert.Contains(t, out, "- port: 3307\n+ port: 3308\n+ tls: true\n")
	assert.Contains(t, out, `valid: "mysql" matches its schema`)
	assert.Contains(t, out, "dry run, nothing written")

	r := s.run("set", "database", "mysql", "port:=0", "--dry-run")
	assert.Equal(t, 1, r.code, "invalid: exit 1")
	assert.Contains(t, r.stdout, "+ port: 0")
	assert.Contains(t, r.stdout, "/port: minimum: got 0, want 1")

	out = s.runIn(`{"host":"db9","port":1}`, "put", "database", "mysql", "--dry-run").stdout
	assert.Contains(t, out, `+ host: "db9"`)

	var history []struct{ Revision int64 }
	require.NoError(t, json.Unmarshal([]byte(s.ok("history", "database", "mysql", "--json")), &history))
	require.Len(t, history, 2)
	out = s.ok("rollback", "database", "mysql", strconv.FormatInt(history[1].Revision, 10), "--dry-run")
	assert.Contains(t, out, "- port: 3307\n+ port: 3306\n")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "redis.json"), []byte(`{"port":6379}`), 0o600))
	out = s.ok("import", dir, "database", "--no-delete", "--dry-run")
	assert.Contains(t, out, "+ port: 6379")

	assert.Equal(t, before, storeRevision(t), "--dry-run wrote nothing")
	assert.Contains(t, s.ok("get", "database", "mysql", "port"), "3307")

	// diff NS NAME REV1 [REV2]
	out = s.ok("diff", "database", "mysql", strconv.FormatInt(history[1].Revision, 10))
	assert.Contains(t, out, "- port: 3306\n+ port: 3307\n")
}

func TestLogShowsAuthorAndMessage(t *testing.T) {
	stores(t, func(t *testing.T, s *target) {
		s.ok("ns", "create", "database")
		s.ok("set", "database", "mysql", "port:=3306", "-m", "first pool", "--author", "alice")
		s.env = append(s.env, "CONFO_AUTHOR=bob@ci")
		s.ok("set", "database", "mysql", "port:=3307", "-m", "bigger pool")
		s.ok("set", "database", "redis", "port:=6379")
		out := s.ok("log", "database", "mysql")
		assert.Regexp(t, `bob@ci +mysql +bigger pool`, out)
		assert.Regexp(t, `alice +mysql +first pool`, out)
		assert.NotContains(t, out, "redis")

		var records []struct {
			Author, Message string
			Revision        int64
		}
		require.NoError(t, json.Unmarshal([]byte(s.ok("log", "database", "--json")), &records))
		require.Len(t, records, 3)
		assert.Equal(t, "bob@ci", records[0].Author)
		assert.Equal(t, "alice", records[2].Author)
		if s.kind == "etcd" { // one revision per commit: the record's is the version's
			var history []struct {
				Revision        int64
				Author, Message string
			}
			require.NoError(t, json.Unmarshal([]byte(s.ok("history", "database", "mysql", "--json")), &history))
			assert.Equal(t, history[0].Revision, records[1].Revision)
			assert.Equal(t, "bob@ci", history[0].Author)
			assert.Equal(t, "bigger pool", history[0].Message)
			assert.Equal(t, "first pool", history[1].Message)
		}
	})
}
