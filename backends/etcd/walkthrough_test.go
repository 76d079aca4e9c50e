package etcd_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"
)

// walkthrough runs the seed's etcd chapter (shared/seed/etcd_backend.md)
// against the cluster that creds reach, whose keys live under prefix
// (the default "/confo" when creds have none). raw is a client of that
// cluster used to look at the keys as etcdctl would.
func walkthrough(t *testing.T, creds confo.Credentials, prefix string, raw *clientv3.Client) {
	ctx := t.Context()

	// config = Confo(); config.load_backend(cred, "ETCD_backend", ETCD_BACKEND)
	config := confo.New()
	t.Cleanup(func() { assert.NoError(t, config.Close()) })
	require.NoError(t, config.LoadBackend(ctx, "ETCD_backend", confo.EtcdBackend, creds))
	assert.Equal(t, confo.Backends{All: []string{"ETCD_backend"}}, config.GetBackends())

	// A configuration call before activation is the original's
	// BackendsActivationException.
	_, err := config.GetAll()
	require.ErrorIs(t, err, confo.ErrBackendNotActive)

	require.NoError(t, config.ActivateBackend("ETCD_backend"))
	assert.Equal(t, confo.Backends{All: []string{"ETCD_backend"}, Active: "ETCD_backend"}, config.GetBackends())

	// No namespace in use yet: NamespaceNotLoadedException.
	_, err = config.GetAll()
	require.ErrorIs(t, err, confo.ErrNamespaceNotLoaded)

	require.NoError(t, config.CreateNamespace(ctx, "database"))
	require.NoError(t, config.UseNamespace(ctx, "database"))
	namespaces, err := config.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"database"}, Current: "database"}, namespaces)
	count, err := config.GetCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, count)

	postgress := map[string]any{"driver": "postgress", "host": "127.0.0.1", "port": 5678}
	require.NoError(t, config.Set("postgress", postgress))
	mysql := map[string]any{"driver": "mysql", "host": "localhost", "port": 1234}
	require.NoError(t, config.Set("mysql", mysql))

	host, err := config.GetField("mysql", "host")
	require.NoError(t, err)
	assert.Equal(t, "localhost", host)

	want := map[string]map[string]any{
		"postgress": {"driver": "postgress", "host": "127.0.0.1", "port": int64(5678)},
		"mysql":     {"driver": "mysql", "host": "localhost", "port": int64(1234)},
	}
	all, err := config.GetAll()
	require.NoError(t, err)
	assert.Equal(t, want, all)

	require.NoError(t, config.Persist(ctx))

	// etcdctl get /confo/database/mysql prints the JSON object.
	resp, err := raw.Get(ctx, prefix+"/database/mysql")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "key %s/database/mysql", prefix)
	assert.JSONEq(t, `{"driver":"mysql","host":"localhost","port":1234}`, string(resp.Kvs[0].Value))
	resp, err = raw.Get(ctx, prefix+"/database/postgress")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "key %s/database/postgress", prefix)
	assert.JSONEq(t, `{"driver":"postgress","host":"127.0.0.1","port":5678}`, string(resp.Kvs[0].Value))

	require.NoError(t, config.Reload(ctx))
	all, err = config.GetAll()
	require.NoError(t, err)
	assert.Equal(t, want, all)

	// config2 = Confo(): a second instance reloads what the first persisted.
	config2 := confo.New()
	t.Cleanup(func() { assert.NoError(t, config2.Close()) })
	require.NoError(t, config2.LoadBackend(ctx, "ETCD_backend2", confo.EtcdBackend, creds))
	require.NoError(t, config2.ActivateBackend("ETCD_backend2"))
	assert.Equal(t, confo.Backends{All: []string{"ETCD_backend2"}, Active: "ETCD_backend2"}, config2.GetBackends())

	namespaces, err = config2.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"database"}}, namespaces)
	require.NoError(t, config2.CreateNamespace(ctx, "database")) // exists: not an error
	require.NoError(t, config2.UseNamespace(ctx, "database"))
	namespaces, err = config2.GetNamespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, confo.Namespaces{All: []string{"database"}, Current: "database"}, namespaces)

	require.NoError(t, config2.Reload(ctx))
	all2, err := config2.GetAll()
	require.NoError(t, err)
	assert.Equal(t, all, all2)
	port, err := config2.GetField("postgress", "port")
	require.NoError(t, err)
	assert.Equal(t, int64(5678), port)
	n, err := config2.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
