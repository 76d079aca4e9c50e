// Package forward is what the feature layers (schema, seal, changelog,
// metrics) share: a [Backend] that forwards every call of a confo.Backend
// and of its optional interfaces to the Backend it wraps. A layer embeds it
// and defines only the methods whose behaviour it changes, calling the
// wrapped Backend through it:
//
//	// wrapped is embedded under an unexported name, so that its fields
//	// stay unexported and its methods are promoted.
//	type wrapped = forward.Backend
//
//	type Backend struct {
//		wrapped
//		...
//	}
//
//	func Wrap(b confo.Backend) *Backend { return &Backend{wrapped: forward.New("schema", b)} }
//
//	func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
//		snap, err := b.wrapped.Load(ctx, ns)
//		...
//	}
//
// Embedding makes the layer implement every optional interface
// ([confo.Watcher], [confo.Historian], [confo.BatchLimiter],
// [confo.NamespaceDeleter], [confo.MetaStore], [confo.Checker]) and
// [confo.Unwrapper] ([All]), whatever it wraps: a call the wrapped Backend
// does not support returns an error wrapping [errors.ErrUnsupported] that
// names the layer, the operation and its namespace, and the wrapped
// Backend's type. confo's capability checks look through every layer
// ([confo.Unwrapper]) to the store, so this promises nothing the store
// cannot do. [Watch] and [DeleteNamespace] serve the layers that change
// what a watch reports or keep state per namespace.
package forward

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/confo-go/confo"
)

// Backend forwards every call to the Backend it wraps. Its zero value is
// not usable: make one with [New]. A Backend is a small value, immutable
// once made, and as safe for concurrent use as the Backend it wraps.
type Backend struct {
	name  string
	inner confo.Backend
}

// All is what a layer implements: a confo.Backend, every optional
// interface a layer forwards, and Unwrapper. A layer that embeds Backend
// says so with
//
//	var _ forward.All = (*Backend)(nil)
type All interface {
	confo.Backend
	confo.Watcher
	confo.Historian
	confo.BatchLimiter
	confo.NamespaceDeleter
	confo.MetaStore
	confo.Checker
	confo.Unwrapper
}

var _ All = Backend{}

// New returns a Backend that forwards to inner on behalf of the layer
// called name ("schema"), the name its errors start with.
func New(name string, inner confo.Backend) Backend {
	return Backend{name: name, inner: inner}
}

// Unwrap returns the wrapped Backend.
func (b Backend) Unwrap() confo.Backend { return b.inner }

// Namespaces lists the store's namespaces.
func (b Backend) Namespaces(ctx context.Context) ([]string, error) {
	return b.inner.Namespaces(ctx)
}

// CreateNamespace creates namespace ns.
func (b Backend) CreateNamespace(ctx context.Context, ns string) error {
	return b.inner.CreateNamespace(ctx, ns)
}

// Load reads namespace ns.
func (b Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	return b.inner.Load(ctx, ns)
}

// Commit commits ops to namespace ns, unchanged: a layer whose Commit
// passes on what it is given may leave [Backend.CheckValue]'s stamp the
// wrapped Checker's.
func (b Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.inner.Commit(ctx, ns, ops)
}

// Close closes the wrapped Backend.
func (b Backend) Close() error { return b.inner.Close() }

// Watch forwards to the wrapped Backend's [confo.Watcher].
func (b Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	w, ok := b.inner.(confo.Watcher)
	if !ok {
		return nil, b.unsupported(lacks[confo.Watcher](), "watch namespace %q", ns)
	}
	return w.Watch(ctx, ns, afterRev)
}

// History forwards to the wrapped Backend's [confo.Historian].
func (b Backend) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	h, ok := b.inner.(confo.Historian)
	if !ok {
		return nil, b.unsupported(lacks[confo.Historian](), "history of %q in namespace %q", name, ns)
	}
	return h.History(ctx, ns, name, limit)
}

// Version forwards to the wrapped Backend's [confo.Historian].
func (b Backend) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	h, ok := b.inner.(confo.Historian)
	if !ok {
		return confo.Version{}, 0, b.unsupported(lacks[confo.Historian](), "version of %q in namespace %q", name, ns)
	}
	return h.Version(ctx, ns, name, rev)
}

// BatchLimits returns the wrapped Backend's limits ([confo.BatchLimiter]),
// or no limits (the zero BatchLimits) when it has none. A layer that adds
// ops or bytes to a commit subtracts them from these.
func (b Backend) BatchLimits() confo.BatchLimits {
	if l, ok := b.inner.(confo.BatchLimiter); ok {
		return l.BatchLimits()
	}
	return confo.BatchLimits{}
}

// DeleteNamespace forwards to the wrapped Backend's
// [confo.NamespaceDeleter].
func (b Backend) DeleteNamespace(ctx context.Context, ns string) error {
	d, ok := b.inner.(confo.NamespaceDeleter)
	if !ok {
		return b.unsupported(lacks[confo.NamespaceDeleter](), "delete namespace %q", ns)
	}
	return d.DeleteNamespace(ctx, ns)
}

// LoadMeta forwards to the wrapped Backend's [confo.MetaStore].
func (b Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	ms, err := As[confo.MetaStore](b, "metadata", ns)
	if err != nil {
		return nil, err
	}
	return ms.LoadMeta(ctx, ns, prefix)
}

// CommitMeta forwards to the wrapped Backend's [confo.MetaStore].
func (b Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	ms, err := As[confo.MetaStore](b, "commit metadata", ns)
	if err != nil {
		return nil, err
	}
	return ms.CommitMeta(ctx, ns, ops, meta)
}

// CheckValue forwards to the wrapped Backend's [confo.Checker] and returns
// its stamp as the layer's (see [confo.Checker]: right for a layer whose
// Commit passes ops on unchanged); every value passes, with no stamp, when
// the wrapped Backend does not check. A layer that changes the ops it
// commits defines its own CheckValue.
func (b Backend) CheckValue(ns, name string, value map[string]any) (any, error) {
	if c, ok := b.inner.(confo.Checker); ok {
		return c.CheckValue(ns, name, value)
	}
	return nil, nil
}

// As returns the wrapped Backend as a T (an optional interface such as
// [confo.MetaStore]) for a layer's own method that needs it, or, when the
// wrapped Backend does not implement T, an error wrapping
// [errors.ErrUnsupported] naming the layer, the operation ("<what> of
// namespace <ns>") and the wrapped Backend's type.
func As[T any](b Backend, what, ns string) (T, error) {
	t, ok := b.inner.(T)
	if !ok {
		return t, b.unsupported(lacks[T](), "%s of namespace %q", what, ns)
	}
	return t, nil
}

// Capable reports whether the optional interface T (such as
// [confo.MetaStore]) is available through b: the Backend it wraps and
// every Backend that one wraps ([confo.Unwrapper]) implement T. A layer
// implements every optional interface whatever it wraps, so the wrapped
// Backend alone says nothing: what counts is the store beneath. A Backend
// whose Unwrap returns nil (not connected yet) is taken as capable.
func Capable[T any](b Backend) bool {
	for in := b.inner; in != nil; {
		if _, ok := in.(T); !ok {
			return false
		}
		u, ok := in.(confo.Unwrapper)
		if !ok {
			return true
		}
		in = u.Unwrap()
	}
	return true
}

// Watch watches namespace ns through b (the wrapped Backend's
// [confo.Watcher], or an error wrapping [errors.ErrUnsupported]) and
// passes each batch through each on its way to the caller, for a layer
// that reads or changes what a watch reports. The returned channel is
// closed after the wrapped one: when ctx is done, the batches still coming
// are dropped until the wrapped watch has ended, so every goroutine of the
// watch has ended when the channel is closed.
func Watch(ctx context.Context, b Backend, ns string, afterRev int64, each func(confo.WatchBatch) confo.WatchBatch) (<-chan confo.WatchBatch, error) {
	in, err := b.Watch(ctx, ns, afterRev)
	if err != nil {
		return nil, err
	}
	out := make(chan confo.WatchBatch)
	go func() {
		defer close(out)
		for batch := range in {
			batch = each(batch)
			select {
			case out <- batch:
			case <-ctx.Done():
				for range in { // the wrapped watch ends with ctx: let it finish
				}
				return
			}
		}
	}()
	return out, nil
}

// DeleteNamespace deletes namespace ns through b (the wrapped Backend's
// [confo.NamespaceDeleter], or an error wrapping [errors.ErrUnsupported])
// and then, holding mu, drops state[ns]: what the layer knew of ns.
func DeleteNamespace[V any](ctx context.Context, b Backend, ns string, mu sync.Locker, state map[string]V) error {
	if err := b.DeleteNamespace(ctx, ns); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	delete(state, ns)
	return nil
}

// unsupported returns the error of an operation (format, args) that the
// wrapped Backend does not support, lacking saying what it lacks.
func (b Backend) unsupported(lacking, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %T %s: %w", b.name, fmt.Sprintf(format, args...), b.inner, lacking, errors.ErrUnsupported)
}

// lacks says what a Backend that does not implement T lacks.
func lacks[T any]() string {
	switch any((*T)(nil)).(type) {
	case *confo.Watcher:
		return "cannot watch"
	case *confo.Historian:
		return "keeps no history"
	case *confo.NamespaceDeleter:
		return "cannot delete namespaces"
	case *confo.MetaStore:
		return "keeps no metadata"
	}
	return "does not implement " + reflect.TypeFor[T]().String()
}
