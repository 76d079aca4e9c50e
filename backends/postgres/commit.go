package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// commit applies ops and metadata ops meta (already validated, with the
// metadata table ready) in one transaction, each guarded by revision. A
// commit that writes metadata locks the namespace's row, so that a
// concurrent check sees what the last writer left.
func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	op := fmt.Sprintf("commit to namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if len(ops) == 0 && len(meta) == 0 {
		return nil, nil
	}
	var (
		rev       int64
		conflicts []string
		missing   bool
	)
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, b.fail(op, err)
	}
	err = func() error {
		batch := &pgx.Batch{}
		b.queueCommit(batch, ns, ops, meta)
		res := tx.SendBatch(ctx, batch)
		defer res.Close()
		var exists bool
		if err := res.QueryRow().Scan(&exists); err != nil {
			return err
		}
		if !exists {
			missing = true
			return errRollback
		}
		if err := res.QueryRow().Scan(&rev); err != nil {
			return err
		}
		for _, o := range ops {
			ok := false
			if o.Value == nil && o.Revision == 0 {
				if err := res.QueryRow().Scan(&ok); err != nil {
					return err
				}
			} else {
				tag, err := res.Exec()
				if err != nil {
					return err
				}
				ok = tag.RowsAffected() == 1
			}
			if !ok {
				conflicts = append(conflicts, fmt.Sprintf("%q changed in the store", o.Name))
			}
		}
		for _, m := range meta {
			if m.Check {
				var cur int64
				if err := res.QueryRow().Scan(&cur); err != nil {
					return err
				}
				if cur != m.Revision {
					conflicts = append(conflicts, metakey.ConflictText(m, cur))
				}
				continue
			}
			tag, err := res.Exec()
			if err != nil {
				return err
			}
			if metakey.Guarded(m) && tag.RowsAffected() != 1 {
				conflicts = append(conflicts, fmt.Sprintf("metadata %q changed in the store (expected revision %d)", m.Key, m.Revision))
			}
		}
		if len(ops) > 0 {
			if _, err := res.Exec(); err != nil { // the notice, delivered on commit only
				return err
			}
		}
		if err := res.Close(); err != nil {
			return err
		}
		if len(conflicts) > 0 {
			return errRollback
		}
		return nil
	}()
	if err == nil {
		err = ctx.Err() // COMMIT not sent
	}
	if err == nil && tx.Conn().IsClosed() {
		err = errConnLost // COMMIT cannot be sent
	}
	if err != nil {
		_ = tx.Rollback(ctx) // or the server rolls back as the connection closes
	} else {
		if beforeCommit != nil {
			beforeCommit()
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, commitError(b.fail(op, err), err)
		}
	}
	switch {
	case missing:
		return nil, fmt.Errorf("postgres: %s: %w", op, confo.ErrNamespaceNotFound)
	case len(conflicts) > 0:
		return nil, fmt.Errorf("postgres: %s: %w: %s", op, confo.ErrConflict, strings.Join(conflicts, ", "))
	case errors.Is(err, errRollback):
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	case err != nil:
		return nil, b.fail(op, err)
	}
	revs := make([]int64, len(ops))
	for i, o := range ops {
		if o.Value != nil {
			revs[i] = rev
		}
	}
	return revs, nil
}

// queueCommit queues the statements of a commit: the namespace's check (or
// lock, when metadata is written), the next revision, each op, each
// metadata op, and the notice when configurations change.
func (b *Backend) queueCommit(batch *pgx.Batch, ns string, ops []confo.Op, meta []confo.MetaOp) {
	writes := false
	for _, m := range meta {
		writes = writes || !m.Check
	}
	ms := &b.sql.meta
	if writes {
		batch.Queue(ms.lockNS, ns)
	} else {
		batch.Queue(b.sql.nsExists, ns)
	}
	batch.Queue(b.sql.nextRevision)
	for _, o := range ops {
		switch {
		case o.Value != nil && o.Revision == 0:
			batch.Queue(b.sql.insert, ns, o.Name, o.Value)
		case o.Value != nil:
			batch.Queue(b.sql.update, ns, o.Name, o.Value, o.Revision)
		case o.Revision != 0:
			batch.Queue(b.sql.delete, ns, o.Name, o.Revision)
		default:
			batch.Queue(b.sql.absent, ns, o.Name)
		}
	}
	for _, m := range meta {
		switch {
		case m.Check:
			batch.Queue(ms.current, ns, m.Key)
		case !metakey.Guarded(m) && m.Value == nil:
			batch.Queue(ms.delAny, ns, m.Key)
		case !metakey.Guarded(m):
			batch.Queue(ms.upsert, ns, m.Key, m.Value)
		case m.Value != nil && m.Revision == 0:
			batch.Queue(ms.insert, ns, m.Key, m.Value)
		case m.Value != nil:
			batch.Queue(ms.update, ns, m.Key, m.Value, m.Revision)
		default:
			batch.Queue(ms.del, ns, m.Key, m.Revision)
		}
	}
	if len(ops) > 0 {
		batch.Queue(b.sql.notify, ns)
	}
}
