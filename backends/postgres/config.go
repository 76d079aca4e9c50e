package postgres

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

// Defaults applied to the zero fields of a [Config].
const (
	// DefaultHost is not used any more: a store's address must be given.
	//
	// Deprecated: ParseCredentials and New require DSN or Host.
	DefaultHost = "127.0.0.1"
	// DefaultPort is the port used with Host when Port is zero.
	DefaultPort        = 5432
	DefaultTable       = "confo"
	DefaultSSLMode     = "prefer"
	DefaultDialTimeout = 5 * time.Second
)

// Config is the typed form of the database backend's settings. The zero
// value of every field means its documented default. [ParseCredentials]
// builds one from [confo.Credentials].
type Config struct {
	// DSN is a PostgreSQL connection string, as a URL
	// ("postgres://user@host:5432/db?sslmode=require") or key=value pairs.
	// When empty, one is made from the fields below, of which Host is
	// then required (libpq's PG* environment variables fill what they
	// leave out).
	DSN string

	// Host, Port, User, Password, DBName and SSLMode make the connection
	// when DSN is empty. Password may also be set with DSN: it then
	// replaces the DSN's.
	Host     string
	Port     int
	User     string
	Password string
	DBName   string
	SSLMode  string

	// Table names the table of configurations, optionally qualified by a
	// schema ("app.confo"). Its namespace table is Table+"_namespaces" and
	// its revision sequence Table+"_revision". Empty means DefaultTable.
	Table string

	// DialTimeout bounds connecting in [New] and each later connection.
	// Zero means DefaultDialTimeout.
	DialTimeout time.Duration

	// MaxConns is the most connections the pool opens; 0 means pgxpool's
	// default (the larger of 4 and the number of CPUs).
	MaxConns int

	// Namespaces are created by [New] once connected.
	Namespaces []string
}

// identifier is one unquoted SQL name part this backend accepts for table.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,47}$`)

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// credentialKeys are the keys ParseCredentials knows.
var credentialKeys = []string{
	"dsn", "host", "port", "user", "password", "dbname", "sslmode", "table", "dial_timeout", "max_conns",
	"namespaces",
}

// ParseCredentials reads the database backend's credentials: dsn, or host,
// port, user, password, dbname and sslmode; table, dial_timeout, max_conns
// and namespaces. dsn or host is required: there is no default address. An
// unknown key (a typo names the nearest known key), host (or port, user,
// dbname, sslmode) with dsn, a password without a user or dsn, and an
// ill-typed or malformed value are errors wrapping
// [confo.ErrInvalidCredentials] that name the key, never the value. Nothing
// is dialled.
func ParseCredentials(creds confo.Credentials) (Config, error) {
	var cfg Config
	var err error
	wrap := func(err error) error { return fmt.Errorf("postgres: %w", err) }
	if err := credential.Known(creds, credentialKeys...); err != nil {
		return Config{}, wrap(err)
	}
	for key, dst := range map[string]*string{
		"dsn": &cfg.DSN, "host": &cfg.Host, "user": &cfg.User, "password": &cfg.Password,
		"dbname": &cfg.DBName, "sslmode": &cfg.SSLMode, "table": &cfg.Table,
	} {
		if *dst, _, err = credential.String(creds, key); err != nil {
			return Config{}, wrap(err)
		}
	}
	if cfg.Port, _, err = credential.Int(creds, "port"); err != nil {
		return Config{}, wrap(err)
	}
	if cfg.MaxConns, _, err = credential.Int(creds, "max_conns"); err != nil {
		return Config{}, wrap(err)
	}
	if cfg.DialTimeout, _, err = credential.Duration(creds, "dial_timeout"); err != nil {
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

func invalid(key, why string) error { return fmt.Errorf("postgres: %w", credential.Invalid(key, why)) }

// check validates what ParseCredentials cannot express by type.
func (cfg Config) check() error {
	if cfg.DSN == "" && cfg.Host == "" {
		return fmt.Errorf("postgres: %w: \"dsn\" or \"host\" is required (there is no default address)", confo.ErrInvalidCredentials)
	}
	if cfg.DSN == "" {
		if err := credential.RequireUser(cfg.User, cfg.Password, "user", "password", ""); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	if cfg.Host != "" && !strings.HasPrefix(cfg.Host, "/") {
		// A host name or address; a path is a Unix socket directory.
		if _, err := credential.Host(`"host"`, cfg.Host); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	if cfg.DSN != "" {
		for key, set := range map[string]bool{"host": cfg.Host != "", "port": cfg.Port != 0, "user": cfg.User != "",
			"dbname": cfg.DBName != "", "sslmode": cfg.SSLMode != ""} {
			if set {
				return invalid(key, "cannot be combined with \"dsn\" (put it in the DSN)")
			}
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return invalid("port", "must be between 1 and 65535")
	}
	if cfg.SSLMode != "" && !contains(sslModes, cfg.SSLMode) {
		return invalid("sslmode", "must be one of "+strings.Join(sslModes, ", "))
	}
	if cfg.Table != "" {
		parts := strings.Split(cfg.Table, ".")
		if len(parts) > 2 || !identifier.MatchString(parts[len(parts)-1]) || (len(parts) == 2 && !identifier.MatchString(parts[0])) {
			return invalid("table", "must be a name or schema.name of letters, digits and _ (at most 48 each)")
		}
	}
	if cfg.DialTimeout < 0 {
		return invalid("dial_timeout", "must be positive")
	}
	if cfg.MaxConns < 0 {
		return invalid("max_conns", "must not be negative")
	}
	if err := credential.Namespaces(cfg.Namespaces); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (cfg Config) withDefaults() Config {
	if cfg.DSN == "" {
		if cfg.Port == 0 {
			cfg.Port = DefaultPort
		}
		if cfg.SSLMode == "" {
			cfg.SSLMode = DefaultSSLMode
		}
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	return cfg
}

// connString returns the DSN, or key=value pairs made from the fields.
func (cfg Config) connString() string {
	if cfg.DSN != "" {
		return cfg.DSN
	}
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'")
	}
	add("host", cfg.Host)
	add("port", strconv.Itoa(cfg.Port))
	add("user", cfg.User)
	add("dbname", cfg.DBName)
	add("sslmode", cfg.SSLMode)
	return b.String()
}
