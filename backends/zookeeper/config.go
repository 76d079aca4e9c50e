package zookeeper

import (
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
	// Deprecated: ParseCredentials and New require Servers.
	DefaultHost = "127.0.0.1"
	// DefaultPort is the port of a host given without one.
	DefaultPort           = 2181
	DefaultPrefix         = "/confo"
	DefaultDialTimeout    = 5 * time.Second
	DefaultSessionTimeout = 10 * time.Second
	// DefaultMaxOps is the most configurations one Commit writes.
	DefaultMaxOps = 128
	// DefaultMaxRequestBytes is the server's default jute.maxbuffer, which
	// bounds one multi request.
	DefaultMaxRequestBytes = 0xfffff
)

// Config is the typed form of the ZooKeeper backend's settings. The zero
// value of every field means its documented default. [ParseCredentials]
// builds one from [confo.Credentials].
type Config struct {
	// Servers are the ensemble's host:port addresses. At least one is
	// required.
	Servers []string

	// User and Password, when User is set, authenticate with the digest
	// scheme; the znodes the backend creates are then readable and writable
	// by that identity only. Without User, znodes are open to anyone.
	User     string
	Password string

	// Prefix is the znode under which namespaces live: "/confo" by default.
	// It must start with "/" and must not be "/".
	Prefix string

	// DialTimeout bounds getting a session in [New]. Zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration

	// SessionTimeout is the ZooKeeper session timeout the client asks for.
	// Zero means DefaultSessionTimeout.
	SessionTimeout time.Duration

	// MaxOps is the most configurations one Commit writes (one multi).
	// Zero means DefaultMaxOps.
	MaxOps int

	// MaxRequestBytes is the server's jute.maxbuffer. Zero means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int

	// Namespaces are created by [New] once connected.
	Namespaces []string
}

// credentialKeys are the keys ParseCredentials knows.
var credentialKeys = []string{
	"zookeeper_host", "zookeeper_port", "zookeeper_user", "zookeeper_passwd", "prefix", "dial_timeout",
	"session_timeout", "max_ops", "max_request_bytes", "namespaces",
}

// ParseCredentials reads the ZooKeeper backend's credentials, with the
// original's keys: zookeeper_host (a host, host:port, or a list or
// comma-separated string of them), zookeeper_port (default 2181, for hosts
// without a port), zookeeper_user and zookeeper_passwd (digest auth), plus
// prefix, dial_timeout, session_timeout, max_ops, max_request_bytes and
// namespaces. zookeeper_host is required: there is no default address. An
// unknown key (a typo names the nearest known key), zookeeper_passwd without
// zookeeper_user, and an ill-typed or malformed value (a host that is not a
// host or host:port) are errors wrapping [confo.ErrInvalidCredentials] that
// name the key, never the value. Nothing is dialled.
func ParseCredentials(creds confo.Credentials) (Config, error) {
	var cfg Config
	wrap := func(err error) error { return fmt.Errorf("zookeeper: %w", err) }
	invalid := func(key, why string) error { return wrap(credential.Invalid(key, why)) }

	if err := credential.Known(creds, credentialKeys...); err != nil {
		return Config{}, wrap(err)
	}
	hosts, hasHosts, err := credential.Strings(creds, "zookeeper_host")
	if err != nil {
		return Config{}, wrap(err)
	}
	if !hasHosts {
		return Config{}, invalid("zookeeper_host", "is required (there is no default address)")
	}
	if len(hosts) == 0 {
		return Config{}, invalid("zookeeper_host", "must name at least one host")
	}
	port, hasPort, err := credential.Int(creds, "zookeeper_port")
	if err != nil {
		return Config{}, wrap(err)
	}
	if !hasPort {
		port = DefaultPort
	}
	if err := credential.Port("zookeeper_port", port); err != nil {
		return Config{}, wrap(err)
	}
	for i, h := range hosts {
		what := fmt.Sprintf("%q item %d", "zookeeper_host", i+1)
		h = strings.TrimSpace(h)
		if h == "" {
			return Config{}, invalid("zookeeper_host", "must not contain an empty host")
		}
		if _, _, err := net.SplitHostPort(h); err == nil {
			if err := credential.HostPort(what, h); err != nil {
				return Config{}, wrap(err)
			}
			cfg.Servers = append(cfg.Servers, h)
			continue
		}
		addr, err := credential.Address(what, h, "zookeeper_port", port)
		if err != nil {
			return Config{}, wrap(err)
		}
		cfg.Servers = append(cfg.Servers, addr)
	}

	if cfg.User, cfg.Password, err = credential.UserPassword(creds, "zookeeper_user", "zookeeper_passwd", ""); err != nil {
		return Config{}, wrap(err)
	}

	prefix, hasPrefix, err := credential.String(creds, "prefix")
	if err != nil {
		return Config{}, wrap(err)
	}
	if hasPrefix {
		cfg.Prefix = prefix
	}
	if cfg.DialTimeout, _, err = credential.Duration(creds, "dial_timeout"); err != nil {
		return Config{}, wrap(err)
	}
	if cfg.SessionTimeout, _, err = credential.Duration(creds, "session_timeout"); err != nil {
		return Config{}, wrap(err)
	}
	if err := credential.Positive(creds, map[string]*int{"max_ops": &cfg.MaxOps, "max_request_bytes": &cfg.MaxRequestBytes}); err != nil {
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
	if len(cfg.Servers) == 0 {
		return fmt.Errorf("zookeeper: %w: no servers (there is no default address)", confo.ErrInvalidCredentials)
	}
	for i, s := range cfg.Servers {
		if err := credential.HostPort(fmt.Sprintf("server %d", i+1), s); err != nil {
			return fmt.Errorf("zookeeper: %w", err)
		}
	}
	if err := credential.Namespaces(cfg.Namespaces); err != nil {
		return fmt.Errorf("zookeeper: %w", err)
	}
	if cfg.Prefix != "" {
		p := strings.TrimRight(cfg.Prefix, "/")
		if !strings.HasPrefix(cfg.Prefix, "/") || p == "" || strings.Contains(p, "//") {
			return fmt.Errorf("zookeeper: %w: \"prefix\" must be a znode path such as \"/confo\", not the root", confo.ErrInvalidCredentials)
		}
	}
	if err := credential.RequireUser(cfg.User, cfg.Password, "zookeeper_user", "zookeeper_passwd", ""); err != nil {
		return fmt.Errorf("zookeeper: %w", err)
	}
	if cfg.DialTimeout < 0 || cfg.SessionTimeout < 0 || cfg.MaxOps < 0 || cfg.MaxRequestBytes < 0 {
		return fmt.Errorf("zookeeper: %w: limits and timeouts must not be negative", confo.ErrInvalidCredentials)
	}
	return nil
}

func (cfg Config) withDefaults() Config {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.MaxOps == 0 {
		cfg.MaxOps = DefaultMaxOps
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	return cfg
}
