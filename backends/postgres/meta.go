package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// Metadata of a namespace (see [confo.MetaStore]) is kept in a table of
// its own, created at the first use:
//
//	CREATE TABLE confo_meta (
//	    namespace text   NOT NULL REFERENCES confo_namespaces ON DELETE CASCADE,
//	    key       text   NOT NULL,
//	    value     bytea  NOT NULL,
//	    revision  bigint NOT NULL, -- from confo_revision
//	    PRIMARY KEY (namespace, key));
//
// CommitMeta is Commit's transaction with the metadata ops in it. A commit
// that writes metadata locks the namespace's row FOR UPDATE, which waits
// for every commit of the namespace in flight (they hold it FOR KEY SHARE)
// and makes those that follow wait, so that a Check reads the metadata as
// the last writer of it left it. Deleting a namespace deletes its metadata.

var _ confo.MetaStore = (*Backend)(nil)

// metaStatements are the SQL texts of the metadata table, built once with
// the others (see newStatements).
type metaStatements struct {
	setup, load, lockNS, current, insert, update, del, delAny, upsert string
}

// newMetaStatements returns the statements of the metadata table; ident
// quotes the configurations' table name with a suffix.
func newMetaStatements(ident func(suffix string) string) metaStatements {
	table, spaces, seq := ident("_meta"), ident("_namespaces"), literal(ident("_revision"))
	return metaStatements{
		setup: "CREATE TABLE IF NOT EXISTS " + table + " (" +
			"namespace text NOT NULL REFERENCES " + spaces + " ON DELETE CASCADE, " +
			"key text NOT NULL, value bytea NOT NULL, revision bigint NOT NULL, PRIMARY KEY (namespace, key))",
		load: "SELECT n.namespace IS NOT NULL, m.key, m.value, m.revision FROM (SELECT 1) AS one " +
			"LEFT JOIN " + spaces + " AS n ON n.namespace = $1 " +
			"LEFT JOIN " + table + " AS m ON m.namespace = n.namespace AND starts_with(m.key, $2)",
		lockNS:  "SELECT EXISTS (SELECT 1 FROM " + spaces + " WHERE namespace = $1 FOR UPDATE)",
		current: "SELECT COALESCE((SELECT revision FROM " + table + " WHERE namespace = $1 AND key = $2), 0)",
		insert:  "INSERT INTO " + table + " (namespace, key, value, revision) VALUES ($1, $2, $3, currval(" + seq + ")) ON CONFLICT DO NOTHING",
		update:  "UPDATE " + table + " SET value = $3, revision = currval(" + seq + ") WHERE namespace = $1 AND key = $2 AND revision = $4",
		del:     "DELETE FROM " + table + " WHERE namespace = $1 AND key = $2 AND revision = $3",
		delAny:  "DELETE FROM " + table + " WHERE namespace = $1 AND key = $2",
		upsert: "INSERT INTO " + table + " (namespace, key, value, revision) VALUES ($1, $2, $3, currval(" + seq + ")) " +
			"ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, revision = excluded.revision",
	}
}

// metaReady creates the metadata table if missing, once per Backend.
func (b *Backend) metaReady(ctx context.Context) error {
	if b.metaOK.Load() {
		return nil
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, b.sql.lock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, b.sql.meta.setup)
		return err
	})
	if err != nil {
		return err
	}
	b.metaOK.Store(true)
	return nil
}

// LoadMeta reads the metadata entries of namespace ns whose keys start
// with prefix, in one SELECT.
func (b *Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	op := fmt.Sprintf("load metadata of namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if err := metakey.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := b.metaReady(ctx); err != nil {
		return nil, b.fail(op, err)
	}
	rows, err := b.pool.Query(ctx, b.sql.meta.load, ns, prefix)
	if err != nil {
		return nil, b.fail(op, err)
	}
	defer rows.Close()
	out := make(map[string]confo.Entry)
	exists := false
	for rows.Next() {
		var (
			key   *string
			value []byte
			rev   *int64
		)
		if err := rows.Scan(&exists, &key, &value, &rev); err != nil {
			return nil, b.fail(op, err)
		}
		if key != nil && rev != nil {
			out[*key] = confo.Entry{Value: value, Revision: *rev}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, b.fail(op, err)
	}
	if !exists {
		return nil, fmt.Errorf("postgres: %s: %w", op, confo.ErrNamespaceNotFound)
	}
	return out, nil
}

// CommitMeta is Commit with metadata ops in the same transaction (see
// above). Without metadata ops it is Commit.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if len(meta) > 0 {
		op := fmt.Sprintf("commit to namespace %q", ns)
		if err := b.checkOpen(op); err != nil {
			return nil, err
		}
		if err := metakey.ValidateOps(meta); err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", op, err)
		}
		if err := b.metaReady(ctx); err != nil {
			return nil, b.fail(op, err)
		}
	}
	return b.commit(ctx, ns, ops, meta)
}
