package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confo-go/confo"
)

// beforeCommit, when set (by tests), runs just before Commit sends COMMIT:
// the point after which the outcome can be unknown.
var beforeCommit func()

// commitError marks wrapped, the error of a transaction's COMMIT, with
// [confo.ErrOutcomeUnknown] unless cause shows the outcome: an error the
// server replied with (the transaction rolled back), pgx's report that the
// server rolled back, or an error pgx knows came before anything was sent.
// A timeout or a lost connection after COMMIT left may come with the
// transaction committed; a Reload shows which, and the guard refuses a
// retry that would apply it twice.
func commitError(wrapped, cause error) error {
	var pgErr *pgconn.PgError
	if errors.As(cause, &pgErr) || errors.Is(cause, pgx.ErrTxCommitRollback) ||
		pgconn.SafeToRetry(cause) || errors.Is(wrapped, confo.ErrClosed) {
		return wrapped
	}
	return fmt.Errorf("%w (%w: it may have been applied; Reload to see)", wrapped, confo.ErrOutcomeUnknown)
}
