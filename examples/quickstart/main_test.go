package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/embedetcd"
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
