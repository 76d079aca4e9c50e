package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confo-go/confo"
)

// Layer is a [confo.Layer]: it returns b wrapped in a Backend that records
// every Load, Commit and watch batch, or b itself when r records nothing
// (a nil provider). Give it to the Manager first in [confo.WithLayers], so
// that it measures what the Manager asks of the layers below it.
//
// The wrapper forwards the optional interfaces on purpose: it always
// implements [confo.Watcher], [confo.Historian], [confo.NamespaceDeleter]
// and [confo.MetaStore], whose calls return an error wrapping
// [errors.ErrUnsupported] when the wrapped backend does not implement
// them; [confo.BatchLimiter] (no limits when the wrapped backend has
// none); [confo.Checker] (every value passes when the wrapped backend does
// not check); and [confo.Unwrapper].
func (r *Recorder) Layer(b confo.Backend) confo.Backend {
	if !r.enabled() || b == nil {
		return b
	}
	return &backend{next: b, r: r}
}

// backend is the Backend that Layer returns.
type backend struct {
	next confo.Backend
	r    *Recorder
}

var (
	_ confo.Backend          = (*backend)(nil)
	_ confo.Watcher          = (*backend)(nil)
	_ confo.Historian        = (*backend)(nil)
	_ confo.BatchLimiter     = (*backend)(nil)
	_ confo.NamespaceDeleter = (*backend)(nil)
	_ confo.MetaStore        = (*backend)(nil)
	_ confo.Checker          = (*backend)(nil)
	_ confo.Unwrapper        = (*backend)(nil)
)

// saw notes that the store has reached revision rev for namespace ns.
func (b *backend) saw(ns string, rev int64) { b.r.saw(ns, rev) }

// Unwrap returns the wrapped Backend.
func (b *backend) Unwrap() confo.Backend { return b.next }

// Namespaces forwards to the wrapped backend.
func (b *backend) Namespaces(ctx context.Context) ([]string, error) {
	return b.next.Namespaces(ctx)
}

// CreateNamespace forwards to the wrapped backend.
func (b *backend) CreateNamespace(ctx context.Context, ns string) error {
	return b.next.CreateNamespace(ctx, ns)
}

// Load forwards to the wrapped backend and records its duration, outcome
// and bytes.
func (b *backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	start := time.Now()
	snap, err := b.next.Load(ctx, ns)
	b.r.recordLoad(ctx, ns, time.Since(start), snap, err)
	if err == nil {
		rev := snap.Revision
		for _, e := range snap.Entries {
			rev = max(rev, e.Revision)
		}
		b.saw(ns, rev)
	}
	return snap, err
}

// Commit forwards to the wrapped backend and records its duration,
// outcome, bytes and conflicts.
func (b *backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	start := time.Now()
	revs, err := b.next.Commit(ctx, ns, ops)
	b.r.recordCommit(ctx, ns, time.Since(start), ops, err)
	if err == nil && len(revs) > 0 {
		b.saw(ns, slices.Max(revs))
	}
	return revs, err
}

// Close forwards to the wrapped backend.
func (b *backend) Close() error { return b.next.Close() }

// unsupported is the error of an optional call the wrapped backend lacks.
func (b *backend) unsupported(op, what string) error {
	return fmt.Errorf("metrics: %s: backend %T %s: %w", op, b.next, what, errors.ErrUnsupported)
}

// Watch forwards to the wrapped backend's Watch and records each batch on
// its way to the caller. The returned channel is closed after the wrapped
// one, so every goroutine of the watch has ended when it is.
func (b *backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	w, ok := b.next.(confo.Watcher)
	if !ok {
		return nil, b.unsupported("watch "+ns, "cannot watch")
	}
	in, err := w.Watch(ctx, ns, afterRev)
	if err != nil {
		return nil, err
	}
	out := make(chan confo.WatchBatch)
	go func() {
		defer close(out)
		for batch := range in {
			b.r.recordBatch(ctx, ns, batch)
			if batch.Err == nil {
				b.saw(ns, batch.Revision)
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				for range in { // the wrapped watch ends with ctx: wait for it
				}
				return
			}
		}
	}()
	return out, nil
}

// History forwards to the wrapped backend's Historian.
func (b *backend) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	h, ok := b.next.(confo.Historian)
	if !ok {
		return nil, b.unsupported("history of "+ns+"/"+name, "keeps no history")
	}
	return h.History(ctx, ns, name, limit)
}

// Version forwards to the wrapped backend's Historian.
func (b *backend) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	h, ok := b.next.(confo.Historian)
	if !ok {
		return confo.Version{}, 0, b.unsupported("version of "+ns+"/"+name, "keeps no history")
	}
	return h.Version(ctx, ns, name, rev)
}

// BatchLimits forwards to the wrapped backend's BatchLimiter; no limits
// when it has none.
func (b *backend) BatchLimits() confo.BatchLimits {
	if l, ok := b.next.(confo.BatchLimiter); ok {
		return l.BatchLimits()
	}
	return confo.BatchLimits{}
}

// DeleteNamespace forwards to the wrapped backend's NamespaceDeleter.
func (b *backend) DeleteNamespace(ctx context.Context, ns string) error {
	d, ok := b.next.(confo.NamespaceDeleter)
	if !ok {
		return b.unsupported("delete namespace "+ns, "cannot delete namespaces")
	}
	return d.DeleteNamespace(ctx, ns)
}

// LoadMeta forwards to the wrapped backend's MetaStore.
func (b *backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	s, ok := b.next.(confo.MetaStore)
	if !ok {
		return nil, b.unsupported("load metadata of "+ns, "keeps no metadata")
	}
	return s.LoadMeta(ctx, ns, prefix)
}

// CommitMeta forwards to the wrapped backend's MetaStore and records it as
// a Commit.
func (b *backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	s, ok := b.next.(confo.MetaStore)
	if !ok {
		return nil, b.unsupported("commit metadata of "+ns, "keeps no metadata")
	}
	start := time.Now()
	revs, err := s.CommitMeta(ctx, ns, ops, meta)
	b.r.recordCommit(ctx, ns, time.Since(start), ops, err)
	if err == nil && len(revs) > 0 {
		b.saw(ns, slices.Max(revs))
	}
	return revs, err
}

// CheckValue forwards to the wrapped backend's Checker, whose stamp is
// the layer's (its Commit passes ops on unchanged); every value passes
// when it has none.
func (b *backend) CheckValue(ns, name string, value map[string]any) (any, error) {
	if c, ok := b.next.(confo.Checker); ok {
		return c.CheckValue(ns, name, value)
	}
	return nil, nil
}
