package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/embedetcd"
	"github.com/confo-go/confo/internal/testserver"
)

// getAll is what both managers' GetAll print.
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

// walkthrough is the output of run, in order, but for the lines that name
// the etcd endpoint.
var walkthrough = []string{
	">>> config.GetBackends()\n{All:[ETCD_backend] Active:}\n",
	">>> config.ActivateBackend(\"ETCD_backend\")\n",
	">>> config.GetBackends()\n{All:[ETCD_backend] Active:ETCD_backend}\n",
	">>> config.CreateNamespace(ctx, \"database\")\n",
	">>> config.UseNamespace(ctx, \"database\")\n",
	">>> config.GetNamespaces(ctx)\n{All:[database] Current:database}\n",
	">>> config.GetCount(ctx)\n1\n",
	">>> config.Set(\"postgress\", postgress)\n",
	">>> config.Set(\"mysql\", mysql)\n",
	">>> config.GetField(\"mysql\", \"host\")\nlocalhost\n",
	">>> config.GetAll()\n" + getAll + "\n",
	">>> config.Persist(ctx)\npersisted\n",
	">>> config.Reload(ctx)\nreloaded\n",
	">>> config2.ActivateBackend(\"ETCD_backend2\")\n",
	">>> config2.GetBackends()\n{All:[ETCD_backend2] Active:ETCD_backend2}\n",
	">>> config2.GetNamespaces(ctx)\n{All:[database] Current:}\n",
	">>> config2.CreateNamespace(ctx, \"database\")\n",
	">>> config2.UseNamespace(ctx, \"database\")\n",
	">>> config2.GetNamespaces(ctx)\n{All:[database] Current:database}\n",
	">>> config2.Reload(ctx)\n",
	">>> config2.GetAll()\n" + getAll + "\n",
}

// requireInOrder checks that out holds every part, each after the one
// before.
func requireInOrder(t testing.TB, out string, parts []string) {
	t.Helper()
	rest := out
	for _, part := range parts {
		i := strings.Index(rest, part)
		require.GreaterOrEqual(t, i, 0, "missing, or out of order:\n%s\nin output:\n%s", part, out)
		rest = rest[i+len(part):]
	}
	assert.Empty(t, strings.TrimSpace(rest), "output after the last step")
}

func TestRunInProcess(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.MkdirTemp's directory, to check it is cleaned up

	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, ""))

	requireInOrder(t, out.String(), append([]string{
		"Confo quick start against an in-process etcd at 127.0.0.1:",
		">>> config.LoadBackend(ctx, \"ETCD_backend\", confo.EtcdBackend, confo.Credentials{\"host\": \"127.0.0.1\", \"port\": ",
	}, walkthrough...))
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the in-process etcd's directory must be removed")
}

// TestRunTwiceAgainstCluster runs the walk-through twice against one
// cluster, as CONFO_ETCD_ENDPOINTS makes it do: the second run must succeed
// and print the same.
func TestRunTwiceAgainstCluster(t *testing.T) {
	srv, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	endpoints := " " + strings.Join(srv.Endpoints(), " , ") + ", "

	for range 2 {
		var out bytes.Buffer
		require.NoError(t, run(t.Context(), &out, endpoints))
		requireInOrder(t, out.String(), append([]string{
			"Confo quick start against etcd at " + srv.Endpoints()[0] + "\n",
			">>> config.LoadBackend(ctx, \"ETCD_backend\", confo.EtcdBackend, confo.Credentials{\"endpoints\": []string{\"" + srv.Endpoints()[0] + "\"}})\n",
		}, walkthrough...))
	}
}

func TestRunNoEndpoint(t *testing.T) {
	err := run(t.Context(), &bytes.Buffer{}, " , ")
	require.ErrorContains(t, err, EndpointsEnv)
}

// on is a backend as the walk-through prints it.
type on struct {
	name     string // of the first manager's backend; the second's adds "2"
	constant string
}

var (
	onFile      = on{"FILE_backend", "confo.FileBackend"}
	onMemory    = on{"MEMORY_backend", "confo.MemoryBackend"}
	onZookeeper = on{"ZOOKEEPER_backend", "confo.ZookeeperBackend"}
	onRedis     = on{"REDIS_backend", "confo.RedisBackend"}
	onDatabase  = on{"DATABASE_backend", "confo.DatabaseBackend"}
)

// walkthroughOn is what run prints on backend b, in order: the first line
// (header), each manager loading the store with credentials that start
// with creds, and walkthrough with the backends renamed.
func walkthroughOn(b on, header, creds string) []string {
	parts := []string{
		header,
		fmt.Sprintf(">>> config.LoadBackend(ctx, %q, %s, %s", b.name, b.constant, creds),
	}
	for _, part := range walkthrough {
		if strings.HasPrefix(part, ">>> config2.ActivateBackend(") {
			parts = append(parts, fmt.Sprintf(">>> config2.LoadBackend(ctx, %q, %s, %s", b.name+"2", b.constant, creds))
		}
		parts = append(parts, strings.ReplaceAll(part, "ETCD_backend", b.name))
	}
	return parts
}

// runOnTimes runs the walk-through on s n times, checking each output
// against want, and returns the last.
func runOnTimes(t testing.TB, s settings, n int, want []string) string {
	t.Helper()
	var out bytes.Buffer
	for range n {
		out.Reset()
		require.NoError(t, runOn(t.Context(), &out, s))
		requireInOrder(t, out.String(), want)
	}
	return out.String()
}

func TestRunFileTemporary(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.MkdirTemp's directory, to check it is cleaned up

	runOnTimes(t, settings{backend: confo.FileBackend}, 1, walkthroughOn(onFile,
		"Confo quick start against files in a temporary directory, "+filepath.Join(tmp, "confo-quickstart-"),
		`confo.Credentials{"config_path": "`+filepath.Join(tmp, "confo-quickstart-")))
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the temporary directory must be removed")
}

// TestRunFileConfigPath runs the walk-through twice in a directory of the
// caller's, which keeps the files.
func TestRunFileConfigPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	runOnTimes(t, settings{backend: confo.FileBackend, configPath: dir}, 2, walkthroughOn(onFile,
		"Confo quick start against files in "+dir+"\n",
		fmt.Sprintf("confo.Credentials{%q: %q})\n", "config_path", dir)))

	raw, err := os.ReadFile(filepath.Join(dir, "database", "mysql.json"))
	require.NoError(t, err, "the walk-through's files must stay in the caller's directory")
	var mysql map[string]any
	require.NoError(t, json.Unmarshal(raw, &mysql))
	assert.Equal(t, map[string]any{"driver": "mysql", "host": "localhost", "port": 1234.0}, mysql)
}

// TestRunMemory: the second manager adds the first's store, since each
// LoadBackend of memory opens a new, empty one.
func TestRunMemory(t *testing.T) {
	want := []string{
		"Confo quick start against a memory store in the process\n",
		">>> config.LoadBackend(ctx, \"MEMORY_backend\", confo.MemoryBackend, confo.Credentials{})\n",
	}
	for _, part := range walkthrough {
		if strings.HasPrefix(part, ">>> config2.ActivateBackend(") {
			want = append(want,
				">>> store, err := config.Backend(\"MEMORY_backend\")\n",
				">>> config2.AddBackend(\"MEMORY_backend2\", store)\n")
		}
		want = append(want, strings.ReplaceAll(part, "ETCD_backend", onMemory.name))
	}
	out := runOnTimes(t, settings{backend: confo.MemoryBackend}, 1, want)
	assert.NotContains(t, out, "LoadBackend(ctx, \"MEMORY_backend2\"")
}

func TestRunZookeeper(t *testing.T) {
	t.Parallel()
	srv, err := testserver.StartZookeeper()
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	runOnTimes(t, settings{backend: confo.ZookeeperBackend, endpoints: srv.Addr()}, 2, walkthroughOn(onZookeeper,
		"Confo quick start against ZooKeeper at "+srv.Addr()+"\n",
		fmt.Sprintf("confo.Credentials{\"zookeeper_host\": []string{%q}})\n", srv.Addr())))
}

func TestRunRedis(t *testing.T) {
	t.Parallel()
	srv, err := testserver.StartRedis(testserver.RedisConfig{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	runOnTimes(t, settings{backend: confo.RedisBackend, endpoints: srv.Addr()}, 2, walkthroughOn(onRedis,
		"Confo quick start against Redis at "+srv.Addr()+"\n",
		fmt.Sprintf("confo.Credentials{\"host\": %q, \"port\": %d})\n", srv.Host, srv.Port)))
}

// TestRunRedisPassword: the password reaches the store and never the
// output, which names CONFO_PASSWORD instead.
func TestRunRedisPassword(t *testing.T) {
	t.Parallel()
	const secret = "quickstart-secret"
	srv, err := testserver.StartRedis(testserver.RedisConfig{Password: secret})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	s := settings{backend: confo.RedisBackend, endpoints: srv.Addr()}
	require.Error(t, runOn(t.Context(), &bytes.Buffer{}, s), "the server must refuse a client without the password")

	s.password = secret
	require.ErrorContains(t, runOn(t.Context(), &bytes.Buffer{}, s), "a password needs a user", "no password without a user")
	s.user = "default" // Redis's user of requirepass
	out := runOnTimes(t, s, 1, walkthroughOn(onRedis,
		"Confo quick start against Redis at "+srv.Addr()+"\n",
		fmt.Sprintf("confo.Credentials{\"host\": %q, \"password\": os.Getenv(\"CONFO_PASSWORD\"), \"port\": %d, \"user\": \"default\"})\n", srv.Host, srv.Port)))
	assert.NotContains(t, out, secret)
}

// TestRunPostgres runs the walk-through with an address and a user, then
// with a connection string holding a password, which is never printed.
// Each run finds what the one before stored.
func TestRunPostgres(t *testing.T) {
	t.Parallel()
	srv, err := testserver.StartPostgres()
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	runOnTimes(t, settings{backend: confo.DatabaseBackend, endpoints: srv.Addr(), user: testserver.PostgresUser}, 2, walkthroughOn(onDatabase,
		"Confo quick start against PostgreSQL at "+srv.Addr()+"\n",
		fmt.Sprintf("confo.Credentials{\"host\": %q, \"port\": %d, \"user\": %q})\n", srv.Host, srv.Port, testserver.PostgresUser)))

	dsn := srv.DSN(testserver.PasswordUser, testserver.PasswordUserPassword)
	out := runOnTimes(t, settings{backend: confo.DatabaseBackend, dsn: dsn}, 1, walkthroughOn(onDatabase,
		"Confo quick start against PostgreSQL at the connection string in CONFO_DSN\n",
		"confo.Credentials{\"dsn\": os.Getenv(\"CONFO_DSN\")})\n"))
	assert.NotContains(t, out, testserver.PasswordUserPassword)
	assert.NotContains(t, out, dsn)
}

func TestRunOnNoEndpoint(t *testing.T) {
	for _, kind := range []confo.BackendType{confo.ZookeeperBackend, confo.RedisBackend, confo.DatabaseBackend} {
		t.Run(string(kind), func(t *testing.T) {
			err := runOn(t.Context(), &bytes.Buffer{}, settings{backend: kind, endpoints: " , "})
			require.ErrorContains(t, err, EndpointsEnv)
			// no address at all: no local default either
			err = runOn(t.Context(), &bytes.Buffer{}, settings{backend: kind})
			require.ErrorContains(t, err, "needs the server's address: set -endpoints or CONFO_ENDPOINTS")
		})
	}
}

func TestParseSettings(t *testing.T) {
	for name, tt := range map[string]struct {
		args    []string
		env     map[string]string
		want    settings
		wantErr string
	}{
		"default etcd": {want: settings{backend: confo.EtcdBackend}},
		"etcd endpoints from the environment": {
			env:  map[string]string{EndpointsEnv: "10.0.0.1:2379"},
			want: settings{backend: confo.EtcdBackend, endpoints: "10.0.0.1:2379"},
		},
		"the former variable": {
			env:  map[string]string{EndpointsAliasEnv: "10.0.0.2:2379"},
			want: settings{backend: confo.EtcdBackend, endpoints: "10.0.0.2:2379"},
		},
		"the new variable wins over the former": {
			env:  map[string]string{EndpointsEnv: "10.0.0.1:2379", EndpointsAliasEnv: "10.0.0.2:2379"},
			want: settings{backend: confo.EtcdBackend, endpoints: "10.0.0.1:2379"},
		},
		"backend from the environment": {
			env:  map[string]string{BackendEnv: "file", ConfigPathEnv: "/srv/config"},
			want: settings{backend: confo.FileBackend, configPath: "/srv/config"},
		},
		"flags win over the environment": {
			args: []string{"-backend", "redis", "-endpoints", "127.0.0.1:6380", "-user", "app", "-config-path", "/x"},
			env:  map[string]string{BackendEnv: "zookeeper", EndpointsEnv: "127.0.0.1:2181", UserEnv: "other", ConfigPathEnv: "/y"},
			want: settings{backend: confo.RedisBackend, endpoints: "127.0.0.1:6380", user: "app", configPath: "/x"},
		},
		"an empty flag wins too": {
			args: []string{"-backend=", "-endpoints="},
			env:  map[string]string{BackendEnv: "zookeeper", EndpointsEnv: "127.0.0.1:2181"},
			want: settings{backend: confo.EtcdBackend},
		},
		"secrets only from the environment": {
			args: []string{"-backend=database"},
			env:  map[string]string{UserEnv: "app", PasswordEnv: "pw", DSNEnv: "postgres://db/app"},
			want: settings{backend: confo.DatabaseBackend, user: "app", password: "pw", dsn: "postgres://db/app"},
		},
		"memory":             {args: []string{"-backend", "memory"}, want: settings{backend: confo.MemoryBackend}},
		"unknown backend":    {args: []string{"-backend", "consul"}, wantErr: `unknown backend "consul"`},
		"unknown from env":   {env: map[string]string{BackendEnv: "mongo"}, wantErr: `unknown backend "mongo"`},
		"no password flag":   {args: []string{"-password", "pw"}, wantErr: "flag provided but not defined: -password"},
		"no positional args": {args: []string{"redis"}, wantErr: `unexpected argument "redis"`},
	} {
		t.Run(name, func(t *testing.T) {
			var usage bytes.Buffer
			got, err := parseSettings(tt.args, func(k string) string { return tt.env[k] }, &usage)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, usage.String())
		})
	}
}

func TestParseSettingsHelp(t *testing.T) {
	var usage bytes.Buffer
	_, err := parseSettings([]string{"-h"}, func(string) string { return "" }, &usage)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"-backend", "-endpoints", "-config-path", "-user", BackendEnv, EndpointsEnv, ConfigPathEnv, UserEnv, PasswordEnv, DSNEnv} {
		assert.Contains(t, usage.String(), want)
	}
}
