package confo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
)

// lazyBackend stands for a backend whose store did not answer when
// LoadBackend opened it (see [WithMirror]): every call first opens it,
// within the call's context, until one succeeds.
type lazyBackend struct {
	name   string
	kind   BackendType
	open   OpenFunc
	creds  Credentials
	turn   chan struct{} // one-slot semaphore: one open at a time
	b      atomic.Pointer[Backend]
	closed atomic.Bool
}

var (
	_ Backend      = (*lazyBackend)(nil)
	_ Watcher      = (*lazyBackend)(nil)
	_ BatchLimiter = (*lazyBackend)(nil)
	_ Historian    = (*lazyBackend)(nil)
	_ MetaStore    = (*lazyBackend)(nil)
	_ Unwrapper    = (*lazyBackend)(nil)
)

// Unwrap returns the opened backend, or nil before it has connected.
func (l *lazyBackend) Unwrap() Backend { return l.connected() }

func (l *lazyBackend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]Entry, error) {
	ms, err := capability[MetaStore](ctx, l, " keeps no metadata")
	if err != nil {
		return nil, err
	}
	return ms.LoadMeta(ctx, ns, prefix)
}

func (l *lazyBackend) CommitMeta(ctx context.Context, ns string, ops []Op, meta []MetaOp) ([]int64, error) {
	ms, err := capability[MetaStore](ctx, l, " keeps no metadata")
	if err != nil {
		return nil, err
	}
	return ms.CommitMeta(ctx, ns, ops, meta)
}

func newLazyBackend(name string, kind BackendType, open OpenFunc, creds Credentials) *lazyBackend {
	return &lazyBackend{name: name, kind: kind, open: open, creds: maps.Clone(creds), turn: make(chan struct{}, 1)}
}

// connected returns the opened backend, or nil.
func (l *lazyBackend) connected() Backend {
	if p := l.b.Load(); p != nil {
		return *p
	}
	return nil
}

// get returns the opened backend, opening it if needed.
func (l *lazyBackend) get(ctx context.Context) (Backend, error) {
	if b := l.connected(); b != nil {
		return b, nil
	}
	select {
	case l.turn <- struct{}{}:
		defer func() { <-l.turn }()
	case <-ctx.Done():
		return nil, fmt.Errorf("connect backend %q: %w", l.name, ctx.Err())
	}
	if b := l.connected(); b != nil {
		return b, nil
	}
	if l.closed.Load() {
		return nil, fmt.Errorf("backend %q: %w", l.name, ErrClosed)
	}
	b, err := l.open(ctx, l.creds)
	if err != nil {
		return nil, fmt.Errorf("connect backend %q (%s): %w", l.name, l.kind, err)
	}
	l.b.Store(&b)
	if l.closed.Load() { // Close ran meanwhile: whoever swaps it out closes it
		if p := l.b.Swap(nil); p != nil {
			(*p).Close()
		}
		return nil, fmt.Errorf("backend %q: %w", l.name, ErrClosed)
	}
	return b, nil
}

func (l *lazyBackend) Namespaces(ctx context.Context) ([]string, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Namespaces(ctx)
}

func (l *lazyBackend) CreateNamespace(ctx context.Context, ns string) error {
	b, err := l.get(ctx)
	if err != nil {
		return err
	}
	return b.CreateNamespace(ctx, ns)
}

func (l *lazyBackend) Load(ctx context.Context, ns string) (Snapshot, error) {
	b, err := l.get(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	return b.Load(ctx, ns)
}

func (l *lazyBackend) Commit(ctx context.Context, ns string, ops []Op) ([]int64, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Commit(ctx, ns, ops)
}

func (l *lazyBackend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan WatchBatch, error) {
	w, err := capability[Watcher](ctx, l, "")
	if err != nil {
		return nil, err
	}
	return w.Watch(ctx, ns, afterRev)
}

func (l *lazyBackend) BatchLimits() BatchLimits {
	if bl, ok := l.connected().(BatchLimiter); ok {
		return bl.BatchLimits()
	}
	return BatchLimits{}
}

func (l *lazyBackend) History(ctx context.Context, ns, name string, limit int) ([]Version, error) {
	h, err := capability[Historian](ctx, l, " keeps no history")
	if err != nil {
		return nil, err
	}
	return h.History(ctx, ns, name, limit)
}

func (l *lazyBackend) Version(ctx context.Context, ns, name string, rev int64) (Version, int64, error) {
	h, err := capability[Historian](ctx, l, " keeps no history")
	if err != nil {
		return Version{}, 0, err
	}
	return h.Version(ctx, ns, name, rev)
}

// capability returns l's backend, opening it if needed, as the optional
// interface T, or an error wrapping [errors.ErrUnsupported] that names the
// backend and says what it lacks (" keeps no history").
func capability[T any](ctx context.Context, l *lazyBackend, lacks string) (T, error) {
	var zero T
	b, err := l.get(ctx)
	if err != nil {
		return zero, err
	}
	c, ok := b.(T)
	if !ok {
		return zero, fmt.Errorf("backend %q (%T)%s: %w", l.name, b, lacks, errors.ErrUnsupported)
	}
	return c, nil
}

func (l *lazyBackend) Close() error {
	l.closed.Store(true)
	if p := l.b.Swap(nil); p != nil {
		return (*p).Close()
	}
	return nil
}
