package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/snapdiff"
)

var _ confo.Watcher = (*Backend)(nil)

// Watch reports the changes of namespace ns after afterRev, by ZooKeeper
// watches on a session of its own: a data watch on the namespace znode
// (which every commit of this backend writes), a child watch on it (any
// writer's creates and deletes) and a data watch on each configuration (any
// writer's sets). A watch fires once; each time one fires, it is set again
// and the namespace is read afterwards, on the same session, so no change
// falls between two watches. Each read sends what differs from the last:
// a first Full batch unless the first read is the state at afterRev, then
// puts and deletes, at the highest zxid read.
//
// The channel is closed when ctx is done or after a batch with an error
// (the session expired, the namespace deleted, the backend closed); the
// Manager then starts a new watch. It returns ErrNamespaceNotFound when ns
// does not exist.
func (b *Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	op := fmt.Sprintf("watch namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	conn, own := b.conn, false
	if b.cfg.Servers != nil { // a session per watch: closing it drops its watches
		c, err := b.dial(ctx)
		if err != nil {
			return nil, err
		}
		conn, own = c, true
	}
	w := &watch{b: b, conn: conn, ns: ns, nsPath: b.Path(ns, ""), op: op, last: afterRev,
		children: make(map[string]bool), fired: make(chan zk.Event, 16), stop: make(chan struct{})}
	snap, err := w.armAndLoad(ctx)
	if err != nil {
		close(w.stop)
		if own {
			go conn.Close()
		}
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
	go func() {
		defer close(out)
		defer cancel()
		defer func() {
			close(w.stop)
			w.wg.Wait()
			if own {
				conn.Close()
			}
		}()
		w.run(wctx, snap, out)
	}()
	return out, nil
}

// watch is one running Watch.
type watch struct {
	b          *Backend
	conn       *zk.Conn
	ns, nsPath string
	op         string
	last       int64 // afterRev

	nsArmed    bool            // data watch on the namespace znode set
	childArmed bool            // child watch on the namespace znode set
	names      []string        // children as of the last child watch
	children   map[string]bool // configurations with a data watch set
	fired      chan zk.Event   // what the watches report
	stop       chan struct{}   // closed when the watch ends
	wg         sync.WaitGroup
}

// forward passes the one event of a ZooKeeper watch to w.fired.
func (w *watch) forward(ch <-chan zk.Event) {
	w.wg.Go(func() {
		select {
		case ev := <-ch:
			select {
			case w.fired <- ev:
			case <-w.stop:
			}
		case <-w.stop:
		}
	})
}

// armAndLoad sets the watches that are not set, then reads the namespace.
func (w *watch) armAndLoad(ctx context.Context) (confo.Snapshot, error) {
	notFound := func() (confo.Snapshot, error) {
		return confo.Snapshot{}, fmt.Errorf("zookeeper: %s: %w", w.op, confo.ErrNamespaceNotFound)
	}
	if !w.nsArmed {
		ch, err := do(ctx, func() (<-chan zk.Event, error) { _, _, ch, err := w.conn.GetW(w.nsPath); return ch, err })
		if errors.Is(err, zk.ErrNoNode) {
			return notFound()
		}
		if err != nil {
			return confo.Snapshot{}, w.b.fail(w.op+": watch", w.nsPath, err)
		}
		w.forward(ch)
		w.nsArmed = true
	}
	if !w.childArmed {
		type children struct {
			names []string
			ch    <-chan zk.Event
		}
		got, err := do(ctx, func() (children, error) {
			names, _, ch, err := w.conn.ChildrenW(w.nsPath)
			return children{names, ch}, err
		})
		if errors.Is(err, zk.ErrNoNode) {
			return notFound()
		}
		if err != nil {
			return confo.Snapshot{}, w.b.fail(w.op+": watch children of", w.nsPath, err)
		}
		w.forward(got.ch)
		w.childArmed = true
		w.names = got.names
	}
	for _, name := range w.names {
		if w.children[name] {
			continue
		}
		p := w.nsPath + "/" + name
		ch, err := do(ctx, func() (<-chan zk.Event, error) { _, _, ch, err := w.conn.GetW(p); return ch, err })
		if errors.Is(err, zk.ErrNoNode) {
			continue // deleted meanwhile: the child watch reports it
		}
		if err != nil {
			return confo.Snapshot{}, w.b.fail(w.op+": watch", p, err)
		}
		w.forward(ch)
		w.children[name] = true
	}
	return w.b.load(ctx, w.conn, w.ns)
}

// disarm records that the watch which reported ev is gone.
func (w *watch) disarm(ev zk.Event) error {
	if ev.Type == zk.EventNotWatching || ev.Err != nil {
		err := ev.Err
		if err == nil {
			err = zk.ErrClosing
		}
		return w.b.fail(w.op+": watches dropped", w.nsPath, err)
	}
	switch {
	case ev.Path == w.nsPath && ev.Type == zk.EventNodeChildrenChanged:
		w.childArmed = false
	case ev.Path == w.nsPath:
		w.nsArmed = false
		if ev.Type == zk.EventNodeDeleted {
			return fmt.Errorf("zookeeper: %s: %w", w.op, confo.ErrNamespaceNotFound)
		}
	default:
		delete(w.children, path.Base(ev.Path))
	}
	return nil
}

func (w *watch) run(ctx context.Context, snap confo.Snapshot, out chan<- confo.WatchBatch) {
	send := func(batch confo.WatchBatch) bool {
		select {
		case out <- batch:
			return batch.Err == nil
		case <-ctx.Done():
			return false
		}
	}
	tracker, first, ok := snapdiff.Start(snap, w.last)
	if ok && !send(first) {
		return
	}
	for {
		var ev zk.Event
		select {
		case <-ctx.Done():
			return
		case ev = <-w.fired:
		}
		err := w.disarm(ev)
		for drained := false; !drained && err == nil; { // take every watch that fired
			select {
			case ev = <-w.fired:
				err = w.disarm(ev)
			default:
				drained = true
			}
		}
		if err == nil {
			snap, err = w.armAndLoad(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if w.b.closed.Load() {
				err = fmt.Errorf("zookeeper: %s: %w", w.op, confo.ErrClosed)
			}
			send(confo.WatchBatch{Err: err})
			return
		}
		if batch, ok := tracker.Next(snap); ok && !send(batch) {
			return
		}
	}
}
