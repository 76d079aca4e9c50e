package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/confo-go/confo"
)

// HistoryLen is how many commits a Backend keeps for watches that resume
// from an older revision. A watch that asks for a revision older than the
// history gets [confo.ErrCompacted], as it would from a compacted etcd.
const HistoryLen = 1024

var _ confo.Watcher = (*Backend)(nil)

// history is the log of recent changes that watches read. Guarded by
// Backend.mu.
type history struct {
	log       []logEntry    // oldest first, by revision
	compacted int64         // changes at or below this revision are gone
	changed   chan struct{} // closed and replaced by each record and by Close
}

// logEntry is the changes one revision made to one namespace.
type logEntry struct {
	ns      string
	rev     int64
	changes []confo.Change
}

// record logs what ops did to ns at revision rev and wakes the watches.
// Call with b.mu held, after the change is applied.
func (b *Backend) record(ns string, rev int64, ops []confo.Op) {
	changes := make([]confo.Change, len(ops))
	for i, op := range ops {
		changes[i] = confo.Change{Name: op.Name, Value: slices.Clone(op.Value), Revision: rev}
	}
	h := &b.hist
	h.log = append(h.log, logEntry{ns: ns, rev: rev, changes: changes})
	if n := len(h.log) - HistoryLen; n > 0 {
		h.compacted = max(h.compacted, h.log[n-1].rev)
		h.log = slices.Delete(h.log, 0, n)
	}
	b.wake()
}

// wake wakes every watch. Call with b.mu held.
func (b *Backend) wake() {
	if b.hist.changed != nil {
		close(b.hist.changed)
		b.hist.changed = nil
	}
}

// waitChan returns a channel closed at the next change. Call with b.mu held.
func (b *Backend) waitChan() <-chan struct{} {
	if b.hist.changed == nil {
		b.hist.changed = make(chan struct{})
	}
	return b.hist.changed
}

// Compact discards the history of changes before revision rev, as etcd's
// compaction does: a later Watch with afterRev < rev-1 gets
// [confo.ErrCompacted], and so does a running watch that has not yet
// reported those changes. Useful in tests of watch resumption.
func (b *Backend) Compact(rev int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := &b.hist
	if rev-1 <= h.compacted {
		return
	}
	h.compacted = rev - 1
	i := sort.Search(len(h.log), func(i int) bool { return h.log[i].rev > h.compacted })
	h.log = slices.Delete(h.log, 0, i)
	b.wake()
}

// Watch reports the changes to namespace ns after revision afterRev (a
// Snapshot's Revision), from Commit, Put and Remove, each batch bringing the
// watch up to the store's revision. It returns ErrNamespaceNotFound for a
// missing namespace and ErrCompacted when afterRev is older than the
// history ([HistoryLen] commits, or what [Backend.Compact] left). The
// channel is closed when ctx is done, after a batch with an error (the
// backend closed, or the watch fell behind the history), and its goroutine
// ends with it.
func (b *Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("watch " + ns); err != nil {
		return nil, err
	}
	if _, ok := b.spaces[ns]; !ok {
		return nil, fmt.Errorf("memory: watch %q: %w", ns, confo.ErrNamespaceNotFound)
	}
	if afterRev < b.hist.compacted {
		return nil, fmt.Errorf("memory: watch %q after revision %d: %w (history starts after %d)",
			ns, afterRev, confo.ErrCompacted, b.hist.compacted)
	}
	ch := make(chan confo.WatchBatch)
	go b.watch(ctx, ns, afterRev, ch)
	return ch, nil
}

// watch sends the changes of ns after pos to ch until ctx is done.
func (b *Backend) watch(ctx context.Context, ns string, pos int64, ch chan<- confo.WatchBatch) {
	defer close(ch)
	for {
		batch, wait := b.next(ns, pos)
		if batch.Err != nil || len(batch.Changes) > 0 {
			select {
			case ch <- batch:
			case <-ctx.Done():
				return
			}
			if batch.Err != nil {
				return
			}
		}
		pos = batch.Revision
		select {
		case <-wait:
		case <-ctx.Done():
			return
		}
	}
}

// next returns the changes of ns after pos, up to the store's revision, in
// one batch, and a channel closed at the next change.
func (b *Backend) next(ns string, pos int64) (confo.WatchBatch, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("watch " + ns); err != nil {
		return confo.WatchBatch{Revision: pos, Err: err}, nil
	}
	h := &b.hist
	if pos < h.compacted {
		return confo.WatchBatch{Revision: pos, Err: fmt.Errorf("memory: watch %q after revision %d: %w (history starts after %d)",
			ns, pos, confo.ErrCompacted, h.compacted)}, nil
	}
	batch := confo.WatchBatch{Revision: b.rev}
	i := sort.Search(len(h.log), func(i int) bool { return h.log[i].rev > pos })
	for _, e := range h.log[i:] {
		if e.ns != ns {
			continue
		}
		for _, c := range e.changes {
			batch.Changes = append(batch.Changes, confo.Change{Name: c.Name, Value: slices.Clone(c.Value), Revision: c.Revision})
		}
	}
	return batch, b.waitChan()
}
