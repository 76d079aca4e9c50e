package credential_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

const secret = "S3cret-Value"

func TestAddress(t *testing.T) {
	addr, err := credential.Address(`"host"`, " [::1] ", "port", 6379)
	require.NoError(t, err)
	assert.Equal(t, "[::1]:6379", addr)
	for name, tt := range map[string]struct {
		host string
		port int
		want string
	}{
		"host with port": {secret + ":1", 1, `"host" must be a host without a port`},
		"port":           {"h", 0, `"port" must be between 1 and 65535`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := credential.Address(`"host"`, tt.host, "port", tt.port)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestUserPassword(t *testing.T) {
	user, pass, err := credential.UserPassword(confo.Credentials{"u": "alice", "p": secret}, "u", "p", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"alice", secret}, []string{user, pass})

	_, _, err = credential.UserPassword(confo.Credentials{"p": secret}, "u", "p", " (a hint)")
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Equal(t, `confo: invalid credentials: "u" is required with "p" (a hint)`, err.Error())

	require.NoError(t, credential.RequireUser("", "", "u", "p", ""))
	require.NoError(t, credential.RequireUser("alice", "", "u", "p", ""))
	err = credential.RequireUser("", secret, "zookeeper_user", "zookeeper_passwd", "")
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Equal(t, `confo: invalid credentials: "zookeeper_user" is required with "zookeeper_passwd"`, err.Error())

	_, _, err = credential.UserPassword(confo.Credentials{"u": "alice", "p": 42}, "u", "p", "")
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Contains(t, err.Error(), `"p" must be a string`)
}

func TestTLSFiles(t *testing.T) {
	ca, cert, key, err := credential.TLSFiles(confo.Credentials{"ca_file": "ca", "cert_file": "c", "key_file": "k", "other": 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"ca", "c", "k"}, []string{ca, cert, key})
	for creds, want := range map[*confo.Credentials]string{
		{"cert_file": "c"}: `"key_file" is required with "cert_file"`,
		{"key_file": "k"}:  `"cert_file" is required with "key_file"`,
		{"ca_file": 1}:     `"ca_file" must be a string`,
	} {
		_, _, _, err := credential.TLSFiles(*creds)
		require.ErrorIs(t, err, confo.ErrInvalidCredentials, want)
		assert.Contains(t, err.Error(), want)
	}
}

func TestPositive(t *testing.T) {
	var a, b int
	require.NoError(t, credential.Positive(confo.Credentials{"a": 3}, map[string]*int{"a": &a, "b": &b}))
	assert.Equal(t, []int{3, 0}, []int{a, b})
	err := credential.Positive(confo.Credentials{"a": 0}, map[string]*int{"a": &a})
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Contains(t, err.Error(), `"a" must be positive`)
}

func TestNamespaces(t *testing.T) {
	require.NoError(t, credential.Namespaces([]string{"db", "sales"}))
	err := credential.Namespaces([]string{"db", "a/b"})
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	require.ErrorIs(t, err, confo.ErrInvalidName)
	assert.Contains(t, err.Error(), `"namespaces"`)
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	certFile := write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyFile := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))

	tc, err := credential.TLSConfig(certFile, certFile, keyFile)
	require.NoError(t, err)
	assert.NotNil(t, tc.RootCAs)
	assert.Len(t, tc.Certificates, 1)
	assert.GreaterOrEqual(t, tc.MinVersion, uint16(0x0303))
	tc, err = credential.TLSConfig("", "", "")
	require.NoError(t, err)
	assert.Nil(t, tc.RootCAs)

	notPEM := write("secret.pem", []byte(secret))
	for name, tt := range map[string]struct {
		ca, cert, key, want string
	}{
		"missing ca":     {filepath.Join(dir, "none.pem"), "", "", `"ca_file": open `},
		"ca not PEM":     {notPEM, "", "", `"ca_file" holds no PEM certificate`},
		"half a pair":    {"", certFile, "", `"cert_file" and "key_file" go together`},
		"missing key":    {"", certFile, filepath.Join(dir, "none.key"), `"cert_file"/"key_file": open `},
		"key not PEM":    {"", certFile, notPEM, `"cert_file"/"key_file" do not hold a valid certificate and key`},
		"swapped a pair": {"", keyFile, certFile, `"cert_file"/"key_file" do not hold a valid certificate and key`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := credential.TLSConfig(tt.ca, tt.cert, tt.key)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "PRIVATE KEY")
		})
	}
}
