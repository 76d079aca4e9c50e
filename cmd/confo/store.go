// This file turns the few settings a person gives to pick a store (a
// backend type, endpoints, a user, TLS files, a directory) into the
// [confo.Credentials] of each backend, and parses the store URLs of copy:
//
//	etcd://127.0.0.1:2379,127.0.0.1:22379/confo?ns=database&dial_timeout=2s
//	file:///srv/config?ns=database
//	zookeeper://127.0.0.1:2181/confo
//	redis://127.0.0.1:6379/?prefix=confo
//	memory://
//
// It does no I/O and knows no store client. Its mistakes are usage errors
// (exit 2).

package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

// storeOptions select and reach one store. The zero value of a field means the
// backend's default.
type storeOptions struct {
	// Backend is the backend type: "etcd", "file", "memory", "zookeeper",
	// "redis" or "database".
	Backend string
	// Endpoints are host:port addresses (etcd, zookeeper: several; redis:
	// one).
	Endpoints []string
	// Prefix is where the store keeps everything (etcd and zookeeper: a key
	// or znode path such as "/confo"; redis: a key prefix).
	Prefix string
	// User and Password authenticate. Password never comes from a URL.
	User     string
	Password string
	// CAFile, CertFile and KeyFile turn TLS on (etcd, redis).
	CAFile, CertFile, KeyFile string
	// ConfigPath is the file backend's directory.
	ConfigPath string
	// DSN is the database backend's connection string (it may hold a
	// password: never take it from a flag or a URL). DBName is its
	// database when DSN is empty.
	DSN    string
	DBName string
	// DialTimeout bounds connecting.
	DialTimeout time.Duration
}

// Credentials returns the backend type and its credentials for o. An
// unknown backend, or a setting the backend cannot use, is a usage error
// naming the setting.
func (o storeOptions) Credentials() (confo.BackendType, confo.Credentials, error) {
	kind := confo.BackendType(o.Backend)
	creds := confo.Credentials{}
	set := func(key, v string) {
		if v != "" {
			creds[key] = v
		}
	}
	auth := func(userKey, passwordKey string) {
		set(userKey, o.User)
		set(passwordKey, o.Password)
	}
	tlsFiles := func() {
		set("ca_file", o.CAFile)
		set("cert_file", o.CertFile)
		set("key_file", o.KeyFile)
	}
	if o.DialTimeout > 0 && network(o.Backend) {
		creds["dial_timeout"] = o.DialTimeout
	}
	if !validKind(o.Backend) {
		return "", nil, usagef("unknown backend %q (want one of %s)", o.Backend, strings.Join(storeKinds(), ", "))
	}
	for _, ep := range o.Endpoints {
		if err := checkEndpoint(kind, ep); err != nil {
			return "", nil, err
		}
	}
	if err := o.checkApplies(kind); err != nil {
		return "", nil, err
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return "", nil, usagef("--cert-file and --key-file go together (cert_file and key_file in a URL)")
	}
	if o.Password != "" && o.User == "" && kind != confo.MemoryBackend && kind != confo.FileBackend {
		hint := ""
		if kind == confo.RedisBackend {
			hint = " (--user default for a server's requirepass)"
		}
		return "", nil, usagef("a password needs a user: set --user (or %s)%s", envUser, hint)
	}
	switch kind {
	case confo.EtcdBackend, confo.ZookeeperBackend, confo.RedisBackend:
		if len(o.Endpoints) == 0 {
			return "", nil, usagef("the %s backend needs its address: set --endpoints (or %s)", kind, envEndpoints)
		}
	case confo.DatabaseBackend:
		if len(o.Endpoints) == 0 && o.DSN == "" {
			return "", nil, usagef("the database backend needs its address: set --endpoints (or %s) or %s", envEndpoints, envDSN)
		}
		if len(o.Endpoints) > 0 && o.DSN != "" {
			return "", nil, usagef("the database backend takes --endpoints or %s, not both", envDSN)
		}
	}
	switch kind {
	case confo.EtcdBackend:
		creds["endpoints"] = slices.Clone(o.Endpoints)
		set("prefix", o.Prefix)
		auth("user", "password")
		tlsFiles()
	case confo.FileBackend:
		if o.ConfigPath == "" {
			return "", nil, usagef("the file backend needs --config-path (or CONFO_CONFIG_PATH)")
		}
		set("config_path", o.ConfigPath)
	case confo.MemoryBackend:
	case confo.ZookeeperBackend:
		creds["zookeeper_host"] = slices.Clone(o.Endpoints)
		set("prefix", o.Prefix)
		auth("zookeeper_user", "zookeeper_passwd")
	case confo.RedisBackend:
		if err := hostPort(creds, "redis", o.Endpoints); err != nil {
			return "", nil, err
		}
		set("prefix", o.Prefix)
		auth("user", "password")
		tlsFiles()
	case confo.DatabaseBackend:
		if err := hostPort(creds, "database", o.Endpoints); err != nil {
			return "", nil, err
		}
		set("dsn", o.DSN)
		set("dbname", o.DBName)
		auth("user", "password")
	default:
		return "", nil, usagef("unknown backend %q (want one of %s)", o.Backend, strings.Join(storeKinds(), ", "))
	}
	return kind, creds, nil
}

// checkApplies refuses a TLS file or a prefix given for a backend that
// takes none, rather than ignoring it.
func (o storeOptions) checkApplies(kind confo.BackendType) error {
	tls := kind == confo.EtcdBackend || kind == confo.RedisBackend
	prefixed := tls || kind == confo.ZookeeperBackend
	for _, s := range []struct {
		name           string
		given, applies bool
	}{
		{"--ca-file (ca_file)", o.CAFile != "", tls},
		{"--cert-file (cert_file)", o.CertFile != "", tls},
		{"--key-file (key_file)", o.KeyFile != "", tls},
		{"--prefix (prefix)", o.Prefix != "", prefixed},
	} {
		if s.given && !s.applies {
			return usagef("%s does not apply to the %s backend", s.name, kind)
		}
	}
	return nil
}

// checkEndpoint checks that ep is host:port, or for etcd an http(s) URL
// of one: the backend would refuse anything else, after the user waited
// for nothing.
func checkEndpoint(kind confo.BackendType, ep string) error {
	s := ep
	if kind == confo.EtcdBackend {
		if rest, ok := strings.CutPrefix(s, "http://"); ok {
			s = strings.TrimSuffix(rest, "/")
		} else if rest, ok := strings.CutPrefix(s, "https://"); ok {
			s = strings.TrimSuffix(rest, "/")
		}
	}
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	switch {
	case err != nil:
		return usagef("endpoint %q: want host:port", ep)
	case host == "" || strings.ContainsAny(host, " /@?#"):
		return usagef("endpoint %q: want host:port, with a host", ep)
	case perr != nil || n < 1 || n > 65535:
		return usagef("endpoint %q: want host:port, with a port from 1 to 65535", ep)
	}
	return nil
}

// hostPort sets the "host" and "port" credentials of a single-server
// backend from endpoints (none: the backend's default).
func hostPort(creds confo.Credentials, kind string, endpoints []string) error {
	switch len(endpoints) {
	case 0:
		return nil
	case 1:
	default:
		return usagef("%s takes one endpoint, not %d", kind, len(endpoints))
	}
	host, port, err := net.SplitHostPort(endpoints[0])
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 1 || n > 65535 {
		return usagef("%s endpoint %q: want host:port", kind, endpoints[0])
	}
	creds["host"], creds["port"] = host, n
	return nil
}

// Kinds lists the backend types storeOptions knows, sorted.
func storeKinds() []string {
	return []string{"database", "etcd", "file", "memory", "redis", "zookeeper"}
}

// parseStoreURL parses a store URL into storeOptions and the namespace its "ns"
// query parameter names ("" when absent). The scheme is the backend type;
// the host part lists endpoints separated by commas; the path is the prefix
// (etcd, zookeeper), the directory (file), the database name (database)
// or, for redis, ignored in favour of ?prefix=. A user may be given as
// user@host; a password in the URL is refused, since URLs show in process
// lists and shell histories. Query parameters: ns, prefix, dial_timeout,
// ca_file, cert_file, key_file.
func parseStoreURL(raw string) (storeOptions, string, error) {
	u, err := url.Parse(raw)
	if err != nil && strings.Contains(raw, "://") {
		return storeOptions{}, "", usagef("store URL: %w", err)
	}
	if err != nil || u.Scheme == "" {
		return storeOptions{}, "", usagef("store URL %q has no scheme: want one such as etcd://127.0.0.1:2379?ns=NS (schemes: %s)", raw, strings.Join(storeKinds(), ", "))
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return storeOptions{}, "", usagef("store URL: a password in a URL shows in process lists; set it in the environment instead")
		}
	}
	o := storeOptions{Backend: u.Scheme}
	if u.User != nil {
		o.User = u.User.Username()
	}
	if u.Host != "" {
		for ep := range strings.SplitSeq(u.Host, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				o.Endpoints = append(o.Endpoints, ep)
			}
		}
	}
	q := u.Query()
	for key := range q {
		switch key {
		case "ns", "prefix", "dial_timeout", "ca_file", "cert_file", "key_file":
		default:
			return storeOptions{}, "", usagef("store URL: unknown parameter %q", key)
		}
	}
	switch confo.BackendType(u.Scheme) {
	case confo.FileBackend:
		if u.Host != "" && u.Host != "localhost" {
			return storeOptions{}, "", usagef("file URL %q: want file:///absolute/path or file:relative/path", raw)
		}
		o.Endpoints = nil
		o.ConfigPath = u.Path
		if u.Opaque != "" {
			o.ConfigPath = u.Opaque
		}
	case confo.EtcdBackend, confo.ZookeeperBackend:
		if u.Path != "" && u.Path != "/" {
			o.Prefix = u.Path
		}
	case confo.DatabaseBackend:
		o.DBName = strings.Trim(u.Path, "/")
	}
	if p := q.Get("prefix"); p != "" {
		o.Prefix = p
	}
	o.CAFile, o.CertFile, o.KeyFile = q.Get("ca_file"), q.Get("cert_file"), q.Get("key_file")
	if d := q.Get("dial_timeout"); d != "" {
		if o.DialTimeout, err = time.ParseDuration(d); err != nil || o.DialTimeout <= 0 {
			return storeOptions{}, "", usagef("store URL: dial_timeout %q: want a duration such as 5s", d)
		}
	}
	if network(o.Backend) && len(o.Endpoints) == 0 && !(o.Backend == string(confo.DatabaseBackend) && o.DSN != "") {
		return storeOptions{}, "", usagef("store URL %q names no server: want %s://HOST:PORT", raw, u.Scheme)
	}
	ns := q.Get("ns")
	if ns != "" {
		if err := confo.ValidateName(ns); err != nil {
			return storeOptions{}, "", fmt.Errorf("store URL: %w", err)
		}
	}
	if _, _, err := o.Credentials(); err != nil {
		return storeOptions{}, "", err
	}
	return o, ns, nil
}
