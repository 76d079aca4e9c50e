package redis

import (
	"errors"
	"fmt"
	"net"

	goredis "github.com/redis/go-redis/v9"

	"github.com/confo-go/confo"
)

// commitError wraps err, the failure of the commit script's call, for op,
// and marks it with [confo.ErrOutcomeUnknown] unless err shows that the
// script did not run: a reply of the server (a Redis error such as NOAUTH
// or OOM: the script refused before writing), or no connection to send it
// on (a dial error, the pool's timeout, the client closed). A timeout or a
// lost connection after the request left may come with the script applied
// (the server runs it when it gets to it), so those are unknown: a Reload
// shows which, and the guard refuses a retry that would apply it twice.
func (b *Backend) commitError(op string, err error) error {
	wrapped := b.fail(op, err)
	var reply goredis.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &reply),
		errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, goredis.ErrPoolTimeout),
		errors.Is(err, goredis.ErrClosed),
		errors.Is(wrapped, confo.ErrClosed):
		return wrapped
	}
	return fmt.Errorf("%w (%w: it may have been applied; Reload to see)", wrapped, confo.ErrOutcomeUnknown)
}
