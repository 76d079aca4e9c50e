package etcd_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
)

// TestTLSCredentials runs two TLS clusters with certificates made in the
// test: one that only serves TLS, one that also requires a client
// certificate. ca_file, cert_file and key_file work; a plaintext client, a
// client trusting another CA or none, and a client without a certificate
// where one is required all fail within the dial timeout with an error
// that names the endpoint and says why.
func TestTLSCredentials(t *testing.T) {
	p, other := newCerts(t), newCerts(t)
	integration.BeforeTestExternal(t)
	start := func(clientAuth bool) []string {
		info := &transport.TLSInfo{CertFile: p.CertFile, KeyFile: p.KeyFile, TrustedCAFile: p.CAFile, ClientCertAuth: true}
		if !clientAuth {
			// A trusted CA makes etcd require client certificates: leave
			// it out, and let the framework's own clients skip the check.
			info = &transport.TLSInfo{CertFile: p.CertFile, KeyFile: p.KeyFile, InsecureSkipVerify: true}
		}
		c := integration.NewCluster(t, &integration.ClusterConfig{Size: 1, UseTCP: true, ClientTLS: info})
		t.Cleanup(func() { c.Terminate(t) })
		require.Contains(t, c.Endpoints()[0], "https://")
		return c.Endpoints()
	}
	serverOnly, mutual := start(false), start(true)
	ctx := t.Context()
	const dialTimeout = 2 * time.Second

	use := func(t *testing.T, creds confo.Credentials) {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.CreateNamespace(ctx, "secure"))
		require.NoError(t, m.UseNamespace(ctx, "secure"))
		require.NoError(t, m.Set("db", map[string]any{"tls": true}))
		require.NoError(t, m.Persist(ctx))
		require.NoError(t, m.Reload(ctx))
		v, err := m.GetField("db", "tls")
		require.NoError(t, err)
		assert.Equal(t, true, v)
	}
	fails := func(t *testing.T, creds confo.Credentials, endpoint string) error {
		creds["dial_timeout"] = dialTimeout
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		began := time.Now()
		err := m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds)
		elapsed := time.Since(began)
		require.Error(t, err)
		t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		assert.Less(t, elapsed, dialTimeout+3*time.Second, "bounded by the dial timeout, loosely")
		assert.Contains(t, err.Error(), endpoint)
		assert.Empty(t, m.GetBackends().All)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		return err
	}
	hostPort := func(endpoint string) string {
		u, err := url.Parse(endpoint)
		require.NoError(t, err)
		return u.Host
	}

	t.Run("CAFile", func(t *testing.T) {
		use(t, confo.Credentials{"endpoints": serverOnly, "ca_file": p.CAFile})
	})
	t.Run("CAFileHostPortEndpoint", func(t *testing.T) {
		// A bare host:port with ca_file set is dialed with TLS.
		use(t, confo.Credentials{"endpoints": []string{hostPort(serverOnly[0])}, "ca_file": p.CAFile})
	})
	t.Run("ClientCertificate", func(t *testing.T) {
		use(t, confo.Credentials{"endpoints": mutual, "ca_file": p.CAFile, "cert_file": p.ClientCertFile, "key_file": p.ClientKeyFile})
	})
	t.Run("Plaintext", func(t *testing.T) {
		hp := hostPort(serverOnly[0])
		err := fails(t, confo.Credentials{"endpoints": []string{"http://" + hp}}, hp)
		assert.Contains(t, err.Error(), "serves TLS", "says why")
	})
	t.Run("PlaintextHostPort", func(t *testing.T) {
		u, err := url.Parse(serverOnly[0])
		require.NoError(t, err)
		err = fails(t, confo.Credentials{"host": u.Hostname(), "port": u.Port()}, u.Host)
		assert.Contains(t, err.Error(), "serves TLS", "says why")
	})
	t.Run("WrongCA", func(t *testing.T) {
		err := fails(t, confo.Credentials{"endpoints": serverOnly, "ca_file": other.CAFile}, serverOnly[0])
		assert.Contains(t, err.Error(), "unknown authority", "says why")
	})
	t.Run("NoCAForPrivateCA", func(t *testing.T) {
		// https:// with the system's roots, which do not hold the test CA.
		err := fails(t, confo.Credentials{"endpoints": serverOnly, "cert_file": p.ClientCertFile, "key_file": p.ClientKeyFile}, serverOnly[0])
		assert.Contains(t, err.Error(), "unknown authority", "says why")
	})
	t.Run("MissingClientCertificate", func(t *testing.T) {
		err := fails(t, confo.Credentials{"endpoints": mutual, "ca_file": p.CAFile}, mutual[0])
		assert.Contains(t, err.Error(), "certificate required", "says why")
	})
	t.Run("ClientCertificateOfAnotherCA", func(t *testing.T) {
		err := fails(t, confo.Credentials{"endpoints": mutual, "ca_file": p.CAFile, "cert_file": other.ClientCertFile, "key_file": other.ClientKeyFile}, mutual[0])
		assert.Contains(t, err.Error(), "unknown certificate authority", "says why")
	})
}
