package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/file"
	_ "github.com/confo-go/confo/backends/postgres"
	_ "github.com/confo-go/confo/backends/redis"
	_ "github.com/confo-go/confo/backends/zookeeper"
	"github.com/confo-go/confo/internal/embedetcd"
	"github.com/confo-go/confo/internal/testserver"
)

// getAll is what the second manager's GetAll prints.
const getAll = `{
  "mysql": {
    "driver": "mysql",
    "host": "localhost",
    "port": 1234
  },
  "postgress": {
    "driver": "postgress",
    "host": "127.0.0.1",
    "port": 5678
  }
}`

// want is the walk-through's output on a store of kind, in order.
func want(kind confo.BackendType) []string {
	name := strings.ToUpper(string(kind)) + "_backend"
	return []string{
		"\n>>> config.GetBackends()\n{All:[" + name + "] Active:}\n",
		"\n>>> config.ActivateBackend(\"" + name + "\"); config.GetBackends()\n{All:[" + name + "] Active:" + name + "}\n",
		"config.GetNamespaces(ctx)\n{All:[database] Current:database}\n",
		"\n>>> config.GetCount(ctx)\n1\n",
		"config.GetField(\"mysql\", \"host\")\nlocalhost\n",
		"\n>>> config.Persist(ctx); config.Reload(ctx)\npersisted and reloaded\n",
		"config2.GetAll()\n" + getAll + "\n",
	}
}

// runTwice runs the walk-through twice on one store, as two runs of the
// example against one cluster: the second loads what the first stored.
func runTwice(t *testing.T, kind confo.BackendType, creds confo.Credentials) {
	t.Helper()
	for run := range 2 {
		var out bytes.Buffer
		require.NoError(t, walkThrough(t.Context(), &out, kind, creds), "run %d", run+1)
		rest := out.String()
		for _, part := range want(kind) {
			i := strings.Index(rest, part)
			require.GreaterOrEqual(t, i, 0, "run %d: missing, or out of order:\n%s\nin output:\n%s", run+1, part, out.String())
			rest = rest[i+len(part):]
		}
	}
}

func TestWalkThroughEtcd(t *testing.T) {
	srv, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	runTwice(t, confo.EtcdBackend, confo.Credentials{"endpoints": srv.Endpoints()})
}

func TestWalkThroughFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	runTwice(t, confo.FileBackend, confo.Credentials{"config_path": dir})
	raw, err := os.ReadFile(filepath.Join(dir, "database", "mysql.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"driver":"mysql","host":"localhost","port":1234}`, string(raw))
}

func TestWalkThroughZookeeper(t *testing.T) {
	t.Parallel()
	srv, err := testserver.StartZookeeper()
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	runTwice(t, confo.ZookeeperBackend, confo.Credentials{"zookeeper_host": srv.Host, "zookeeper_port": srv.Port})
}

func TestWalkThroughRedis(t *testing.T) {
	t.Parallel()
	srv, err := testserver.StartRedis(testserver.RedisConfig{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	runTwice(t, confo.RedisBackend, confo.Credentials{"host": srv.Host, "port": srv.Port})
}

func TestWalkThroughPostgres(t *testing.T) {
	t.Parallel()
	srv, err := testserver.StartPostgres()
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	runTwice(t, confo.DatabaseBackend, confo.Credentials{"dsn": srv.DSN(testserver.PostgresUser, "")})
}

// TestMainProgram runs the built example as a user would: once against an
// in-process etcd, which it removes, and against a cluster named by
// CONFO_ENDPOINTS, twice.
func TestMainProgram(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "quickstart")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	tmp := t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = append(cleanEnv(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "an in-process etcd at 127.0.0.1:")
	assert.Contains(t, string(out), getAll)
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the in-process etcd's directory is removed")

	srv, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	for range 2 {
		cmd := exec.CommandContext(context.WithoutCancel(t.Context()), bin)
		cmd.Env = append(cleanEnv(), "CONFO_ENDPOINTS="+strings.Join(srv.Endpoints(), ","))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.NotContains(t, string(out), "in-process")
		assert.Contains(t, string(out), getAll)
	}
}

// cleanEnv is the environment without the variables the example reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONFO_") {
			env = append(env, kv)
		}
	}
	return env
}
