package confo

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Namespaces describes a backend's namespaces, as the original's
// get_namespaces.
type Namespaces struct {
	// All lists the namespaces of the active backend's store, sorted. Names
	// are reported as given to CreateNamespace ("database"), not as the
	// store's key prefix ("/confo/database").
	All []string
	// Current is the namespace in use, or "" when none is.
	Current string
}

// CreateNamespace creates namespace ns in the active backend's store.
// Creating one that exists is not an error. It does not load or use it.
func (m *Manager) CreateNamespace(ctx context.Context, ns string) error {
	if err := ValidateName(ns); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	bs, err := m.activeBackend()
	if err != nil {
		return fmt.Errorf("create namespace %q: %w", ns, err)
	}
	if err := bs.b.CreateNamespace(ctx, ns); err != nil {
		return fmt.Errorf("create namespace %q: %w", ns, err)
	}
	return nil
}

// UseNamespace makes ns the namespace that Set, Get and the other
// configuration calls work on. The first use loads it from the store (one
// read); later uses switch to the loaded view without I/O (call Reload to
// refresh). It returns [ErrNamespaceNotFound] if the store has no such
// namespace. Stored values that are not JSON objects, or that a layer
// refuses, do not make it fail: they are quarantined (see
// [Manager.Problems]). With [WithMirror], a store that does not answer makes
// it serve the namespace read-only from the mirror and return a
// [*StaleError] (see WithMirror), as it does on every use until the manager
// has caught up.
func (m *Manager) UseNamespace(ctx context.Context, ns string) error {
	if err := ValidateName(ns); err != nil {
		return fmt.Errorf("use namespace: %w", err)
	}
	bs, v, err := m.load(ctx, ns)
	if err != nil {
		return fmt.Errorf("use namespace %q: %w", ns, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("use namespace %q: %w", ns, ErrClosed)
	}
	bs.current = ns
	if m.active == bs {
		m.publish()
	}
	if se := v.staleErr(); se != nil {
		return fmt.Errorf("use namespace %q: %w", ns, se)
	}
	return nil
}

// load returns the active backend and its view of ns, loading it from the
// store the first time.
func (m *Manager) load(ctx context.Context, ns string) (*backendState, *view, error) {
	m.mu.Lock()
	bs, err := m.activeLocked()
	var v *view
	if err == nil {
		v = bs.views[ns]
	}
	m.mu.Unlock()
	if err != nil || v != nil {
		return bs, v, err
	}
	snap, err := bs.b.Load(ctx, ns)
	if err != nil {
		return nil, nil, err
	}
	fresh := newView(ns, snap, bs.checker(ns), m.logger)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, ErrClosed
	}
	if v = bs.views[ns]; v != nil {
		return bs, v, nil // loaded meanwhile by another call
	}
	bs.views[ns] = fresh
	if snap.Stale != nil {
		m.startCatchUp(ctx)
	}
	return bs, fresh, nil
}

// Namespace returns the name of the namespace in use, or "" when none is.
func (m *Manager) Namespace() string {
	if v := m.read.Load().view; v != nil {
		return v.ns
	}
	return ""
}

// GetNamespaces lists the active backend's namespaces (sorted, as given to
// CreateNamespace) and the one in use.
func (m *Manager) GetNamespaces(ctx context.Context) (Namespaces, error) {
	m.mu.Lock()
	bs, err := m.activeLocked()
	var current string
	if err == nil {
		current = bs.current
	}
	m.mu.Unlock()
	if err != nil {
		return Namespaces{}, fmt.Errorf("get namespaces: %w", err)
	}
	all, err := bs.b.Namespaces(ctx)
	if err != nil {
		return Namespaces{}, fmt.Errorf("get namespaces of backend %q: %w", bs.name, err)
	}
	slices.Sort(all)
	return Namespaces{All: all, Current: current}, nil
}

// GetCount returns the number of namespaces in the active backend's store,
// as the original's get_count does.
func (m *Manager) GetCount(ctx context.Context) (int, error) {
	ns, err := m.GetNamespaces(ctx)
	if err != nil {
		return 0, err
	}
	return len(ns.All), nil
}

// Status reports namespace ns of the active backend as this manager holds
// it: the store revision applied, whether it is stale, and its problems. It
// returns [ErrNamespaceNotLoaded] if this manager has not loaded ns. It does
// no I/O and is safe for concurrent use.
func (m *Manager) Status(ns string) (NamespaceStatus, error) {
	bs, v, err := m.loadedView("status", ns)
	if err != nil {
		return NamespaceStatus{}, err
	}
	st := NamespaceStatus{Namespace: ns, Backend: bs.name}
	st.Applied, st.Stale, st.Problems = v.status()
	return st, nil
}

// Problems lists the current problems of namespace ns of the active
// backend (see [Problem]), sorted by name: quarantined values and names in
// the store that are not valid configuration names. It returns nil when
// there are none or ns is not loaded. It does no I/O and is safe for
// concurrent use.
func (m *Manager) Problems(ns string) []Problem {
	st, err := m.Status(ns)
	if err != nil {
		return nil
	}
	return st.Problems
}

// LoadedNamespaces returns the namespaces this manager has loaded from the
// active backend, sorted; nil when no backend is active. It does no I/O.
func (m *Manager) LoadedNamespaces() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil || m.closed {
		return nil
	}
	return slices.Sorted(maps.Keys(m.active.views))
}

// loadedView returns the active backend and its loaded view of ns.
func (m *Manager) loadedView(op, ns string) (*backendState, *view, error) {
	if err := ValidateName(ns); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	bs, err := m.activeLocked()
	if err != nil {
		return nil, nil, fmt.Errorf("%s in namespace %q: %w", op, ns, err)
	}
	v, ok := bs.views[ns]
	if !ok {
		return nil, nil, fmt.Errorf("%s in namespace %q: %w", op, ns, ErrNamespaceNotLoaded)
	}
	return bs, v, nil
}
