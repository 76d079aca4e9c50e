package etcd

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

// Defaults applied to the zero fields of a [Config].
const (
	// DefaultHost is not used any more: a store's address must be given.
	//
	// Deprecated: ParseCredentials and New require endpoints.
	DefaultHost = "127.0.0.1"
	// DefaultPort is the port of a "host" given without "port".
	DefaultPort = 2379
	// DefaultPrefix is the key prefix under which everything is stored.
	DefaultPrefix = "/confo"
	// DefaultDialTimeout bounds connecting to the cluster in [New].
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxTxnOps is etcd's default --max-txn-ops.
	DefaultMaxTxnOps = 128
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes (1.5 MiB).
	DefaultMaxRequestBytes = 1572864
	// DefaultPageSize is how many keys one range request of a read returns.
	DefaultPageSize = 1000
)

// Config is the typed form of the etcd backend's settings. The zero value of
// every field means its documented default. [ParseCredentials] builds one
// from [confo.Credentials].
type Config struct {
	// Endpoints are the cluster's client URLs ("http://10.0.0.1:2379") or
	// host:port pairs. At least one is required.
	Endpoints []string

	// Username and Password authenticate to a cluster with auth enabled.
	// Both empty means no authentication.
	Username string
	Password string

	// Prefix is the key prefix of the store, starting with "/" and without
	// a trailing "/". Empty means DefaultPrefix; use "/" for the root of the
	// key space.
	Prefix string

	// DialTimeout bounds connecting and the first request in [New].
	// Zero means DefaultDialTimeout.
	DialTimeout time.Duration

	// CAFile is a PEM file of the certificate authorities that sign the
	// servers' certificates. CertFile and KeyFile are the client's
	// certificate and key, for clusters that require client certificates.
	// Any of them set turns TLS on.
	CAFile   string
	CertFile string
	KeyFile  string

	// TLS, when not nil, is used as is instead of the files above.
	TLS *tls.Config

	// MaxTxnOps is the cluster's --max-txn-ops: the most configurations one
	// transaction writes. Zero means DefaultMaxTxnOps.
	MaxTxnOps int

	// MaxRequestBytes is the cluster's --max-request-bytes. Zero means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int

	// PageSize is how many keys one range request returns when reading a
	// namespace or listing namespaces. Zero means DefaultPageSize.
	PageSize int

	// Namespaces are created by [New] once connected.
	Namespaces []string

	// DialOptions are added to the gRPC dial options of the client [New]
	// creates (interceptors, for instance).
	DialOptions []grpc.DialOption
}

// String returns cfg with its Password redacted.
func (cfg Config) String() string {
	type plain Config // without methods, so that Sprintf does not recurse
	p := plain(cfg)
	if p.Password != "" {
		p.Password = "<redacted>"
	}
	return fmt.Sprintf("etcd.Config%+v", p)
}

// Format implements [fmt.Formatter] so that no verb, %#v included, prints
// the password.
func (cfg Config) Format(f fmt.State, _ rune) { io.WriteString(f, cfg.String()) }

// LogValue implements [slog.LogValuer]: the password is redacted.
func (cfg Config) LogValue() slog.Value { return slog.StringValue(cfg.String()) }

// credentialKeys are the keys ParseCredentials knows.
var credentialKeys = []string{
	"host", "port", "endpoints", "user", "password", "prefix", "dial_timeout", "ca_file", "cert_file",
	"key_file", "namespaces", "max_txn_ops", "max_request_bytes", "page_size",
}

// endpointSchemes are the URL schemes an endpoint may have.
var endpointSchemes = []string{"http", "https", "unix", "unixs"}

// ParseCredentials reads the etcd backend's credentials (see the package
// documentation for the keys). "endpoints" or "host" is required (there is
// no default address); "port" goes with "host" only. An unknown key (a typo
// such as "endpoint"), conflicting keys, "password" without "user", and an
// ill-typed or malformed value, an endpoint that is not host:port or
// http(s)://host:port included, are errors wrapping
// [confo.ErrInvalidCredentials] that name the key (and the nearest known
// one), never the value. Nothing is dialled.
func ParseCredentials(creds confo.Credentials) (Config, error) {
	var cfg Config
	var err error
	invalid := func(key, why string) error { return fmt.Errorf("etcd: %w", credential.Invalid(key, why)) }

	if err := credential.Known(creds, credentialKeys...); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	endpoints, hasEndpoints, err := credential.Strings(creds, "endpoints")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	host, hasHost, err := credential.String(creds, "host")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	port, hasPort, err := credential.Int(creds, "port")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	switch {
	case hasEndpoints && hasHost:
		return Config{}, invalid("host", "cannot be combined with \"endpoints\" (list every member in \"endpoints\")")
	case hasEndpoints && hasPort:
		return Config{}, invalid("port", "cannot be combined with \"endpoints\" (give each endpoint as host:port)")
	case !hasEndpoints && !hasHost:
		return Config{}, fmt.Errorf("etcd: %w: \"endpoints\" or \"host\" is required (there is no default address)", confo.ErrInvalidCredentials)
	case hasEndpoints:
		if len(endpoints) == 0 {
			return Config{}, invalid("endpoints", "must list at least one endpoint")
		}
		for i, ep := range endpoints {
			if err := credential.Endpoint(fmt.Sprintf("%q item %d", "endpoints", i+1), ep, endpointSchemes...); err != nil {
				return Config{}, fmt.Errorf("etcd: %w", err)
			}
			cfg.Endpoints = append(cfg.Endpoints, strings.TrimSpace(ep))
		}
	default:
		if !hasPort {
			port = DefaultPort
		}
		addr, err := credential.Address(`"host"`, host, "port", port)
		if err != nil {
			return Config{}, fmt.Errorf("etcd: %w", err)
		}
		cfg.Endpoints = []string{addr}
	}

	if cfg.Username, cfg.Password, err = credential.UserPassword(creds, "user", "password", ""); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}

	prefix, hasPrefix, err := credential.String(creds, "prefix")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if hasPrefix {
		if !strings.HasPrefix(prefix, "/") {
			return Config{}, invalid("prefix", "must start with \"/\"")
		}
		cfg.Prefix = cleanPrefix(prefix)
	}

	if cfg.DialTimeout, _, err = credential.Duration(creds, "dial_timeout"); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if cfg.CAFile, cfg.CertFile, cfg.KeyFile, err = credential.TLSFiles(creds); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	limits := map[string]*int{"max_txn_ops": &cfg.MaxTxnOps, "max_request_bytes": &cfg.MaxRequestBytes, "page_size": &cfg.PageSize}
	if err := credential.Positive(creds, limits); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}

	if cfg.Namespaces, _, err = credential.Strings(creds, "namespaces"); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	return cfg.withDefaults(), nil
}

// cleanPrefix trims the trailing "/" of a prefix, keeping "/" for the root.
func cleanPrefix(prefix string) string {
	if p := strings.TrimRight(prefix, "/"); p != "" {
		return p
	}
	return "/"
}

// check validates what ParseCredentials cannot express by type.
func (cfg Config) check() error {
	if len(cfg.Endpoints) == 0 {
		return fmt.Errorf("etcd: %w: no endpoints (there is no default address)", confo.ErrInvalidCredentials)
	}
	for i, ep := range cfg.Endpoints {
		if err := credential.Endpoint(fmt.Sprintf("endpoint %d", i+1), ep, endpointSchemes...); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
	}
	if err := credential.Namespaces(cfg.Namespaces); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return fmt.Errorf("etcd: %w: \"prefix\" must start with \"/\"", confo.ErrInvalidCredentials)
	}
	if err := credential.RequireUser(cfg.Username, cfg.Password, "user", "password", ""); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if cfg.MaxTxnOps < 0 || cfg.MaxRequestBytes < 0 || cfg.PageSize < 0 || cfg.DialTimeout < 0 {
		return fmt.Errorf("etcd: %w: limits and timeouts must not be negative", confo.ErrInvalidCredentials)
	}
	return nil
}

// withDefaults returns cfg with its zero fields set to their defaults and
// the prefix cleaned ("/confo/" becomes "/confo"; "/" stays).
func (cfg Config) withDefaults() Config {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.Prefix = cleanPrefix(cfg.Prefix)
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MaxTxnOps == 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	return cfg
}

// tlsConfig returns the TLS settings made from the files, nil when TLS is
// off. Errors name the key of the file.
func (cfg Config) tlsConfig() (*tls.Config, error) {
	if cfg.TLS != nil {
		return cfg.TLS.Clone(), nil
	}
	if cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" {
		return nil, nil
	}
	tc, err := credential.TLSConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	return tc, nil
}
