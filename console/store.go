package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/confo-go/confo"
)

// The console must read and write any namespace of any backend without
// moving the namespace in use of the Manager it is given (a service's own),
// so every request works on a short-lived Manager of its own over the same
// Backend (the one the service's Manager registered, layers included, or
// the store's own wrapped in Options.Layers). That Manager is never closed:
// closing it would close the shared Backend; it holds no goroutine beyond
// the request's context.

// recorder wraps the shared Backend of one request's Manager and notes the
// revision of every configuration that Manager loaded, so that a save can
// be guarded by the revision the user read. It forwards the optional
// interfaces the console needs (Watcher, Historian, BatchLimiter, Checker)
// and Unwrap; the rest are not needed by a Manager that only reads, sets,
// deletes, persists, watches and rolls back.
type recorder struct {
	confo.Backend

	mu   sync.Mutex
	revs map[string]map[string]int64 // namespace -> name -> revision
}

var (
	_ confo.Watcher      = (*recorder)(nil)
	_ confo.Historian    = (*recorder)(nil)
	_ confo.BatchLimiter = (*recorder)(nil)
	_ confo.Checker      = (*recorder)(nil)
	_ confo.Unwrapper    = (*recorder)(nil)
)

// Load reads ns and notes the revision of each configuration.
func (r *recorder) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	s, err := r.Backend.Load(ctx, ns)
	if err != nil {
		return s, err
	}
	revs := make(map[string]int64, len(s.Entries))
	for name, e := range s.Entries {
		revs[name] = e.Revision
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revs == nil {
		r.revs = make(map[string]map[string]int64)
	}
	r.revs[ns] = revs
	return s, nil
}

// Commit writes ops and notes their new revisions.
func (r *recorder) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	revs, err := r.Backend.Commit(ctx, ns, ops)
	if err != nil {
		return revs, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revs == nil {
		r.revs = make(map[string]map[string]int64)
	}
	if r.revs[ns] == nil {
		r.revs[ns] = make(map[string]int64)
	}
	for i, op := range ops {
		if i < len(revs) && op.Value != nil {
			r.revs[ns][op.Name] = revs[i]
		} else {
			delete(r.revs[ns], op.Name)
		}
	}
	return revs, nil
}

// revision returns the revision at which configuration name of ns was last
// loaded or written through r; 0 when it was not there.
func (r *recorder) revision(ns, name string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.revs[ns][name]
}

// revisions returns a copy of the revisions noted for ns.
func (r *recorder) revisions(ns string) map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.revs[ns]))
	for k, v := range r.revs[ns] {
		out[k] = v
	}
	return out
}

// Watch forwards to the wrapped Backend's Watcher.
func (r *recorder) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	w, ok := r.Backend.(confo.Watcher)
	if !ok {
		return nil, fmt.Errorf("watch %q: %w", ns, errors.ErrUnsupported)
	}
	return w.Watch(ctx, ns, afterRev)
}

// History forwards to the wrapped Backend's Historian.
func (r *recorder) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	h, ok := r.Backend.(confo.Historian)
	if !ok {
		return nil, fmt.Errorf("history of %q in %q: %w", name, ns, errors.ErrUnsupported)
	}
	return h.History(ctx, ns, name, limit)
}

// Version forwards to the wrapped Backend's Historian.
func (r *recorder) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	h, ok := r.Backend.(confo.Historian)
	if !ok {
		return confo.Version{}, 0, fmt.Errorf("version of %q in %q: %w", name, ns, errors.ErrUnsupported)
	}
	return h.Version(ctx, ns, name, rev)
}

// BatchLimits forwards to the wrapped Backend's BatchLimiter (none: no
// limit).
func (r *recorder) BatchLimits() confo.BatchLimits {
	if l, ok := r.Backend.(confo.BatchLimiter); ok {
		return l.BatchLimits()
	}
	return confo.BatchLimits{}
}

// CheckValue forwards to the wrapped Backend's Checker (none: accept).
func (r *recorder) CheckValue(ns, name string, value map[string]any) error {
	if c, ok := r.Backend.(confo.Checker); ok {
		return c.CheckValue(ns, name, value)
	}
	return nil
}

// Unwrap returns the shared Backend.
func (r *recorder) Unwrap() confo.Backend { return r.Backend }

// Close does nothing: the shared Backend belongs to the service's Manager.
func (r *recorder) Close() error { return nil }

// access is one request's view of one backend: its own Manager over the
// shared Backend.
type access struct {
	backend string
	m       *confo.Manager
	rec     *recorder
}

// open returns an access to backend name of the console's Manager.
func (h *Handler) open(name string) (*access, error) {
	b, err := h.m.Backend(name)
	if err != nil {
		return nil, err
	}
	if len(h.o.Layers) > 0 {
		for {
			u, ok := b.(confo.Unwrapper)
			if !ok || u.Unwrap() == nil {
				break
			}
			b = u.Unwrap()
		}
		for i := len(h.o.Layers) - 1; i >= 0; i-- {
			if b = h.o.Layers[i](b); b == nil {
				return nil, fmt.Errorf("backend %q: console layer %d returned a nil Backend", name, i)
			}
		}
	}
	rec := &recorder{Backend: b}
	m := confo.New()
	if err := m.AddBackend(name, rec); err != nil {
		return nil, err
	}
	if err := m.ActivateBackend(name); err != nil {
		return nil, err
	}
	return &access{backend: name, m: m, rec: rec}, nil
}

// use loads namespace ns into the access's own Manager.
func (a *access) use(ctx context.Context, ns string) error {
	return a.m.UseNamespace(ctx, ns)
}

// namespaces lists the backend's namespaces, sorted.
func (a *access) namespaces(ctx context.Context) ([]string, error) {
	nss, err := a.m.GetNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(slices.Values(nss.All)), nil
}
