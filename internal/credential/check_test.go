package credential_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

func TestKnown(t *testing.T) {
	known := []string{"endpoints", "host", "port", "prefix", "dial_timeout", "user", "password", "zookeeper_host"}
	for key, want := range map[string]string{
		"endpoint":    `unknown credential "endpoint" (did you mean "endpoints"?)`,
		"prefx":       `unknown credential "prefx" (did you mean "prefix"?)`,
		"dial_timout": `unknown credential "dial_timout" (did you mean "dial_timeout"?)`,
		"username":    `unknown credential "username" (did you mean "user"?)`,
		"Host":        `unknown credential "Host" (did you mean "host"?)`,
		"colour":      `unknown credential "colour" (known: dial_timeout, endpoints, host, password, port, prefix, user, zookeeper_host)`,
	} {
		t.Run(key, func(t *testing.T) {
			err := credential.Known(confo.Credentials{"host": "h", key: "s3cret"}, known...)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Equal(t, "confo: invalid credentials: "+want, err.Error())
		})
	}
	require.NoError(t, credential.Known(confo.Credentials{"host": "h", "port": 1}, known...))
	require.NoError(t, credential.Known(nil, known...))
	assert.Equal(t, "zookeeper_host", credential.Nearest("host", []string{"zookeeper_host", "prefix"}))
	assert.Equal(t, "config_path", credential.Nearest("config_dir", []string{"config_path", "namespaces"}))
	assert.Equal(t, "", credential.Nearest("colour", []string{"config_path", "namespaces"}))
}

func TestEndpoint(t *testing.T) {
	schemes := []string{"http", "https", "unix"}
	for _, ok := range []string{"h:1", "10.0.0.1:2379", "[::1]:2379", "http://h:2379", "https://h:2379/", "unix:///run/etcd.sock", "unix://localhost:123"} {
		assert.NoError(t, credential.Endpoint("e", ok, schemes...), ok)
	}
	for _, bad := range []string{"nonsense", "h:", ":1", "h:0", "h:65536", "h:http", "ftp://h:1", "http://h", "http://h:1/path",
		"http://u:p@h:1", "h h:1", "unix://"} {
		err := credential.Endpoint(`"endpoints" item 1`, bad, schemes...)
		require.ErrorIs(t, err, confo.ErrInvalidCredentials, bad)
		assert.Contains(t, err.Error(), `"endpoints" item 1`)
		if len(bad) > 3 {
			assert.NotContains(t, err.Error(), bad)
		}
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{"h": "h", " db.local ": "db.local", "::1": "::1", "[::1]": "::1", "10.0.0.1": "10.0.0.1"} {
		got, err := credential.Host(`"host"`, in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", " ", "h:1", "http://h", "a b", "10.0.0.1:2379", "u@h"} {
		_, err := credential.Host(`"host"`, bad)
		require.ErrorIs(t, err, confo.ErrInvalidCredentials, bad)
	}
}
