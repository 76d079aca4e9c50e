package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const cliSecret = "pa55-cli-plaintext"

// etcdBytes returns every key and value under prefix, as etcd holds them.
func etcdBytes(t *testing.T, prefix string) string {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(etcdEndpoints, ","), DialTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	require.NoError(t, err)
	var b strings.Builder
	for _, kv := range resp.Kvs {
		b.Write(kv.Key)
		b.WriteByte('=')
		b.Write(kv.Value)
		b.WriteByte('\n')
	}
	require.NotEmpty(t, resp.Kvs)
	return b.String()
}

// keygen makes an identity file in dir and returns its path and recipient.
func keygen(t *testing.T, s *target, dir, name string, extra ...string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	r := s.run(append([]string{"keygen", "-o", path}, extra...)...)
	require.Equal(t, 0, r.code, r.stderr)
	recipient := strings.TrimSpace(strings.TrimPrefix(r.stderr, "Public key: "))
	require.True(t, strings.HasPrefix(recipient, "age1"), r.stderr)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	return path, recipient
}

// storeBytes returns what store s holds, as bytes: etcd's keys and values
// or the file backend's files.
func storeBytes(t *testing.T, s *target) string {
	t.Helper()
	where := s.flags[len(s.flags)-1]
	if s.kind == "etcd" {
		return etcdBytes(t, where)
	}
	var b strings.Builder
	require.NoError(t, filepath.WalkDir(where, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		b.WriteString(path + "=" + string(data) + "\n")
		return err
	}))
	return b.String()
}

func TestSealCommands(t *testing.T) { stores(t, testSealCommands) }

func testSealCommands(t *testing.T, s *target) {
	dir := t.TempDir()
	key1, r1 := keygen(t, s, dir, "key1.txt")
	var outputs strings.Builder
	ok := func(args ...string) string {
		t.Helper()
		out := s.ok(args...)
		outputs.WriteString(out)
		return out
	}

	ok("ns", "create", "database")
	ok("recipients", "add", "database", r1)
	assert.Equal(t, r1+"\n", ok("recipients", "ls", "database"))
	ok("set", "database", "mysql", "host=db.internal", "port=3306")
	r := s.runIn(cliSecret+"\n", "seal", "database", "mysql", "password=-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "sealed password of mysql in namespace database\n", r.stdout)
	outputs.WriteString(r.stdout + r.stderr)

	// Only --reveal shows it.
	plain := ok("get", "database", "mysql")
	assert.Contains(t, plain, "confo:sealed:v1:")
	assert.Contains(t, plain, "db.internal")
	assert.Equal(t, cliSecret+"\n", s.ok("get", "database", "mysql", "password", "--reveal", "-i", key1))
	s.env = append(s.env, "CONFO_IDENTITY_FILE="+key1)
	assert.Contains(t, s.ok("get", "database", "mysql", "--reveal", "--json"), `"password": "`+cliSecret+`"`)
	s.env = nil

	// No plaintext over a sealed field by accident.
	s.fails(1, "plain value for a sealed field", "set", "database", "mysql", "password=oops")

	// export keeps the sealed form; import writes it back.
	exported := filepath.Join(dir, "export")
	ok("export", "database", exported)
	files, err := os.ReadFile(filepath.Join(exported, "mysql.json"))
	require.NoError(t, err)
	assert.Contains(t, string(files), "confo:sealed:v1:")
	ok("rm", "database", "mysql")
	ok("import", exported, "database")
	assert.Equal(t, cliSecret+"\n", s.ok("get", "database", "mysql", "password", "--reveal", "-i", key1))

	// Sealing an existing plain field, unsealing it again.
	// set echoes the plain value it stores (what was typed), so its output
	// is not among those that must never show the secret.
	s.ok("set", "database", "mysql", "user=admin-"+cliSecret)
	ok("seal", "database", "mysql", "user")
	assert.NotContains(t, storeBytes(t, s), cliSecret)
	ok("unseal", "database", "mysql", "user", "-i", key1)
	assert.Equal(t, "admin-"+cliSecret+"\n", s.ok("get", "database", "mysql", "user"))
	ok("seal", "database", "mysql", "user")

	// Rotation to a new key, reading with the old one.
	_, r2 := keygen(t, s, dir, "key2.txt", "--pq")
	s.fails(1, "post-quantum", "recipients", "add", "database", r2)
	s.fails(1, "needs one", "recipients", "rm", "database", r1)
	key3, r3 := keygen(t, s, dir, "key3.txt")
	ok("recipients", "add", "database", r3)
	ok("recipients", "rm", "database", r1)
	r = s.run("seal", "rotate", "database", "-i", key1)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "re-sealed 1/1 configurations of namespace database")
	assert.Contains(t, r.stdout, "1 configuration re-sealed")
	outputs.WriteString(r.stdout + r.stderr)
	s.fails(1, "no identity matches", "get", "database", "mysql", "--reveal", "-i", key1)
	assert.Equal(t, cliSecret+"\n", s.ok("get", "database", "mysql", "password", "--reveal", "-i", key3))

	stored := storeBytes(t, s)
	assert.Contains(t, stored, "confo:sealed:v1:")
	assert.NotContains(t, stored, cliSecret, "the store's bytes")
	assert.NotContains(t, outputs.String(), cliSecret, "the command's output without --reveal")
	assert.NotContains(t, string(files), cliSecret, "the export")
}
