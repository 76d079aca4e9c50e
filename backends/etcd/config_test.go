package etcd_test

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/etcd"
)

func TestParseCredentials(t *testing.T) {
	defaults := etcd.Config{
		Endpoints:       []string{"10.0.0.1:2379"},
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
		"endpoint":       {creds: nil, want: defaults},
		"host":           {creds: confo.Credentials{"host": "etcd.local"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"etcd.local:2379"} })},
		"port float":     {creds: confo.Credentials{"host": "h", "port": 2380.0}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"h:2380"} })},
		"port string":    {creds: confo.Credentials{"host": "h", "port": "2380"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"h:2380"} })},
		"host and port":  {creds: confo.Credentials{"host": "10.0.0.1", "port": 1234}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"10.0.0.1:1234"} })},
		"ipv6 host":      {creds: confo.Credentials{"host": "::1"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"[::1]:2379"} })},
		"ipv6 brackets":  {creds: confo.Credentials{"host": "[::1]"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"[::1]:2379"} })},
		"endpoints list": {creds: confo.Credentials{"endpoints": []string{"a:1", "https://b:2"}}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1", "https://b:2"} })},
		"endpoints any":  {creds: confo.Credentials{"endpoints": []any{"a:1", "b:2"}}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1", "b:2"} })},
		"endpoints csv":  {creds: confo.Credentials{"endpoints": "a:1, b:2"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"a:1", "b:2"} })},
		"endpoints url":  {creds: confo.Credentials{"endpoints": "http://[::1]:2379/"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"http://[::1]:2379/"} })},
		"unix socket":    {creds: confo.Credentials{"endpoints": "unix:///run/etcd.sock"}, want: with(func(c *etcd.Config) { c.Endpoints = []string{"unix:///run/etcd.sock"} })},
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
			creds := confo.Credentials{}
			maps.Copy(creds, tt.creds)
			if creds["host"] == nil && creds["endpoints"] == nil {
				creds["endpoints"] = "10.0.0.1:2379"
			}
			got, err := etcd.ParseCredentials(creds)
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
		"no address":            {confo.Credentials{}, "endpoints"},
		"port without host":     {confo.Credentials{"port": 2379}, "host"},
		"typo endpoint":         {confo.Credentials{"endpoint": secret}, "endpoints"},
		"typo prefx":            {confo.Credentials{"endpoints": "a:1", "prefx": "/x"}, "prefix"},
		"typo dial_timout":      {confo.Credentials{"endpoints": "a:1", "dial_timout": "1s"}, "dial_timeout"},
		"host and endpoints":    {confo.Credentials{"endpoints": "a:1", "host": "h"}, "host"},
		"port and endpoints":    {confo.Credentials{"endpoints": "a:1", "port": 2379}, "port"},
		"host not string":       {confo.Credentials{"host": 127}, "host"},
		"host empty":            {confo.Credentials{"host": " "}, "host"},
		"host with port":        {confo.Credentials{"host": "h:2379"}, "host"},
		"host url":              {confo.Credentials{"host": "http://h"}, "host"},
		"port not number":       {confo.Credentials{"host": "h", "port": []int{1}}, "port"},
		"port bad string":       {confo.Credentials{"host": "h", "port": secret}, "port"},
		"port fraction":         {confo.Credentials{"host": "h", "port": 1.5}, "port"},
		"port out of range":     {confo.Credentials{"host": "h", "port": 70000}, "port"},
		"port zero":             {confo.Credentials{"host": "h", "port": 0}, "port"},
		"endpoints not list":    {confo.Credentials{"endpoints": 5}, "endpoints"},
		"endpoints not strings": {confo.Credentials{"endpoints": []any{"a:1", 2}}, "endpoints"},
		"endpoints empty":       {confo.Credentials{"endpoints": []string{}}, "endpoints"},
		"endpoints blank":       {confo.Credentials{"endpoints": []string{"a:1", ""}}, "endpoints"},
		"endpoint no port":      {confo.Credentials{"endpoints": "nonsense" + secret}, "endpoints"},
		"endpoint bad port":     {confo.Credentials{"endpoints": "h:" + secret}, "endpoints"},
		"endpoint no host":      {confo.Credentials{"endpoints": ":2379"}, "endpoints"},
		"endpoint bad scheme":   {confo.Credentials{"endpoints": "ftp://h:1"}, "endpoints"},
		"endpoint url no port":  {confo.Credentials{"endpoints": "http://h"}, "endpoints"},
		"endpoint url path":     {confo.Credentials{"endpoints": "http://h:1/" + secret}, "endpoints"},
		"endpoint url user":     {confo.Credentials{"endpoints": "http://u:" + secret + "@h:1"}, "endpoints"},
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
			creds := tt.creds
			if creds["host"] == nil && creds["endpoints"] == nil && creds["endpoint"] == nil && tt.key != "endpoints" && tt.key != "host" {
				creds = confo.Credentials{"endpoints": "a:1"}
				maps.Copy(creds, tt.creds)
			}
			_, err := etcd.ParseCredentials(creds)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), `"`+tt.key+`"`)
			assert.NotContains(t, err.Error(), secret)

			// LoadBackend reports the same, before any I/O.
			m := confo.New()
			err = m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, creds)
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
		"missing ca":   {etcd.Config{Endpoints: []string{"h:1"}, CAFile: dir + "/none.pem"}, "ca_file"},
		"missing cert": {etcd.Config{Endpoints: []string{"h:1"}, CertFile: dir + "/none.pem", KeyFile: dir + "/none.key"}, "cert_file"},
		"no endpoints": {etcd.Config{}, "endpoints"},
		"bad endpoint": {etcd.Config{Endpoints: []string{"nonsense"}}, "endpoint 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := etcd.New(t.Context(), tt.cfg)
			require.ErrorIs(t, err, confo.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), tt.key)
		})
	}
}

// TestCredentialRules runs the credential rules of the conformance suite.
func TestCredentialRules(t *testing.T) {
	c := newCluster(t)
	backendtest.RunCredentials(t, backendtest.Credentials{
		Kind: confo.EtcdBackend,
		Valid: func(testing.TB) confo.Credentials {
			return confo.Credentials{"endpoints": c.Endpoints(), "prefix": "/creds", "dial_timeout": "5s",
				"namespaces": []string{"a"}, "page_size": 10}
		},
		Addresses: map[string]any{"endpoints": c.Endpoints(), "host": "127.0.0.1"},
		Malformed: map[string]any{"endpoints": "nonsense", "host": "10.0.0.5:2379"},
		User:      "user", Password: "password",
	})
}
