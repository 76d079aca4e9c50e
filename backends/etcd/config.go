package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

// Defaults applied to the zero fields of a [Config].
const (
	// DefaultHost and DefaultPort make the endpoint used when neither
	// "endpoints" nor "host" is given.
	DefaultHost = "127.0.0.1"
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
	// host:port pairs. Empty means DefaultHost:DefaultPort.
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

// ParseCredentials reads the etcd backend's credentials (see the package
// documentation for the keys). Unknown keys are ignored. An ill-typed or
// malformed value is an error wrapping [confo.ErrInvalidCredentials] that
// names the key, never the value.
func ParseCredentials(creds confo.Credentials) (Config, error) {
	var cfg Config
	var err error
	invalid := func(key, why string) error {
		return fmt.Errorf("etcd: %w: %q %s", confo.ErrInvalidCredentials, key, why)
	}

	endpoints, hasEndpoints, err := credential.Strings(creds, "endpoints")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if hasEndpoints {
		for _, ep := range endpoints {
			if strings.TrimSpace(ep) == "" {
				return Config{}, invalid("endpoints", "must not contain an empty endpoint")
			}
			cfg.Endpoints = append(cfg.Endpoints, strings.TrimSpace(ep))
		}
		if len(cfg.Endpoints) == 0 {
			return Config{}, invalid("endpoints", "must list at least one endpoint")
		}
	}
	host, hasHost, err := credential.String(creds, "host")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if hasHost && strings.TrimSpace(host) == "" {
		return Config{}, invalid("host", "must not be empty")
	}
	port, hasPort, err := credential.Int(creds, "port")
	if err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if hasPort && (port < 1 || port > 65535) {
		return Config{}, invalid("port", "must be between 1 and 65535")
	}
	if !hasEndpoints {
		if !hasHost {
			host = DefaultHost
		}
		if !hasPort {
			port = DefaultPort
		}
		cfg.Endpoints = []string{net.JoinHostPort(strings.TrimSpace(host), strconv.Itoa(port))}
	}

	if cfg.Username, _, err = credential.String(creds, "user"); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if cfg.Password, _, err = credential.String(creds, "password"); err != nil {
		return Config{}, fmt.Errorf("etcd: %w", err)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return Config{}, invalid("user", "is required with \"password\"")
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
	for key, dst := range map[string]*string{"ca_file": &cfg.CAFile, "cert_file": &cfg.CertFile, "key_file": &cfg.KeyFile} {
		if *dst, _, err = credential.String(creds, key); err != nil {
			return Config{}, fmt.Errorf("etcd: %w", err)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		if cfg.CertFile == "" {
			return Config{}, invalid("cert_file", "is required with \"key_file\"")
		}
		return Config{}, invalid("key_file", "is required with \"cert_file\"")
	}

	for key, dst := range map[string]*int{"max_txn_ops": &cfg.MaxTxnOps, "max_request_bytes": &cfg.MaxRequestBytes, "page_size": &cfg.PageSize} {
		n, ok, err := credential.Int(creds, key)
		if err != nil {
			return Config{}, fmt.Errorf("etcd: %w", err)
		}
		if ok && n < 1 {
			return Config{}, invalid(key, "must be positive")
		}
		*dst = n
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
	for _, ns := range cfg.Namespaces {
		if err := confo.ValidateName(ns); err != nil {
			return fmt.Errorf("etcd: %w: \"namespaces\": %w", confo.ErrInvalidCredentials, err)
		}
	}
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return fmt.Errorf("etcd: %w: \"prefix\" must start with \"/\"", confo.ErrInvalidCredentials)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return fmt.Errorf("etcd: %w: \"user\" is required with \"password\"", confo.ErrInvalidCredentials)
	}
	if cfg.MaxTxnOps < 0 || cfg.MaxRequestBytes < 0 || cfg.PageSize < 0 || cfg.DialTimeout < 0 {
		return fmt.Errorf("etcd: %w: limits and timeouts must not be negative", confo.ErrInvalidCredentials)
	}
	return nil
}

// withDefaults returns cfg with its zero fields set to their defaults and
// the prefix cleaned ("/confo/" becomes "/confo"; "/" stays).
func (cfg Config) withDefaults() Config {
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = []string{net.JoinHostPort(DefaultHost, strconv.Itoa(DefaultPort))}
	}
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
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd: %w: \"ca_file\": %w", confo.ErrInvalidCredentials, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd: %w: \"ca_file\" %s holds no PEM certificate", confo.ErrInvalidCredentials, cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, fmt.Errorf("etcd: %w: \"cert_file\" and \"key_file\" go together", confo.ErrInvalidCredentials)
		}
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			// The error of tls.LoadX509KeyPair can quote PEM content:
			// keep only its kind.
			var pathErr *os.PathError
			if errors.As(err, &pathErr) {
				return nil, fmt.Errorf("etcd: %w: \"cert_file\"/\"key_file\": %w", confo.ErrInvalidCredentials, err)
			}
			return nil, fmt.Errorf("etcd: %w: \"cert_file\"/\"key_file\" do not hold a valid certificate and key", confo.ErrInvalidCredentials)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
