package zookeeper

import (
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
)

// beforeMulti, when set (by tests), runs just before Commit sends its
// multi: the point after which the outcome can be unknown.
var beforeMulti func()

// answered are the errors of a multi that come from the server's reply:
// the multi was refused as a whole, nothing of it applied.
var answered = []error{
	zk.ErrNoNode, zk.ErrNoAuth, zk.ErrBadVersion, zk.ErrNoChildrenForEphemerals,
	zk.ErrNodeExists, zk.ErrNotEmpty, zk.ErrInvalidACL, zk.ErrAuthFailed,
	zk.ErrBadArguments, zk.ErrInvalidPath, zk.ErrAPIError,
	confo.ErrClosed,
}

// multiError marks wrapped, the error of a commit's multi, with
// [confo.ErrOutcomeUnknown] unless cause is a reply of the server. A lost
// connection, an expired session or a context that ends while the multi is
// in flight leave it unknown: the server may have applied it, or may apply
// it when the client sends it after reconnecting. A Reload shows which,
// and the guard refuses a retry that would apply it twice.
func multiError(wrapped, cause error) error {
	for _, e := range answered {
		if errors.Is(cause, e) || errors.Is(wrapped, e) {
			return wrapped
		}
	}
	return fmt.Errorf("%w (%w: it may have been applied; Reload to see)", wrapped, confo.ErrOutcomeUnknown)
}
