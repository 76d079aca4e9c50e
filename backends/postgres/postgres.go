// Package postgres is the confo "database" backend ([confo.DatabaseBackend])
// for PostgreSQL (12 or later), built on github.com/jackc/pgx/v5. Importing
// it registers the type.
//
// # Credentials
//
// dsn (a connection URL or key=value string), or host (a host name or
// address, or a Unix socket directory), port (5432), user, password (needs
// a user), dbname and sslmode (default prefer); one of dsn and host is
// required, there is no default address. password may also accompany dsn.
// Plus table (default "confo", optionally "schema.table"), dial_timeout
// (default 5s), max_conns and namespaces (created at load). An unknown key
// is [confo.ErrInvalidCredentials] naming it and the nearest known key.
//
// # Layout
//
// New creates what is missing (CREATE ... IF NOT EXISTS, serialized by an
// advisory lock):
//
//	CREATE TABLE confo_namespaces (namespace text PRIMARY KEY);
//	CREATE SEQUENCE confo_revision;
//	CREATE TABLE confo (
//	    namespace text   NOT NULL REFERENCES confo_namespaces ON DELETE CASCADE,
//	    name      text   NOT NULL,
//	    value     bytea  NOT NULL, -- the JSON object, as UTF-8 bytes
//	    revision  bigint NOT NULL, -- from confo_revision
//	    PRIMARY KEY (namespace, name));
//
// value is bytea rather than jsonb so that what another tool wrote comes back
// byte for byte, JSON or not (and a corrupt value is reported as
// [confo.ErrCorruptValue] by Reload instead of being refused by the
// database); query it as JSON with convert_from(value, 'UTF8')::jsonb.
// Namespace and configuration names are text, so they must be valid UTF-8.
//
// # Guard and consistency
//
// Commit is one transaction sent as one batch: a new revision from the
// sequence, then per configuration an UPDATE ... WHERE revision = the one
// the change is based on, an INSERT ... ON CONFLICT DO NOTHING for a new
// one, or a DELETE ... WHERE revision = ...; if any of them affects no row,
// the transaction is rolled back and the error wraps [confo.ErrConflict]
// naming every such configuration. Concurrent writers of a row wait for each
// other and re-check the revision, so the guard holds under concurrency. A
// delete of a configuration that is absent checks that no committed row
// exists. Load is a single SELECT, consistent by itself.
//
// # Watch
//
// Each commit also sends NOTIFY on the channel <table>_changes with the
// namespace as payload; PostgreSQL delivers it when the transaction commits.
// [Backend.Watch] listens on that channel with a connection of its own and
// reads the namespace again on each notice for it. Writers other than this
// backend are seen only if they send the same notice.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

func init() {
	confo.Register(confo.DatabaseBackend, credential.Opener(ParseCredentials, New))
}

// Backend is a connection pool to a PostgreSQL database. It is safe for
// concurrent use.
type Backend struct {
	pool   *pgxpool.Pool
	addr   string
	sql    statements
	closed atomic.Bool
	done   chan struct{} // closed by Close: ends the watches
	metaOK atomic.Bool   // the metadata table exists (meta.go)
}

var _ confo.Backend = (*Backend)(nil)

// statements are the SQL texts for one table.
type statements struct {
	setup           []string
	ready           string
	lock            string
	namespaces      string
	createNamespace string
	load            string
	nsExists        string
	nextRevision    string
	insert          string
	update          string
	delete          string
	absent          string
	notify          string
	listen          string
	meta            metaStatements // the metadata table's (meta.go)
}

func newStatements(table string) statements {
	schema, name, qualified := strings.Cut(table, ".")
	if !qualified {
		schema, name = "", table
	}
	ident := func(suffix string) string {
		if schema == "" {
			return pgx.Identifier{name + suffix}.Sanitize()
		}
		return pgx.Identifier{schema, name + suffix}.Sanitize()
	}
	configs, spaces, seq := ident(""), ident("_namespaces"), ident("_revision")
	var setup []string
	if schema != "" {
		setup = append(setup, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	}
	setup = append(setup,
		"CREATE TABLE IF NOT EXISTS "+spaces+" (namespace text PRIMARY KEY)",
		"CREATE SEQUENCE IF NOT EXISTS "+seq,
		"CREATE TABLE IF NOT EXISTS "+configs+" ("+
			"namespace text NOT NULL REFERENCES "+spaces+" ON DELETE CASCADE, "+
			"name text NOT NULL, value bytea NOT NULL, revision bigint NOT NULL, "+
			"PRIMARY KEY (namespace, name))",
	)
	seqLiteral := literal(seq)
	channel := changeChannel(table)
	return statements{
		setup: setup,
		ready: "SELECT to_regclass(" + literal(configs) + ") IS NOT NULL AND to_regclass(" + literal(spaces) +
			") IS NOT NULL AND to_regclass(" + seqLiteral + ") IS NOT NULL",
		lock:            "SELECT pg_advisory_xact_lock(hashtext(" + literal("confo:"+table) + "))",
		namespaces:      "SELECT namespace FROM " + spaces,
		createNamespace: "INSERT INTO " + spaces + " (namespace) VALUES ($1) ON CONFLICT DO NOTHING",
		load: "SELECT n.namespace IS NOT NULL, c.name, c.value, c.revision FROM (SELECT 1) AS one " +
			"LEFT JOIN " + spaces + " AS n ON n.namespace = $1 " +
			"LEFT JOIN " + configs + " AS c ON c.namespace = n.namespace",
		nsExists:     "SELECT EXISTS (SELECT 1 FROM " + spaces + " WHERE namespace = $1 FOR KEY SHARE)",
		nextRevision: "SELECT nextval(" + seqLiteral + ")",
		insert: "INSERT INTO " + configs + " (namespace, name, value, revision) " +
			"VALUES ($1, $2, $3, currval(" + seqLiteral + ")) ON CONFLICT DO NOTHING",
		update: "UPDATE " + configs + " SET value = $3, revision = currval(" + seqLiteral + ") " +
			"WHERE namespace = $1 AND name = $2 AND revision = $4",
		delete: "DELETE FROM " + configs + " WHERE namespace = $1 AND name = $2 AND revision = $3",
		absent: "SELECT NOT EXISTS (SELECT 1 FROM " + configs + " WHERE namespace = $1 AND name = $2)",
		notify: "SELECT pg_notify(" + literal(channel) + ", $1)",
		listen: "LISTEN " + pgx.Identifier{channel}.Sanitize(),
		meta:   newMetaStatements(ident),
	}
}

// changeChannel names the NOTIFY channel of table's commits: table +
// "_changes", or a hash of it where that exceeds PostgreSQL's 63 bytes.
func changeChannel(table string) string {
	if c := table + "_changes"; len(c) <= 63 {
		return c
	}
	sum := sha256.Sum256([]byte(table))
	return "confo_changes_" + hex.EncodeToString(sum[:12])
}

// literal quotes s as an SQL string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// New connects to the database of cfg within cfg.DialTimeout, creates the
// tables if missing and creates cfg.Namespaces. An unreachable server is an
// error naming its address; a refused user or password wraps
// [confo.ErrInvalidCredentials].
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	pcfg, err := pgxpool.ParseConfig(cfg.connString())
	if err != nil {
		// pgx's message may quote the connection string: say only which key.
		if cfg.DSN != "" {
			return nil, invalid("dsn", "is not a valid PostgreSQL connection string")
		}
		return nil, invalid("host", "and the other connection keys do not make a valid connection string")
	}
	if cfg.Password != "" {
		pcfg.ConnConfig.Password = cfg.Password
	}
	pcfg.ConnConfig.ConnectTimeout = cfg.DialTimeout
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = int32(cfg.MaxConns)
	}
	pcfg.MinConns = 0
	addr := net.JoinHostPort(pcfg.ConnConfig.Host, strconv.Itoa(int(pcfg.ConnConfig.Port)))
	if strings.HasPrefix(pcfg.ConnConfig.Host, "/") {
		addr = pcfg.ConnConfig.Host // a unix socket directory
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", addr, err)
	}
	b := &Backend{pool: pool, addr: addr, sql: newStatements(cfg.Table), done: make(chan struct{})}
	ictx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	err = b.setup(ictx)
	cancel()
	if err != nil {
		pool.Close()
		return nil, b.connectError(ctx, cfg, err)
	}
	for _, ns := range cfg.Namespaces {
		if err := b.CreateNamespace(ctx, ns); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return b, nil
}

// connectError explains a failure of New.
func (b *Backend) connectError(ctx context.Context, cfg Config, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		return fmt.Errorf("postgres: connect to %s: %w: the server refused the user or password (%s, SQLSTATE %s)",
			b.addr, confo.ErrInvalidCredentials, pgErr.Message, pgErr.Code)
	}
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)) {
		return fmt.Errorf("postgres: connect to %s: no answer within dial_timeout %s: %w", b.addr, cfg.DialTimeout, err)
	}
	return fmt.Errorf("postgres: connect to %s: %w", b.addr, err)
}

// setup creates the tables and sequence if missing, one process at a time.
// When they all exist it only checks so, without DDL or locks.
func (b *Backend) setup(ctx context.Context) error {
	var ready bool
	if err := b.pool.QueryRow(ctx, b.sql.ready).Scan(&ready); err != nil {
		return err
	}
	if ready {
		return nil
	}
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, b.sql.lock); err != nil {
			return err
		}
		for _, stmt := range b.sql.setup {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

// NewFromPool returns a backend on a pool the caller built, with the
// tables of table (DefaultTable when empty), creating them if missing.
// Close closes the pool.
func NewFromPool(ctx context.Context, pool *pgxpool.Pool, table string) (*Backend, error) {
	cfg := Config{Table: table, DSN: "-"}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := pool.Config().ConnConfig
	b := &Backend{pool: pool, addr: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), sql: newStatements(cfg.Table), done: make(chan struct{})}
	if err := b.setup(ctx); err != nil {
		return nil, b.fail("create tables", err)
	}
	return b, nil
}

// Pool returns the underlying connection pool.
func (b *Backend) Pool() *pgxpool.Pool { return b.pool }

func (b *Backend) checkOpen(op string) error {
	if b.closed.Load() {
		return fmt.Errorf("postgres: %s: %w", op, confo.ErrClosed)
	}
	return nil
}

// fail wraps an error of the database for op.
func (b *Backend) fail(op string, err error) error {
	if b.closed.Load() {
		return fmt.Errorf("postgres: %s: %w", op, confo.ErrClosed)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		return fmt.Errorf("postgres: %s on %s: %w (%s)", op, b.addr, confo.ErrInvalidCredentials, pgErr.Message)
	}
	return fmt.Errorf("postgres: %s on %s: %w", op, b.addr, err)
}

// Namespaces lists the rows of the namespace table.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.checkOpen("list namespaces"); err != nil {
		return nil, err
	}
	rows, err := b.pool.Query(ctx, b.sql.namespaces)
	if err != nil {
		return nil, b.fail("list namespaces", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, b.fail("list namespaces", err)
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// CreateNamespace inserts ns into the namespace table if missing.
func (b *Backend) CreateNamespace(ctx context.Context, ns string) error {
	op := fmt.Sprintf("create namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, b.sql.createNamespace, ns); err != nil {
		return b.fail(op, err)
	}
	return nil
}

// Load reads namespace ns with one SELECT.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	op := fmt.Sprintf("load namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return confo.Snapshot{}, err
	}
	rows, err := b.pool.Query(ctx, b.sql.load, ns)
	if err != nil {
		return confo.Snapshot{}, b.fail(op, err)
	}
	defer rows.Close()
	snap := confo.Snapshot{Entries: make(map[string]confo.Entry)}
	found := false
	for rows.Next() {
		var (
			exists bool
			name   *string
			value  []byte
			rev    *int64
		)
		if err := rows.Scan(&exists, &name, &value, &rev); err != nil {
			return confo.Snapshot{}, b.fail(op, err)
		}
		found = exists
		if name != nil && rev != nil {
			if value == nil {
				value = []byte{}
			}
			snap.Entries[*name] = confo.Entry{Value: value, Revision: *rev}
		}
	}
	if err := rows.Err(); err != nil {
		return confo.Snapshot{}, b.fail(op, err)
	}
	if !found {
		return confo.Snapshot{}, fmt.Errorf("postgres: %s: %w", op, confo.ErrNamespaceNotFound)
	}
	return snap, nil
}

// Commit applies ops in one transaction, guarded by revision. A COMMIT
// whose reply never came (a timeout, a lost connection) is an error
// wrapping [confo.ErrOutcomeUnknown]: the transaction may have committed.
// An error before the COMMIT was sent leaves nothing applied: the server
// rolls back a transaction whose connection closes.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commit(ctx, ns, ops, nil)
}

// errRollback makes Commit roll back; Commit reports why.
var errRollback = errors.New("rollback")

// errConnLost means the connection closed before the COMMIT was sent, so
// the server rolls the transaction back.
var errConnLost = errors.New("connection lost before COMMIT: nothing applied")

// Close closes the pool. Later calls return ErrClosed.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.done)
	b.pool.Close()
	return nil
}
