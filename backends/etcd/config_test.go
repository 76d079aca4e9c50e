package etcd_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

func TestParseCredentials(t *testing.T) {
	defaults := etcd.Config{
		Endpoints:       []string{"127.0.0.1:2379"},
		Prefix:          "/confo",
		DialTimeout:     5 * time.Second,
		MaxTxnOps:       128,
		MaxRequestBytes: 1572864,
		PageSize:        1000,
	}
	with := func(change func(*etcd.Config)) etcd.Config {
		cfg := defaults
		change(&cfg)
		return cfg
	}

	for name, tt := range map[string]struct {
		creds confo.Credentials
		want  etcd.Config
	}{
		"empty":          {creds: nil, want: defaults},
		"unknown keys":   {creds: confo.Credentials{"colour": "blue", "retries": 3}, want: defaults},
		"host":           {creds: confo.Credentials{"host": "etcd.local"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"etcd.local:2379"} })},
		"port":           {creds: confo.Credentials{"port": 2380}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"127.0.0.1:2380"} })},
		"port float":     {creds: confo.Credentials{"port": 2380.0}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"127.0.0.1:2380"} })},
		"port string":    {creds: confo.Credentials{"port": "2380"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"127.0.0.1:2380"} })},
		"host and port":  {creds: confo.Credentials{"host": "10.0.0.1", "port": 1234}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"10.0.0.1:1234"} })},
		"ipv6 host":      {creds: confo.Credentials{"host": "::1"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"[::1]:2379"} })},
		"endpoints list": {creds: confo.Credentials{"endpoints": []string{"a:1", "https://b:2"}}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1", "https://b:2"} })},
		"endpoints any":  {creds: confo.Credentials{"endpoints": []any{"a:1", "b:2"}}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1", "b:2"} })},
		"endpoints csv":  {creds: confo.Credentials{"endpoints": "a:1, b:2"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1", "b:2"} })},
		"endpoints win":  {creds: confo.Credentials{"endpoints": []string{"a:1"}, "host": "h", "port": 9}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1"} })},
		"user":           {creds: confo.Credentials{"user": "app", "password": "pw"}, want: with(func(c *etcd.Config) { c.Username, c.Password = "app", "pw" })},
		"user only":      {creds: confo.Credentials{"user": "app"}, want: with(func(c *etcd.Config) { c.Username = "app" })},
		"prefix":         {creds: confo.Credentials{"prefix": "/apps/confo"}, want: with(func(c *etcd.Config) { c.Prefix = "/apps/confo" })},
		"prefix slash":   {creds: confo.Credentials{"prefix": "/apps/"}, want: with(func(c *etcd.Config) { c.Prefix = "/apps" })},
		"prefix root":    {creds: confo.Credentials{"prefix": "/"}, want: with(func(c *etcd.Config) { c.Prefix = "/" })},
		"dial string":    {creds: confo.Credentials{"dial_timeout": "250ms"}, want: with(func(c *etcd.Config) { c.DialTimeout = 250 * time.Millisecond })},
		"dial duration":  {creds: confo.Credentials{"dial_timeout": 2 * time.Second}, want: with(func(c *etcd.Config) { c.DialTimeout = 2 * time.Second })},
		"dial seconds":   {creds: confo.Credentials{"dial_timeout": 3}, want: with(func(c *etcd.Config) { c.DialTimeout = 3 * time.Second })},
		"tls files": {
			creds: confo.Credentials{"ca_file": "ca.pem", "cert_file": "c.pem", "key_file": "k.pem"},
			want:  with(func(c *etcd.Config) { c.CAFile, c.CertFile, c.KeyFile = "ca.pem", "c.pem", "k.pem" }),
		},
		"ca only":    {creds: confo.Credentials{"ca_file": "ca.pem"}, want: with(func(c *etcd.Config) { c.CAFile = "ca.pem" })},
		"namespaces": {creds: confo.Credentials{"namespaces": []any{"sales", "analytics"}}, want: with(func(c *etcd.Config) { c.Namespaces = []string{"sales", "analytics"} })},
		"limits": {
			creds: confo.Credentials{"max_txn_ops": 64, "max_request_bytes": int64(10 << 20), "page_size": "50"},
			want:  with(func(c *etcd.Config) { c.MaxTxnOps, c.MaxRequestBytes, c.PageSize = 64, 10<<20, 50 }),
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := etcd.ParseCredentials(tt.creds)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseCredentialsInvalid(t *testing.T) {
	const secret = "Sup3r-Secret-Value"
	for name, tt := range map[string]struct {
		creds confo.Credentials
		key   string // the key the error must name
	}{
		"host not string":       {confo.Credentials{"host": 127}, "host"},
		"host empty":            {confo.Credentials{"host": " "}, "host"},
		"port not number":       {confo.Credentials{"port": []int{1}}, "port"},
		"port bad string":       {confo.Credentials{"port": secret}, "port"},
		"port fraction":         {confo.Credentials{"port": 1.5}, "port"},
		"port out of range":     {confo.Credentials{"port": 70000}, "port"},
		"port zero":             {confo.Credentials{"port": 0}, "port"},
		"endpoints not list":    {confo.Credentials{"endpoints": 5}, "endpoints"},
		"endpoints not strings": {confo.Credentials{"endpoints": []any{"a:1", 2}}, "endpoints"},
		"endpoints empty":       {confo.Credentials{"endpoints": []string{}}, "endpoints"},
		"endpoints blank":       {confo.Credentials{"endpoints": []string{"a:1", ""}}, "endpoints"},
		"user not string":       {confo.Credentials{"user": 1, "password": secret}, "user"},
		"password not string":   {confo.Credentials{"user": "u", "password": []byte(secret)}, "password"},
		"password without user": {confo.Credentials{"password": secret}, "user"},
		"prefix not string":     {confo.Credentials{"prefix": 1}, "prefix"},
		"prefix relative":       {confo.Credentials{"prefix": "confo"}, "prefix"},
		"dial bad string":       {confo.Credentials{"dial_timeout": "soon"}, "dial_timeout"},
		"dial negative":         {confo.Credentials{"dial_timeout": "-1s"}, "dial_timeout"},
		"dial bool":             {confo.Credentials{"dial_timeout": true}, "dial_timeout"},
		"ca not string":         {confo.Credentials{"ca_file": 1}, "ca_file"},
		"cert not string":       {confo.Credentials{"cert_file": 1, "key_file": "k"}, "cert_file"},
		"key not string":        {confo.Credentials{"cert_file": "c", "key_file": 1}, "key_file"},
		"cert without key":      {confo.Credentials{"cert_file": "c.pem"}, "key_file"},
		"key without cert":      {confo.Credentials{"key_file": "k.pem"}, "cert_file"},
		"namespaces not list":   {confo.Credentials{"namespaces": 1}, "namespaces"},
		"namespaces invalid":    {confo.Credentials{"namespaces": []string{"ok", "a/b"}}, "namespaces"},
		"max_txn_ops bad":       {confo.Credentials{"max_txn_ops": "many"}, "max_txn_ops"},
		"max_txn_ops zero":      {confo.Credentials{"max_txn_ops": 0}, "max_txn_ops"},
		"max_request_bytes bad": {confo.Credentials{"max_request_bytes": -1}, "max_request_bytes"},
		"page_size bad":         {confo.Credentials{"page_size": 2.5}, "page_size"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := etcd.ParseCredentials(tt.creds)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), `"`+tt.key+`"`)
			assert.NotContains(t, err.Error(), secret)

			// LoadBackend reports the same, before any I/O.
			m := confo.New()
			err = m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, tt.creds)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestConfigTLSFiles(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct {
		cfg etcd.Config
		key string
	}{
		"missing ca":   {etcd.Config{CAFile: dir + "/none.pem"}, "ca_file"},
		"missing cert": {etcd.Config{CertFile: dir + "/none.pem", KeyFile: dir + "/none.key"}, "cert_file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := etcd.New(t.Context(), tt.cfg)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), tt.key)
		})
	}
}
