package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

func TestParseURL(t *testing.T) {
	for raw, tt := range map[string]struct {
		opts storeOptions
		ns   string
	}{
		"etcd://127.0.0.1:2379": {opts: storeOptions{Backend: "etcd", Endpoints: []string{"127.0.0.1:2379"}}},
		"etcd://app@10.0.0.1:2379,10.0.0.2:2379/prod?ns=database&dial_timeout=2s&ca_file=/ca.pem": {
			opts: storeOptions{Backend: "etcd", User: "app", Endpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379"},
				Prefix: "/prod", DialTimeout: 2 * time.Second, CAFile: "/ca.pem"},
			ns: "database",
		},
		"file:///srv/config?ns=sales":   {opts: storeOptions{Backend: "file", ConfigPath: "/srv/config"}, ns: "sales"},
		"file:relative/dir":             {opts: storeOptions{Backend: "file", ConfigPath: "relative/dir"}},
		"zookeeper://zk:2181/confo":     {opts: storeOptions{Backend: "zookeeper", Endpoints: []string{"zk:2181"}, Prefix: "/confo"}},
		"redis://r:6379/?prefix=app":    {opts: storeOptions{Backend: "redis", Endpoints: []string{"r:6379"}, Prefix: "app"}},
		"database://pg:5432/app?ns=x":   {opts: storeOptions{Backend: "database", Endpoints: []string{"pg:5432"}, DBName: "app"}, ns: "x"},
		"memory://":                     {opts: storeOptions{Backend: "memory"}},
		"etcd://127.0.0.1:2379/?ns=a.b": {opts: storeOptions{Backend: "etcd", Endpoints: []string{"127.0.0.1:2379"}}, ns: "a.b"},
	} {
		t.Run(raw, func(t *testing.T) {
			opts, ns, err := parseStoreURL(raw)
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
		"redis://a":                      `endpoint "a": want host:port`,
		"etcd:///confo":                  `names no server`,
		"etcd://h:99999":                 `endpoint "h:99999"`,
	} {
		t.Run(raw, func(t *testing.T) {
			_, _, err := parseStoreURL(raw)
			requireUsage(t, err)
			assert.Contains(t, err.Error(), want)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
	_, _, err := parseStoreURL("etcd://h:2379?ns=a/b")
	require.ErrorIs(t, err, confo.ErrInvalidName)
}

func TestCredentials(t *testing.T) {
	for name, tt := range map[string]struct {
		opts  storeOptions
		kind  confo.BackendType
		creds confo.Credentials
	}{
		"etcd": {
			opts: storeOptions{Backend: "etcd", Endpoints: []string{"a:1"}, Prefix: "/p", User: "u", Password: "pw",
				CAFile: "ca", CertFile: "c", KeyFile: "k", DialTimeout: time.Second},
			kind: confo.EtcdBackend,
			creds: confo.Credentials{"endpoints": []string{"a:1"}, "prefix": "/p", "user": "u", "password": "pw",
				"ca_file": "ca", "cert_file": "c", "key_file": "k", "dial_timeout": time.Second},
		},
		"etcd url": {opts: storeOptions{Backend: "etcd", Endpoints: []string{"https://h:2379"}}, kind: confo.EtcdBackend, creds: confo.Credentials{"endpoints": []string{"https://h:2379"}}},
		"file":     {opts: storeOptions{Backend: "file", ConfigPath: "/d"}, kind: confo.FileBackend, creds: confo.Credentials{"config_path": "/d"}},
		"zookeeper": {
			opts:  storeOptions{Backend: "zookeeper", Endpoints: []string{"z:2181"}, User: "u", Password: "pw"},
			kind:  confo.ZookeeperBackend,
			creds: confo.Credentials{"zookeeper_host": []string{"z:2181"}, "zookeeper_user": "u", "zookeeper_passwd": "pw"},
		},
		"redis": {
			opts: storeOptions{Backend: "redis", Endpoints: []string{"r:6380"}}, kind: confo.RedisBackend,
			creds: confo.Credentials{"host": "r", "port": 6380},
		},
		"database": {
			opts: storeOptions{Backend: "database", Endpoints: []string{"pg:5433"}, DBName: "app"}, kind: confo.DatabaseBackend,
			creds: confo.Credentials{"host": "pg", "port": 5433, "dbname": "app"},
		},
		"database dsn": {
			opts: storeOptions{Backend: "database", DSN: "postgres://x"}, kind: confo.DatabaseBackend,
			creds: confo.Credentials{"dsn": "postgres://x"},
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

func TestCredentialsErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		opts storeOptions
		want string
	}{
		"etcd no address":     {storeOptions{Backend: "etcd"}, "the etcd backend needs its address: set --endpoints (or CONFO_ENDPOINTS)"},
		"redis no address":    {storeOptions{Backend: "redis"}, "the redis backend needs its address"},
		"database no address": {storeOptions{Backend: "database"}, "set --endpoints (or CONFO_ENDPOINTS) or CONFO_DSN"},
		"database both":       {storeOptions{Backend: "database", Endpoints: []string{"h:1"}, DSN: "x"}, "not both"},
		"malformed":           {storeOptions{Backend: "etcd", Endpoints: []string{"nonsense"}}, `endpoint "nonsense": want host:port`},
		"bad port":            {storeOptions{Backend: "zookeeper", Endpoints: []string{"z:0"}}, `endpoint "z:0"`},
		"password no user":    {storeOptions{Backend: "redis", Endpoints: []string{"r:1"}, Password: "s3cret"}, `--user default`},
		"tls for zookeeper":   {storeOptions{Backend: "zookeeper", Endpoints: []string{"z:1"}, CAFile: "ca.pem"}, "--ca-file (ca_file) does not apply to the zookeeper backend"},
		"tls for database":    {storeOptions{Backend: "database", Endpoints: []string{"p:1"}, CertFile: "c", KeyFile: "k"}, "--cert-file (cert_file) does not apply to the database backend"},
		"prefix for file":     {storeOptions{Backend: "file", ConfigPath: "d", Prefix: "/x"}, "--prefix (prefix) does not apply to the file backend"},
		"prefix for database": {storeOptions{Backend: "database", Endpoints: []string{"p:1"}, Prefix: "/x"}, "--prefix (prefix) does not apply to the database backend"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := tt.opts.Credentials()
			requireUsage(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestSelect(t *testing.T) {
	str := func(s string) *string { return &s }
	list := func(s ...string) *[]string { return &s }
	for name, tt := range map[string]struct {
		given   storeFlags
		env     map[string]string
		want    storeOptions
		wantErr string
	}{
		"endpoints flag beats config path env": {
			given: storeFlags{Endpoints: list("127.0.0.1:42379")}, env: map[string]string{"CONFO_CONFIG_PATH": "dir"},
			want: storeOptions{Backend: "etcd", Endpoints: []string{"127.0.0.1:42379"}},
		},
		"config path flag beats endpoints env": {
			given: storeFlags{ConfigPath: str("d")}, env: map[string]string{"CONFO_ENDPOINTS": "h:1", "CONFO_BACKEND": "etcd"},
			want: storeOptions{Backend: "file", ConfigPath: "d"},
		},
		"backend flag beats env": {
			given: storeFlags{Backend: str("memory")}, env: map[string]string{"CONFO_BACKEND": "etcd", "CONFO_ENDPOINTS": "h:1"},
			want: storeOptions{Backend: "memory"},
		},
		"endpoints flag keeps a network backend from env": {
			given: storeFlags{Endpoints: list("r:6379")}, env: map[string]string{"CONFO_BACKEND": "redis"},
			want: storeOptions{Backend: "redis", Endpoints: []string{"r:6379"}},
		},
		"user flag beats env": {
			given: storeFlags{User: str("flag")}, env: map[string]string{"CONFO_ENDPOINTS": "h:1", "CONFO_USER": "env"},
			want: storeOptions{Backend: "etcd", Endpoints: []string{"h:1"}, User: "flag"},
		},
		"env endpoints": {
			env:  map[string]string{"CONFO_ENDPOINTS": "a:1, b:2"},
			want: storeOptions{Backend: "etcd", Endpoints: []string{"a:1", "b:2"}},
		},
		"env alias": {
			env:  map[string]string{"CONFO_ETCD_ENDPOINTS": "a:1"},
			want: storeOptions{Backend: "etcd", Endpoints: []string{"a:1"}},
		},
		"env name wins over alias": {
			env:  map[string]string{"CONFO_ENDPOINTS": "a:1", "CONFO_ETCD_ENDPOINTS": "b:2"},
			want: storeOptions{Backend: "etcd", Endpoints: []string{"a:1"}},
		},
		"env config path": {
			env:  map[string]string{"CONFO_CONFIG_PATH": "d"},
			want: storeOptions{Backend: "file", ConfigPath: "d"},
		},
		"env backend decides": {
			env:  map[string]string{"CONFO_BACKEND": "file", "CONFO_CONFIG_PATH": "d", "CONFO_ENDPOINTS": "h:1"},
			want: storeOptions{Backend: "file", ConfigPath: "d"},
		},
		"database dsn": {
			env:  map[string]string{"CONFO_BACKEND": "database", "CONFO_DSN": "postgres://x", "CONFO_ENDPOINTS": "h:1"},
			want: storeOptions{Backend: "database", DSN: "postgres://x"},
		},
		"database endpoints flag beats dsn": {
			given: storeFlags{Backend: str("database"), Endpoints: list("pg:5432")}, env: map[string]string{"CONFO_DSN": "postgres://x"},
			want: storeOptions{Backend: "database", Endpoints: []string{"pg:5432"}},
		},
		"nothing":           {wantErr: "no store chosen"},
		"both env":          {env: map[string]string{"CONFO_CONFIG_PATH": "d", "CONFO_ENDPOINTS": "h:1"}, wantErr: "CONFO_CONFIG_PATH and CONFO_ENDPOINTS are both set"},
		"both flags":        {given: storeFlags{ConfigPath: str("d"), Endpoints: list("h:1")}, wantErr: "--config-path and --endpoints"},
		"unknown backend":   {given: storeFlags{Backend: str("etcdd")}, wantErr: `unknown backend "etcdd"`},
		"endpoints to file": {given: storeFlags{Backend: str("file"), Endpoints: list("h:1")}, wantErr: "--endpoints does not apply to the file backend"},
		"path to etcd":      {given: storeFlags{Backend: str("etcd"), ConfigPath: str("d")}, wantErr: "--config-path does not apply to the etcd backend"},
		"malformed flag":    {given: storeFlags{Endpoints: list("nonsense")}, wantErr: `--endpoints: endpoint "nonsense": want host:port`},
		"malformed env":     {env: map[string]string{"CONFO_ETCD_ENDPOINTS": "h:x"}, wantErr: `CONFO_ETCD_ENDPOINTS: endpoint "h:x"`},
		"empty list":        {given: storeFlags{Endpoints: list(" ")}, wantErr: "--endpoints names no endpoint"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := chooseStore(tt.given, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				requireUsage(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// requireUsage requires err to be a usage error (exit 2).
func requireUsage(t testing.TB, err error) {
	t.Helper()
	require.Equal(t, exitUsage, exitCode(err), "a usage error: %v", err)
}
