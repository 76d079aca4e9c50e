package etcd

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/confo-go/confo"
)

// refusedBeforeProposal are the etcd errors a transaction gets before it is
// proposed to raft: it was certainly not applied.
var refusedBeforeProposal = []error{
	rpctypes.ErrTooManyOps, rpctypes.ErrDuplicateKey, rpctypes.ErrRequestTooLarge,
	rpctypes.ErrTooManyRequests, rpctypes.ErrNoSpace, rpctypes.ErrPermissionDenied,
	rpctypes.ErrAuthFailed, rpctypes.ErrInvalidAuthToken, rpctypes.ErrAuthOldRevision,
	rpctypes.ErrUserEmpty, rpctypes.ErrEmptyKey, rpctypes.ErrNotCapable,
	confo.ErrClosed,
}

// commitError marks wrapped, the error of a failed commit transaction, with
// [confo.ErrOutcomeUnknown] unless cause shows that the transaction was
// refused before etcd could apply it. etcd may apply a transaction whose
// call failed: the proposal is in the raft log when the leader changes, the
// connection drops or the deadline passes ("request timed out", "leader
// changed", Unavailable, DeadlineExceeded). The client cannot tell these
// apart from a request that never left, so they are all unknown.
func commitError(wrapped, cause error) error {
	for _, e := range refusedBeforeProposal {
		if errors.Is(cause, e) || errors.Is(wrapped, e) {
			return wrapped
		}
	}
	if s, ok := status.FromError(cause); ok {
		switch s.Code() {
		case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated,
			codes.ResourceExhausted, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
			return wrapped // refused by a check before raft, or by the client before sending
		}
		if s.Message() == "raft proposal dropped" {
			return wrapped
		}
	}
	if rpctypes.ErrorDesc(cause) == "raft proposal dropped" {
		return wrapped
	}
	return fmt.Errorf("%w (%w: it may have been applied; Reload to see)", wrapped, confo.ErrOutcomeUnknown)
}
