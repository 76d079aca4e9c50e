package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/store"
)

func TestParseURL(t *testing.T) {
	for raw, tt := range map[string]struct {
		opts store.Options
		ns   string
	}{
		"etcd://127.0.0.1:2379": {opts: store.Options{Backend: "etcd", Endpoints: []string{"127.0.0.1:2379"}}},
		"etcd://app@10.0.0.1:2379,10.0.0.2:2379/prod?ns=database&dial_timeout=2s&ca_file=/ca.pem": {
			opts: store.Options{Backend: "etcd", User: "app", Endpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379"},
				Prefix: "/prod", DialTimeout: 2 * time.Second, CAFile: "/ca.pem"},
			ns: "database",
		},
		"file:///srv/config?ns=sales":   {opts: store.Options{Backend: "file", ConfigPath: "/srv/config"}, ns: "sales"},
		"file:relative/dir":             {opts: store.Options{Backend: "file", ConfigPath: "relative/dir"}},
		"zookeeper://zk:2181/confo":     {opts: store.Options{Backend: "zookeeper", Endpoints: []string{"zk:2181"}, Prefix: "/confo"}},
		"redis://r:6379/?prefix=app":    {opts: store.Options{Backend: "redis", Endpoints: []string{"r:6379"}, Prefix: "app"}},
		"database://pg:5432/app?ns=x":   {opts: store.Options{Backend: "database", Endpoints: []string{"pg:5432"}, DBName: "app"}, ns: "x"},
		"memory://":                     {opts: store.Options{Backend: "memory"}},
		"etcd://127.0.0.1:2379/?ns=a.b": {opts: store.Options{Backend: "etcd", Endpoints: []string{"127.0.0.1:2379"}}, ns: "a.b"},
	} {
		t.Run(raw, func(t *testing.T) {
			opts, ns, err := store.ParseURL(raw)
			require.NoError(t, err)
			assert.Equal(t, tt.opts, opts)
			assert.Equal(t, tt.ns, ns)
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"127.0.0.1:2379":                 "no scheme",
		"localhost":                      "no scheme",
		"nosuch://x":                     `unknown backend "nosuch"`,
		"etcd://u:secret@h:2379":         "a password in a URL",
		"etcd://h:2379?bogus=1":          `unknown parameter "bogus"`,
		"etcd://h:2379?dial_timeout=abc": `dial_timeout "abc"`,
		"file://host/dir":                "want file:///absolute/path",
		"file://":                        "needs --config-path",
		"redis://a:1,b:2":                "redis takes one endpoint, not 2",
		"redis://a":                      `redis endpoint "a": want host:port`,
	} {
		t.Run(raw, func(t *testing.T) {
			_, _, err := store.ParseURL(raw)
			require.ErrorIs(t, err, store.ErrUsage)
			assert.Contains(t, err.Error(), want)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
	_, _, err := store.ParseURL("etcd://h:2379?ns=a/b")
	require.ErrorIs(t, err, confo.ErrInvalidName)
}

func TestCredentials(t *testing.T) {
	for name, tt := range map[string]struct {
		opts  store.Options
		kind  confo.BackendType
		creds confo.Credentials
	}{
		"etcd": {
			opts: store.Options{Backend: "etcd", Endpoints: []string{"a:1"}, Prefix: "/p", User: "u", Password: "pw",
				CAFile: "ca", CertFile: "c", KeyFile: "k", DialTimeout: time.Second},
			kind: confo.EtcdBackend,
			creds: confo.Credentials{"endpoints": []string{"a:1"}, "prefix": "/p", "user": "u", "password": "pw",
				"ca_file": "ca", "cert_file": "c", "key_file": "k", "dial_timeout": time.Second},
		},
		"etcd defaults": {opts: store.Options{Backend: "etcd"}, kind: confo.EtcdBackend, creds: confo.Credentials{}},
		"file":          {opts: store.Options{Backend: "file", ConfigPath: "/d"}, kind: confo.FileBackend, creds: confo.Credentials{"config_path": "/d"}},
		"zookeeper": {
			opts:  store.Options{Backend: "zookeeper", Endpoints: []string{"z:2181"}, User: "u", Password: "pw"},
			kind:  confo.ZookeeperBackend,
			creds: confo.Credentials{"zookeeper_host": []string{"z:2181"}, "zookeeper_user": "u", "zookeeper_passwd": "pw"},
		},
		"redis": {
			opts: store.Options{Backend: "redis", Endpoints: []string{"r:6380"}}, kind: confo.RedisBackend,
			creds: confo.Credentials{"host": "r", "port": 6380},
		},
		"database": {
			opts: store.Options{Backend: "database", Endpoints: []string{"pg:5433"}, DSN: "postgres://x", DBName: "app"}, kind: confo.DatabaseBackend,
			creds: confo.Credentials{"host": "pg", "port": 5433, "dsn": "postgres://x", "dbname": "app"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			kind, creds, err := tt.opts.Credentials()
			require.NoError(t, err)
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.creds, creds)
		})
	}
}
