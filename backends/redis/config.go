package redis

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

// Defaults applied to the zero fields of a [Config].
const (
	// DefaultHost is not used any more: a store's address must be given.
	//
	// Deprecated: ParseCredentials and New require an address.
	DefaultHost = "127.0.0.1"
	// DefaultPort is the port of a host given without one.
	DefaultPort        = 6379
	DefaultPrefix      = "confo"
	DefaultDialTimeout = 5 * time.Second
)

// Config is the typed form of the Redis backend's settings. The zero value
// of every field means its documented default. [ParseCredentials] builds
// one from [confo.Credentials].
type Config struct {
	// Addr is the server's host:port. It is required.
	Addr string

	// Username (Redis 6 ACL user) and Password authenticate. The user
	// "default" with a password authenticates to a server's requirepass.
	Username string
	Password string

	// DB is the logical database number (SELECT).
	DB int

	// Prefix starts every key and channel of the store (see the package
	// documentation). Empty means DefaultPrefix.
	Prefix string

	// DialTimeout bounds connecting, and the first request, in [New].
	// Zero means DefaultDialTimeout.
	DialTimeout time.Duration

	// UseTLS turns TLS on. CAFile is a PEM file of the certificate
	// authorities that sign the server's certificate (the system pool when
	// empty); CertFile and KeyFile are a client certificate. Any file set
	// turns TLS on too.
	UseTLS   bool
	CAFile   string
	CertFile string
	KeyFile  string

	// TLS, when not nil, is used as is instead of the settings above.
	TLS *tls.Config

	// Namespaces are created by [New] once connected.
	Namespaces []string
}

// credentialKeys are the keys ParseCredentials knows.
var credentialKeys = []string{
	"host", "port", "user", "password", "db", "prefix", "dial_timeout", "tls", "ca_file", "cert_file",
	"key_file", "namespaces",
}

// ParseCredentials reads the Redis backend's credentials: host, port, user,
// password, db, prefix, dial_timeout, tls, ca_file, cert_file, key_file and
// namespaces. host is required: there is no default address. An unknown key
// (a typo names the nearest known key), a password without a user ("default"
// for a server's requirepass), and an ill-typed or malformed value (a host
// with a port, a URL) are errors wrapping [confo.ErrInvalidCredentials] that
// name the key, never the value. Nothing is dialled.
func ParseCredentials(creds confo.Credentials) (Config, error) {
	var cfg Config
	wrap := func(err error) error { return fmt.Errorf("redis: %w", err) }

	if err := credential.Known(creds, credentialKeys...); err != nil {
		return Config{}, wrap(err)
	}
	host, hasHost, err := credential.String(creds, "host")
	if err != nil {
		return Config{}, wrap(err)
	}
	if !hasHost {
		return Config{}, wrap(credential.Invalid("host", "is required (there is no default address)"))
	}
	port, hasPort, err := credential.Int(creds, "port")
	if err != nil {
		return Config{}, wrap(err)
	}
	if !hasPort {
		port = DefaultPort
	}
	if cfg.Addr, err = credential.Address(`"host"`, host, "port", port); err != nil {
		return Config{}, wrap(err)
	}

	cfg.Username, cfg.Password, err = credential.UserPassword(creds, "user", "password", ` ("default" for a server's requirepass)`)
	if err != nil {
		return Config{}, wrap(err)
	}
	db, hasDB, err := credential.Int(creds, "db")
	if err != nil {
		return Config{}, wrap(err)
	}
	if hasDB && db < 0 {
		return Config{}, wrap(credential.Invalid("db", "must not be negative"))
	}
	cfg.DB = db

	prefix, hasPrefix, err := credential.String(creds, "prefix")
	if err != nil {
		return Config{}, wrap(err)
	}
	if hasPrefix && strings.TrimSpace(prefix) == "" {
		return Config{}, wrap(credential.Invalid("prefix", "must not be empty"))
	}
	cfg.Prefix = prefix

	if cfg.DialTimeout, _, err = credential.Duration(creds, "dial_timeout"); err != nil {
		return Config{}, wrap(err)
	}
	if cfg.UseTLS, _, err = credential.Bool(creds, "tls"); err != nil {
		return Config{}, wrap(err)
	}
	if cfg.CAFile, cfg.CertFile, cfg.KeyFile, err = credential.TLSFiles(creds); err != nil {
		return Config{}, wrap(err)
	}
	if cfg.Namespaces, _, err = credential.Strings(creds, "namespaces"); err != nil {
		return Config{}, wrap(err)
	}
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	return cfg.withDefaults(), nil
}

// check validates what ParseCredentials cannot express by type.
func (cfg Config) check() error {
	if cfg.Addr == "" {
		return fmt.Errorf("redis: %w: no address (there is no default address)", confo.ErrInvalidCredentials)
	}
	if err := credential.HostPort("the address", cfg.Addr); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := credential.Namespaces(cfg.Namespaces); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if cfg.DialTimeout < 0 || cfg.DB < 0 {
		return fmt.Errorf("redis: %w: \"dial_timeout\" and \"db\" must not be negative", confo.ErrInvalidCredentials)
	}
	return nil
}

func (cfg Config) withDefaults() Config {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	return cfg
}

// tlsConfig returns the TLS settings, nil when TLS is off. Errors name the
// key of the file, never its content.
func (cfg Config) tlsConfig() (*tls.Config, error) {
	if cfg.TLS != nil {
		return cfg.TLS.Clone(), nil
	}
	if !cfg.UseTLS && cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" {
		return nil, nil
	}
	tc, err := credential.TLSConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
		tc.ServerName = host
	}
	return tc, nil
}
