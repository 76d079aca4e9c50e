package metrics

import (
	"context"
	"slices"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/forward"
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
	return &backend{wrapped: forward.New("metrics", b), r: r}
}

// backend is the Backend that Layer returns. It forwards unchanged what it
// does not measure (Namespaces, CreateNamespace, Close, Unwrap, History,
// Version, BatchLimits, DeleteNamespace, LoadMeta, CheckValue).
type backend struct {
	wrapped // forwards what the layer does not change
	r       *Recorder
}

// wrapped is embedded under an unexported name, so that its fields stay
// unexported and its methods are promoted.
type wrapped = forward.Backend

// backend is a confo.Backend, Watcher, Historian, BatchLimiter,
// NamespaceDeleter, MetaStore, Checker and Unwrapper.
var _ forward.All = (*backend)(nil)

// saw notes that the store has reached revision rev for namespace ns.
func (b *backend) saw(ns string, rev int64) { b.r.saw(ns, rev) }

// Load forwards to the wrapped backend and records its duration, outcome
// and bytes.
func (b *backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	start := time.Now()
	snap, err := b.wrapped.Load(ctx, ns)
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
	revs, err := b.wrapped.Commit(ctx, ns, ops)
	b.r.recordCommit(ctx, ns, time.Since(start), ops, err)
	if err == nil && len(revs) > 0 {
		b.saw(ns, slices.Max(revs))
	}
	return revs, err
}

// Watch forwards to the wrapped backend's Watch and records each batch on
// its way to the caller. The returned channel is closed after the wrapped
// one, so every goroutine of the watch has ended when it is.
func (b *backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	return forward.Watch(ctx, b.wrapped, ns, afterRev, func(batch confo.WatchBatch) confo.WatchBatch {
		b.r.recordBatch(ctx, ns, batch)
		if batch.Err == nil {
			b.saw(ns, batch.Revision)
		}
		return batch
	})
}

// CommitMeta forwards to the wrapped backend's MetaStore and records it as
// a Commit.
func (b *backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	s, err := forward.As[confo.MetaStore](b.wrapped, "commit metadata", ns)
	if err != nil {
		return nil, err // not a commit: not recorded
	}
	start := time.Now()
	revs, err := s.CommitMeta(ctx, ns, ops, meta)
	b.r.recordCommit(ctx, ns, time.Since(start), ops, err)
	if err == nil && len(revs) > 0 {
		b.saw(ns, slices.Max(revs))
	}
	return revs, err
}
