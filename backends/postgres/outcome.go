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
// [confo.ErrOutcomeUnknown] unless cause shows that the transaction rolled
// back: an error the server answered the COMMIT with (severity ERROR, such
// as a serialization failure), or pgx's report of a ROLLBACK. Anything else
// may come after the transaction committed: a timeout, a lost connection,
// and a FATAL error, which a server whose postmaster died sends even after
// the commit record is on disk (seen in TestCrashDurability). pgx's
// SafeToRetry is no proof either: a connection closed while the COMMIT's
// reply is awaited reports "conn closed", safe to retry, after the COMMIT
// went out. A Reload shows the outcome, and the guard refuses a retry that
// would apply it twice.
func commitError(wrapped, cause error) error {
	var pgErr *pgconn.PgError
	if errors.As(cause, &pgErr) && pgErr.Severity == "ERROR" ||
		errors.Is(cause, pgx.ErrTxCommitRollback) || errors.Is(wrapped, confo.ErrClosed) {
		return wrapped
	}
	return fmt.Errorf("%w (%w: it may have been applied; Reload to see)", wrapped, confo.ErrOutcomeUnknown)
}
