package etcd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// TestForeignValues writes values into etcd as other tools would, under a
// configuration's key: Reload and UseNamespace quarantine them (Get says
// ErrCorruptValue naming the configuration and its namespace, Problems
// lists them) and serve the rest of the namespace.
func TestForeignValues(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)
	ctx := t.Context()

	for name, value := range map[string]string{
		"not JSON":            "host=db.example.com",
		"JSON array":          `[{"host":"db"}]`,
		"JSON string":         `"db.example.com"`,
		"JSON number":         `5432`,
		"JSON null":           `null`,
		"empty":               ``,
		"whitespace":          " \n\t",
		"two objects":         `{"a":1}{"b":2}`,
		"object then garbage": `{"a":1} trailing`,
		"truncated object":    `{"host":"db","port":54`,
		"huge non-object":     `"` + strings.Repeat("x", 1<<20) + `"`,
		"huge truncated":      `{"data":"` + strings.Repeat("x", 1<<20),
		"invalid UTF-8":       "{\"host\":\"db\xff\xfe\"}",
		"UTF-8 BOM":           "\ufeff{\"host\":\"db\"}",
	} {
		t.Run(name, func(t *testing.T) {
			prefix := uniquePrefix("foreign")
			m := newNamespaceManager(t, c, "etcd", prefix, "app")
			require.NoError(t, m.Set("good", map[string]any{"host": "db", "port": 5432}))
			require.NoError(t, m.Persist(ctx))
			require.NoError(t, m.SetField("good", "unsaved", true))
			before, err := m.GetAll()
			require.NoError(t, err)

			_, err = raw.Put(ctx, prefix+"/app/bad", value)
			require.NoError(t, err)

			require.NoError(t, m.Reload(ctx), "a foreign value is quarantined, not an error")
			_, err = m.Get("bad")
			require.ErrorIs(t, err, confo.ErrCorruptValue)
			assert.Contains(t, err.Error(), `"bad"`, "names the configuration")
			assert.Contains(t, err.Error(), `"app"`, "names the namespace")
			assert.Less(t, len(err.Error()), 1000, "the value is not copied into the message")
			after, err := m.GetAll()
			require.NoError(t, err)
			delete(before["good"], "unsaved") // Reload: the store wins
			assert.Equal(t, before, after, "the rest of the view is the store's")
			require.Len(t, m.Problems("app"), 1)
			assert.Equal(t, "bad", m.Problems("app")[0].Name)

			fresh := newManager(t, c, "etcd", prefix)
			require.NoError(t, fresh.UseNamespace(ctx, "app"), "a new instance starts")
			_, err = fresh.Get("bad")
			require.ErrorIs(t, err, confo.ErrCorruptValue)
			good, err := fresh.Get("good")
			require.NoError(t, err)
			assert.Equal(t, after["good"], good)

			// Once the other tool's value is gone, both read the store.
			_, err = raw.Delete(ctx, prefix+"/app/bad")
			require.NoError(t, err)
			require.NoError(t, m.Reload(ctx))
			assert.Empty(t, m.Problems("app"), "the problem goes with the value")
		})
	}

	t.Run("keys that are not configurations are reported, not loaded", func(t *testing.T) {
		prefix := uniquePrefix("foreign")
		m := newNamespaceManager(t, c, "etcd", prefix, "app")
		names := []string{"a/b", "ctl\x01", "", "..", strings.Repeat("x", 256)}
		for _, name := range names {
			_, err := raw.Put(ctx, prefix+"/app/"+name, "not JSON")
			require.NoError(t, err)
		}
		require.NoError(t, m.Reload(ctx))
		n, err := m.ConfigCount()
		require.NoError(t, err)
		assert.Zero(t, n)
		reported := map[string]error{}
		for _, p := range m.Problems("app") {
			reported[p.Name] = p.Err
		}
		for _, name := range names {
			if assert.Contains(t, reported, name) {
				assert.ErrorIs(t, reported[name], confo.ErrInvalidName)
			}
		}
	})
}

// TestCredentialTypes passes every credential key of the etcd backend an
// ill-typed or malformed value: LoadBackend fails with
// ErrInvalidCredentials naming the key, before any I/O, and never shows the
// value.
func TestCredentialTypes(t *testing.T) {
	const secret = "Sup3r-s3cret-value"
	type bad struct {
		key   string
		value any
	}
	cases := []bad{
		{"host", 42}, {"host", []string{"a"}}, {"host", ""},
		{"port", true}, {"port", secret}, {"port", 0}, {"port", 70000}, {"port", 1.5}, {"port", []int{1}},
		{"endpoints", 42}, {"endpoints", []any{"127.0.0.1:2379", 7}}, {"endpoints", []string{"a:1", " "}}, {"endpoints", []string{}}, {"endpoints", map[string]string{"a": secret}},
		{"user", 42}, {"user", []byte(secret)},
		{"password", 42}, {"password", []byte(secret)},
		{"prefix", 42}, {"prefix", "confo"}, {"prefix", secret},
		{"dial_timeout", "forever"}, {"dial_timeout", true}, {"dial_timeout", -1}, {"dial_timeout", "-5s"}, {"dial_timeout", time.Duration(0)}, {"dial_timeout", secret},
		{"ca_file", 42}, {"ca_file", []string{secret}},
		{"cert_file", 42}, {"cert_file", true},
		{"key_file", 42}, {"key_file", 1.0},
		{"namespaces", 42}, {"namespaces", []any{"ok", 1}}, {"namespaces", []string{"a/b"}}, {"namespaces", []string{".."}},
		{"max_txn_ops", "many"}, {"max_txn_ops", 0}, {"max_txn_ops", -1},
		{"max_request_bytes", true}, {"max_request_bytes", 0},
		{"page_size", "x"}, {"page_size", -5},
	}
	covered := make(map[string]bool)
	for _, tc := range cases {
		covered[tc.key] = true
		t.Run(fmt.Sprintf("%s %T", tc.key, tc.value), func(t *testing.T) {
			// A closed port: any I/O would fail differently and slowly.
			creds := confo.Credentials{"host": "127.0.0.1", "port": 1, "dial_timeout": "100ms", "user": "app", "password": secret}
			if tc.key == "user" {
				delete(creds, "password") // a password needs a user
			}
			creds[tc.key] = tc.value

			_, err := etcd.ParseCredentials(creds)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials, "%s = %#v", tc.key, tc.value)
			assert.Contains(t, err.Error(), `"`+tc.key+`"`, "the error names the key")
			assert.NotContains(t, err.Error(), secret)

			m := confo.New()
			defer m.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err = m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), `"`+tc.key+`"`)
			assert.NotContains(t, err.Error(), secret)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "refused before dialing")
		})
	}

	// Every key the package documents is covered.
	for _, key := range []string{"host", "port", "endpoints", "user", "password", "prefix", "dial_timeout",
		"ca_file", "cert_file", "key_file", "namespaces", "max_txn_ops", "max_request_bytes", "page_size"} {
		assert.True(t, covered[key], "credential key %q has no case", key)
	}

	t.Run("password without user", func(t *testing.T) {
		_, err := etcd.ParseCredentials(confo.Credentials{"host": "h", "password": secret})
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		assert.Contains(t, err.Error(), `"user"`)
		assert.NotContains(t, err.Error(), secret)
	})
	t.Run("cert_file without key_file", func(t *testing.T) {
		_, err := etcd.ParseCredentials(confo.Credentials{"host": "h", "cert_file": "/c.pem"})
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		assert.Contains(t, err.Error(), `"key_file"`)
	})
	t.Run("unreadable ca_file", func(t *testing.T) {
		m := confo.New()
		defer m.Close()
		err := m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, confo.Credentials{"host": "127.0.0.1", "port": 1, "ca_file": t.TempDir() + "/missing.pem"})
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		assert.Contains(t, err.Error(), `"ca_file"`)
	})
}
