package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/snapdiff"
)

var _ confo.Watcher = (*Backend)(nil)

// Watch reports the changes of namespace ns committed by this backend (by
// any process) after afterRev. It subscribes to the namespace's change
// channel, then reads the namespace; after that, each change notice (and
// each resubscription after a lost connection) reads it again and sends
// what differs from the last read: a first Full batch unless the first read
// is the state at afterRev, then puts and deletes. Writers that do not
// publish on the channel are not seen until the next notice.
//
// The channel is closed when ctx is done or after a batch with an error
// (the connection lost, the backend closed); the Manager then starts a new
// watch. It returns ErrNamespaceNotFound when ns does not exist.
func (b *Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	op := fmt.Sprintf("watch namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	sub := b.client.Subscribe(ctx, b.keys.channel(ns))
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		sub.Close()
		return nil, b.fail(op, err)
	}
	// Read after subscribing: a commit in between is in the read, or
	// notified, or both.
	snap, err := b.Load(ctx, ns)
	if err != nil {
		sub.Close()
		return nil, err
	}
	out := make(chan confo.WatchBatch)
	go b.watch(ctx, ns, op, sub, snap, afterRev, out)
	return out, nil
}

func (b *Backend) watch(ctx context.Context, ns, op string, sub *goredis.PubSub, snap confo.Snapshot, last int64, out chan<- confo.WatchBatch) {
	defer close(out)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // unblocks Receive when ctx ends or the backend closes
		select {
		case <-ctx.Done():
		case <-b.done:
		case <-stop:
		}
		sub.Close()
	}()
	send := func(batch confo.WatchBatch) bool {
		select {
		case out <- batch:
			return batch.Err == nil
		case <-ctx.Done():
			return false
		}
	}
	tracker, first, ok := snapdiff.Start(snap, last)
	if ok && !send(first) {
		return
	}
	for {
		msg, err := sub.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if b.closed.Load() {
			send(confo.WatchBatch{Err: fmt.Errorf("redis: %s: %w", op, confo.ErrClosed)})
			return
		}
		if err != nil {
			send(confo.WatchBatch{Err: b.fail(op, err)})
			return
		}
		switch msg.(type) {
		case *goredis.Message, *goredis.Subscription:
			snap, err := b.Load(ctx, ns)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				send(confo.WatchBatch{Err: err})
				return
			}
			if batch, ok := tracker.Next(snap); ok && !send(batch) {
				return
			}
		}
	}
}
