package etcd_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/internal/testserver"
)

// TestAuth runs against a cluster with authentication enabled: a wrong
// password is a clear error without the password, a user without
// permission gets etcd's permission error naming the key.
func TestAuth(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	admin := rawClient(t, c)
	const rootPassword, appPassword = "r00t-Pa55", "app-Pa55-w0rd"
	_, err := admin.UserAdd(ctx, "root", rootPassword)
	require.NoError(t, err)
	_, err = admin.RoleAdd(ctx, "root")
	require.NoError(t, err)
	_, err = admin.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	// app may read /app and everything below, but write nothing.
	_, err = admin.UserAdd(ctx, "app", appPassword)
	require.NoError(t, err)
	_, err = admin.RoleAdd(ctx, "reader")
	require.NoError(t, err)
	_, err = admin.RoleGrantPermission(ctx, "reader", "/app", clientv3.GetPrefixRangeEnd("/app"), clientv3.PermissionType(clientv3.PermRead))
	require.NoError(t, err)
	_, err = admin.UserGrantRole(ctx, "app", "reader")
	require.NoError(t, err)
	_, err = admin.AuthEnable(ctx)
	require.NoError(t, err)

	creds := func(user, password, prefix string) confo.Credentials {
		return confo.Credentials{"endpoints": c.Endpoints(), "user": user, "password": password, "prefix": prefix, "dial_timeout": "5s"}
	}

	t.Run("WrongPassword", func(t *testing.T) {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		err := m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds("root", "not-"+rootPassword, "/confo"))
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
		assert.Contains(t, err.Error(), c.Endpoints()[0])
		assert.NotContains(t, err.Error(), rootPassword)
		t.Log(err)
	})

	t.Run("NoCredentials", func(t *testing.T) {
		_, err := etcd.New(ctx, etcd.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		assert.Contains(t, err.Error(), `"user"`)
		t.Log(err)
	})

	t.Run("Root", func(t *testing.T) {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds("root", rootPassword, "/app")))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.CreateNamespace(ctx, "ns"))
		require.NoError(t, m.UseNamespace(ctx, "ns"))
		require.NoError(t, m.Set("db", map[string]any{"host": "h"}))
		require.NoError(t, m.Persist(ctx))
	})

	t.Run("PermissionDenied", func(t *testing.T) {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds("app", appPassword, "/app")))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.UseNamespace(ctx, "ns"), "app may read")
		host, err := m.GetField("db", "host")
		require.NoError(t, err)
		assert.Equal(t, "h", host)

		err = m.CreateNamespace(ctx, "other")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
		assert.Contains(t, err.Error(), "/app//other")
		require.NoError(t, m.Set("db", map[string]any{"host": "x"}))
		err = m.Persist(ctx)
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
		assert.Contains(t, err.Error(), "/app/ns/db")
		assert.NotContains(t, err.Error(), appPassword)

		// Outside its range, app cannot even connect.
		err = m.LoadBackend(ctx, "other", confo.EtcdBackend, creds("app", appPassword, "/elsewhere"))
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	})
}

// TestTLS runs against a cluster that requires client certificates.
func TestTLS(t *testing.T) {
	pki := newCerts(t)
	integration.BeforeTestExternal(t)
	c := integration.NewCluster(t, &integration.ClusterConfig{
		Size:   1,
		UseTCP: true,
		ClientTLS: &transport.TLSInfo{
			CertFile:       pki.CertFile,
			KeyFile:        pki.KeyFile,
			TrustedCAFile:  pki.CAFile,
			ClientCertAuth: true,
		},
	})
	t.Cleanup(func() { c.Terminate(t) })
	ctx := t.Context()
	endpoints := c.Endpoints()
	require.Contains(t, endpoints[0], "https://")

	t.Run("ClientCertificate", func(t *testing.T) {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, confo.Credentials{
			"endpoints": endpoints, "ca_file": pki.CAFile, "cert_file": pki.ClientCertFile, "key_file": pki.ClientKeyFile,
			"namespaces": []string{"secure"},
		}))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.UseNamespace(ctx, "secure"), "created at load")
		require.NoError(t, m.Set("db", map[string]any{"tls": true}))
		require.NoError(t, m.Persist(ctx))
	})

	t.Run("NoClientCertificate", func(t *testing.T) {
		start := time.Now()
		_, err := etcd.New(ctx, etcd.Config{Endpoints: endpoints, CAFile: pki.CAFile, DialTimeout: time.Second})
		require.Error(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Contains(t, err.Error(), endpoints[0])
	})

	t.Run("UnknownCA", func(t *testing.T) {
		other := newCerts(t)
		_, err := etcd.New(ctx, etcd.Config{Endpoints: endpoints, CAFile: other.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, DialTimeout: time.Second})
		require.Error(t, err)
		assert.Contains(t, err.Error(), endpoints[0])
	})
}

// newCerts writes a new throw-away CA, with a server and a client
// certificate it signed, into a temporary directory.
func newCerts(t testing.TB) testserver.Certs {
	t.Helper()
	certs, err := testserver.MakeCerts(t.TempDir())
	require.NoError(t, err)
	return certs
}
