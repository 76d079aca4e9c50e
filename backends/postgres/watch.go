package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/snapdiff"
)

var _ confo.Watcher = (*Backend)(nil)

// Watch reports the changes of namespace ns committed by this backend (by
// any process). It takes a connection of its own out of the pool, LISTENs on
// the table's change channel, then reads the namespace; after that, each
// notice for ns reads it again and sends what differs from the last read.
// The first batch is Full, as the store has no revision to resume from
// (afterRev is ignored). Writers that do not send the notice are not seen
// until the next one.
//
// The channel is closed when ctx is done or after a batch with an error
// (the connection lost, the backend closed); the Manager then starts a new
// watch. It returns ErrNamespaceNotFound when ns does not exist.
func (b *Backend) Watch(ctx context.Context, ns string, _ int64) (<-chan confo.WatchBatch, error) {
	op := fmt.Sprintf("watch namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	pooled, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, b.fail(op, err)
	}
	conn := pooled.Hijack() // LISTEN stays with this connection: it never returns to the pool
	if _, err := conn.Exec(ctx, b.sql.listen); err != nil {
		closeConn(ctx, conn)
		return nil, b.fail(op, err)
	}
	// Read after listening: a commit in between is in the read, or
	// notified, or both.
	snap, err := b.Load(ctx, ns)
	if err != nil {
		closeConn(ctx, conn)
		return nil, err
	}
	out := make(chan confo.WatchBatch)
	wctx, cancel := context.WithCancel(ctx)
	go func() { // Close ends the watch too
		select {
		case <-b.done:
		case <-wctx.Done():
		}
		cancel()
	}()
	go b.watch(wctx, ns, op, conn, snap, out)
	return out, nil
}

func (b *Backend) watch(ctx context.Context, ns, op string, conn *pgx.Conn, snap confo.Snapshot, out chan<- confo.WatchBatch) {
	defer close(out)
	defer closeConn(ctx, conn)
	send := func(batch confo.WatchBatch) bool {
		select {
		case out <- batch:
			return batch.Err == nil
		case <-ctx.Done():
			return false
		}
	}
	tracker, first, _ := snapdiff.Start(snap, 0) // Full: no store revision to resume from
	if !send(first) {
		return
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			send(confo.WatchBatch{Err: b.fail(op, err)})
			return
		}
		if n.Payload != ns {
			continue
		}
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

// closeConn closes a hijacked connection, waiting at most a second for a
// clean goodbye.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = conn.Close(cctx)
}
