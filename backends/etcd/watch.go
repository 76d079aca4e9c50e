package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

var _ confo.Watcher = (*Backend)(nil)

// Watch reports the changes to the configurations of namespace ns made after
// revision afterRev, with one etcd watch on "<prefix>/<ns>/" starting at
// afterRev+1: each etcd watch response is one batch, its changes in
// revision order (the puts and deletes of one transaction share its
// revision), each put's Revision being the key's ModRevision. Keys under the
// prefix whose names are not valid configuration names ("<prefix>/<ns>/a/b")
// are passed up as they are, for the Manager to report.
//
// The client reconnects and resumes the watch by itself when its connection
// drops. The watch requires a leader: a member cut off from the cluster
// ends the watch with an error, so the caller resumes it elsewhere instead
// of waiting silently. A revision the cluster has compacted ends it with an
// error wrapping [confo.ErrCompacted]. The channel is closed when ctx is
// done, the backend is closed, or after a batch with an error.
func (b *Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	if err := b.check("watch namespace " + ns); err != nil {
		return nil, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("etcd: watch namespace: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefix := b.nsPrefix(ns)
	if err := b.exists(ctx, ns); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := b.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(afterRev+1))
	out := make(chan confo.WatchBatch)
	go func() {
		defer close(out)
		defer cancel()
		send := func(batch confo.WatchBatch) bool {
			select {
			case out <- batch:
				return true
			case <-ctx.Done():
				return false
			}
		}
		pos := afterRev
		for resp := range wch {
			if err := b.watchError(ctx, prefix, pos, resp); err != nil {
				send(confo.WatchBatch{Revision: pos, Err: err})
				return
			}
			if len(resp.Events) == 0 {
				continue // progress notification
			}
			batch := confo.WatchBatch{Changes: make([]confo.Change, 0, len(resp.Events))}
			for _, ev := range resp.Events {
				pos = ev.Kv.ModRevision
				name := string(ev.Kv.Key[len(prefix):]) // passed up even if not a valid name
				c := confo.Change{Name: name, Revision: ev.Kv.ModRevision}
				if ev.Type == mvccpb.PUT {
					c.Value = ev.Kv.Value
					if c.Value == nil {
						c.Value = []byte{}
					}
				}
				batch.Changes = append(batch.Changes, c)
			}
			batch.Revision = pos
			if len(batch.Changes) > 0 && !send(batch) {
				return
			}
		}
		// The client closes the channel when ctx is done or the client is
		// closed; say which, unless nobody listens any more.
		if ctx.Err() == nil {
			send(confo.WatchBatch{Revision: pos, Err: b.opError(ctx, "watch "+prefix, errors.New("watch channel closed"))})
		}
	}()
	return out, nil
}

// watchError returns the error a watch response carries, if any: a
// compaction wraps [confo.ErrCompacted].
func (b *Backend) watchError(ctx context.Context, prefix string, pos int64, resp clientv3.WatchResponse) error {
	if resp.CompactRevision != 0 {
		return fmt.Errorf("etcd: watch %s after revision %d at %s: %w (compacted at %d)",
			prefix, pos, b.endpoints, confo.ErrCompacted, resp.CompactRevision)
	}
	err := resp.Err()
	if err == nil {
		return nil
	}
	if errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("etcd: watch %s after revision %d at %s: %w (%w)", prefix, pos, b.endpoints, confo.ErrCompacted, err)
	}
	return b.opError(ctx, fmt.Sprintf("watch %s after revision %d", prefix, pos), err)
}

// exists returns ErrNamespaceNotFound unless namespace ns has a marker or a
// key, as Load decides.
func (b *Backend) exists(ctx context.Context, ns string) error {
	prefix := b.nsPrefix(ns)
	resp, err := b.cli.Txn(ctx).Then(
		clientv3.OpGet(b.NamespaceKey(ns), clientv3.WithCountOnly()),
		clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()),
	).Commit()
	if err != nil {
		return b.opError(ctx, "watch "+prefix, err)
	}
	if resp.Responses[0].GetResponseRange().Count == 0 && resp.Responses[1].GetResponseRange().Count == 0 {
		return fmt.Errorf("etcd: watch namespace %q: %w (no key %s)", ns, confo.ErrNamespaceNotFound, b.NamespaceKey(ns))
	}
	return nil
}
