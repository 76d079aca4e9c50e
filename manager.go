package confo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Manager holds a set of backends, one of them active, and an in-memory view
// of the namespaces loaded from the active backend. Configurations are read
// and changed in memory (Set, Get, ...) and moved to and from the store by
// Persist and Reload.
//
// A Manager is safe for concurrent use by many goroutines. Reads (Get,
// GetField, GetAll, Decode, ConfigCount) take no lock.
type Manager struct {
	// persisting is a one-slot semaphore that serializes Persist, Reload
	// and Rollback; a caller waiting for it gives up when its context is
	// done. Never taken under mu.
	persisting chan struct{}

	mu       sync.Mutex // guards the fields below (the views guard themselves)
	backends map[string]*backendState
	active   *backendState
	closed   bool

	// read is what the lock-free readers see: replaced whole under mu.
	read atomic.Pointer[readState]

	watches  watches // shared backend watches (watch.go), guarded by mu
	catching catchUp // the catch-up of stale namespaces (stale.go)
	logger   *slog.Logger

	layers       []Layer // WithLayers (layer.go)
	author       string  // WithAuthor (layer.go)
	historyLimit int     // WithHistoryLimit (history.go)
	mirrorDir    string  // WithMirror (mirror.go); "" when off
}

// backendState is one registered backend and the namespaces loaded from it.
type backendState struct {
	name    string
	b       Backend // the store's backend wrapped in the mirror and the layers
	store   Backend // the store's own backend (or the lazy stand-in for it)
	check   func(ns, name string, value map[string]any) (any, error)
	views   map[string]*view // loaded namespaces, guarded by Manager.mu
	current string           // namespace in use, "" for none
}

// checker returns the Checker of namespace ns, nil when no layer checks.
func (bs *backendState) checker(ns string) func(string, map[string]any) (any, error) {
	if bs.check == nil {
		return nil
	}
	return func(name string, value map[string]any) (any, error) { return bs.check(ns, name, value) }
}

// readState is an immutable snapshot of what readers need.
type readState struct {
	closed  bool
	backend string // active backend, "" for none
	view    *view  // namespace in use, nil for none
}

// Option configures a Manager.
type Option func(*Manager)

// WithLogger makes the Manager log what it persists and reloads at debug
// level, and quarantined values at warn level. Credentials and values are
// never logged. The default logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) { m.logger = l }
}

// New returns an empty Manager: no backend, no namespace. It does no I/O.
func New(opts ...Option) *Manager {
	m := &Manager{backends: make(map[string]*backendState), persisting: make(chan struct{}, 1)}
	for _, o := range opts {
		o(m)
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	m.read.Store(&readState{})
	return m
}

var defaultManager atomic.Pointer[Manager]

func init() { defaultManager.Store(New()) }

// Default returns the process-wide Manager, the port of the original's
// singleton Confo(). Every call returns the same Manager until [SetDefault].
// Closing it closes it for the whole process: a program that needs a
// manager again afterwards installs a new one with SetDefault(New()).
func Default() *Manager { return defaultManager.Load() }

// SetDefault replaces the process-wide Manager returned by [Default].
func SetDefault(m *Manager) { defaultManager.Store(m) }

// publish replaces the readers' snapshot. Call with mu held.
func (m *Manager) publish() {
	rs := &readState{closed: m.closed}
	if a := m.active; a != nil {
		rs.backend = a.name
		rs.view = a.views[a.current]
	}
	m.read.Store(rs)
}

// activeLocked returns the active backend. Call with mu held.
func (m *Manager) activeLocked() (*backendState, error) {
	if m.closed {
		return nil, ErrClosed
	}
	if m.active == nil {
		return nil, ErrBackendNotActive
	}
	return m.active, nil
}

func (m *Manager) activeBackend() (*backendState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.activeLocked()
}

// LoadBackend opens a backend of the given kind with creds and registers it
// under name. The kind's package must be imported (for etcd,
// github.com/confo-go/confo/backends/etcd); otherwise the error wraps
// [ErrUnknownBackendType] and names the import path. Bad credentials are
// [ErrInvalidCredentials]; a taken name is [ErrBackendExists]. The backend
// is not activated: see [Manager.ActivateBackend]. With [WithMirror], a
// store that does not answer still registers the backend, which connects
// on its next use, and the error wraps [ErrStale].
func (m *Manager) LoadBackend(ctx context.Context, name string, kind BackendType, creds Credentials) error {
	if err := m.checkBackendName(name); err != nil {
		return fmt.Errorf("load backend: %w", err)
	}
	open, err := lookupBackend(kind)
	if err != nil {
		return fmt.Errorf("load backend %q: %w", name, err)
	}
	if err := m.checkFree(name); err != nil {
		return fmt.Errorf("load backend %q: %w", name, err)
	}
	b, err := open(ctx, creds)
	if err != nil && m.mirrorDir != "" && unreachable(err) {
		// WithMirror: register it anyway; it connects on its next use.
		if aerr := m.AddBackend(name, newLazyBackend(name, kind, open, creds)); aerr != nil {
			return aerr
		}
		return fmt.Errorf("load backend %q: %w: the store did not answer; the backend connects on its next use, and namespaces it cannot load are served read-only from the mirror meanwhile: %w", name, ErrStale, err)
	}
	if err != nil {
		return fmt.Errorf("load backend %q: %w", name, err)
	}
	if err := m.AddBackend(name, b); err != nil {
		return errors.Join(err, b.Close())
	}
	return nil
}

func (m *Manager) checkFree(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, dup := m.backends[name]; dup {
		return ErrBackendExists
	}
	return nil
}

// checkBackendName rejects an empty backend name, and with [WithMirror] one
// that cannot name the mirror's directory.
func (m *Manager) checkBackendName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty backend name", ErrInvalidName)
	}
	if m.mirrorDir == "" {
		return nil
	}
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("%w (with WithMirror, a backend name names a directory)", err)
	}
	return nil
}

// AddBackend registers a backend built by hand under name. It returns
// [ErrBackendExists] if the name is taken. The Manager wraps it in the
// mirror ([WithMirror]) and the layers ([WithLayers]), and closes it in
// Close.
func (m *Manager) AddBackend(name string, b Backend) error {
	if err := m.checkBackendName(name); err != nil {
		return fmt.Errorf("add backend: %w", err)
	}
	if b == nil {
		return fmt.Errorf("add backend %q: %w: nil Backend", name, ErrInvalidValue)
	}
	bs := &backendState{name: name, store: b, b: b, views: make(map[string]*view)}
	if m.mirrorDir != "" {
		bs.b = newMirror(m.mirrorDir, name, b, m.logger)
	}
	for i := len(m.layers) - 1; i >= 0; i-- {
		if bs.b = m.layers[i](bs.b); bs.b == nil {
			return fmt.Errorf("add backend %q: layer %d: %w", name, i, errLayer)
		}
	}
	if c, ok := bs.b.(Checker); ok {
		bs.check = c.CheckValue
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("add backend %q: %w", name, ErrClosed)
	}
	if _, dup := m.backends[name]; dup {
		return fmt.Errorf("add backend %q: %w", name, ErrBackendExists)
	}
	m.backends[name] = bs
	return nil
}

// GetBackends lists the registered backends and the active one.
func (m *Manager) GetBackends() Backends {
	m.mu.Lock()
	defer m.mu.Unlock()
	bs := Backends{All: slices.Sorted(maps.Keys(m.backends))}
	if m.active != nil {
		bs.Active = m.active.name
	}
	return bs
}

// ActivateBackend makes the named backend the one every other call uses.
// Each backend keeps its own loaded namespaces and namespace in use, so
// switching back restores them. It returns [ErrBackendNotFound] for an
// unknown name.
func (m *Manager) ActivateBackend(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("activate backend %q: %w", name, ErrClosed)
	}
	bs, ok := m.backends[name]
	if !ok {
		return fmt.Errorf("activate backend %q: %w", name, ErrBackendNotFound)
	}
	m.active = bs
	m.publish()
	return nil
}

// Backend returns the store's own Backend registered under name (not
// wrapped in the mirror or the layers), for calls outside the Manager's API
// (a store's own client, say). It returns [ErrBackendNotFound] for an
// unknown name and [ErrClosed] after [Manager.Close]. With [WithMirror], a
// backend registered while its store did not answer is [ErrStale] until it
// has connected.
func (m *Manager) Backend(name string) (Backend, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("backend %q: %w", name, ErrClosed)
	}
	bs, ok := m.backends[name]
	if !ok {
		return nil, fmt.Errorf("backend %q: %w", name, ErrBackendNotFound)
	}
	if l, ok := bs.store.(*lazyBackend); ok { // WithMirror: opened late
		if b := l.connected(); b != nil {
			return b, nil
		}
		return nil, fmt.Errorf("backend %q: %w: not connected yet", name, ErrStale)
	}
	return bs.store, nil
}

// Close closes every backend and returns their errors joined. Unsaved
// changes are discarded. Later calls return [ErrClosed]; a second Close
// does nothing.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	backends := m.backends
	m.backends = make(map[string]*backendState)
	m.active = nil
	m.publish()
	m.mu.Unlock()
	m.stopWatches()
	m.stopCatchUp()

	var errs []error
	for _, name := range slices.Sorted(maps.Keys(backends)) {
		if err := backends[name].b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close backend %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Layered returns the Backend registered under name as the Manager calls
// it: the store's own wrapped in the mirror and the layers ([WithLayers]),
// outermost first, so that a caller can reach a layer's own API (walk it
// with [Unwrapper]). It returns the errors of [Manager.Backend].
func (m *Manager) Layered(name string) (Backend, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("backend %q: %w", name, ErrClosed)
	}
	bs, ok := m.backends[name]
	if !ok {
		return nil, fmt.Errorf("backend %q: %w", name, ErrBackendNotFound)
	}
	return bs.b, nil
}
