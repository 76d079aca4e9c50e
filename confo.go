package confo

import (
	"cmp"
	"context"
	"encoding/json"
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
	// persisting is a one-slot semaphore that serializes Persist and
	// Reload; a caller waiting for it gives up when its context is done.
	// Never taken under mu.
	persisting chan struct{}

	mu       sync.Mutex // guards the fields below and every change to a view
	backends map[string]*backendState
	active   *backendState
	closed   bool

	// read is what the lock-free readers see: replaced whole under mu.
	read atomic.Pointer[readState]

	watches watches // shared backend watches (watch.go), guarded by mu

	logger *slog.Logger

	layers []Layer // WithLayers (layer.go)
	author string  // WithAuthor (layer.go)

	historyLimit int     // WithHistoryLimit (history.go)
	mirror       *mirror // WithMirror (mirror.go); nil when off
}

// backendState is one registered backend and the namespaces loaded from it.
type backendState struct {
	name    string
	b       Backend
	views   map[string]*view // loaded namespaces, guarded by Manager.mu
	current string           // namespace in use, "" for none
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
// level. Credentials and values are never logged. The default logs nothing.
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
	if name == "" {
		return fmt.Errorf("load backend: %w: empty backend name", ErrInvalidName)
	}
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
	if err != nil && m.mirror != nil && unreachable(err) {
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

// AddBackend registers a backend built by hand under name. It returns
// [ErrBackendExists] if the name is taken. The Manager closes b in Close.
func (m *Manager) AddBackend(name string, b Backend) error {
	if name == "" {
		return fmt.Errorf("add backend: %w: empty backend name", ErrInvalidName)
	}
	if b == nil {
		return fmt.Errorf("add backend %q: %w: nil Backend", name, ErrInvalidValue)
	}
	if err := m.checkBackendName(name); err != nil {
		return fmt.Errorf("add backend: %w", err)
	}
	for i := len(m.layers) - 1; i >= 0; i-- {
		if b = m.layers[i](b); b == nil {
			return fmt.Errorf("add backend %q: layer %d: %w", name, i, errLayer)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("add backend %q: %w", name, ErrClosed)
	}
	if _, dup := m.backends[name]; dup {
		return fmt.Errorf("add backend %q: %w", name, ErrBackendExists)
	}
	m.backends[name] = &backendState{name: name, b: b, views: make(map[string]*view)}
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

// Backend returns the Backend registered under name, for calls outside the
// Manager's API (a store's own client, say). It returns [ErrBackendNotFound]
// for an unknown name and [ErrClosed] after [Manager.Close]. With
// [WithMirror], a backend registered while its store did not answer is
// [ErrStale] until it has connected.
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
	if l, ok := bs.b.(*lazyBackend); ok { // WithMirror: opened late
		if b := l.connected(); b != nil {
			return b, nil
		}
		return nil, fmt.Errorf("backend %q: %w: not connected yet", name, ErrStale)
	}
	return bs.b, nil
}

// Close closes every backend and returns their errors joined. Unsaved
// changes are discarded. Later calls return [ErrClosed].
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
	m.stopMirror()

	var errs []error
	for _, name := range slices.Sorted(maps.Keys(backends)) {
		if err := backends[name].b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close backend %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
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
// namespace and [ErrCorruptValue] if one of its values is not a JSON object.
// With [WithMirror], a store that does not answer makes it serve the
// namespace read-only from the mirror and return a [*StaleError] (see
// WithMirror), as it does on every use until the manager has caught up.
func (m *Manager) UseNamespace(ctx context.Context, ns string) error {
	if err := ValidateName(ns); err != nil {
		return fmt.Errorf("use namespace: %w", err)
	}
	m.mu.Lock()
	bs, err := m.activeLocked()
	if err == nil {
		if _, loaded := bs.views[ns]; loaded {
			bs.current = ns
			m.publish()
		}
	}
	loaded := err == nil && bs.current == ns
	var stale error
	if loaded {
		stale = m.staleLocked(bs.views[ns])
	}
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("use namespace %q: %w", ns, err)
	}
	if loaded {
		if stale != nil {
			return fmt.Errorf("use namespace %q: %w", ns, stale)
		}
		return nil
	}

	v, err := m.loadView(ctx, bs, ns)
	var se *StaleError
	if err != nil {
		var ok bool
		if v, se, ok = m.fromMirror(bs, ns, err); !ok {
			return fmt.Errorf("use namespace %q: %w", ns, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("use namespace %q: %w", ns, ErrClosed)
	}
	if _, raced := bs.views[ns]; !raced {
		bs.views[ns] = v
		m.installedLocked(ctx, bs, ns, v, se)
	}
	bs.current = ns
	if m.active == bs {
		m.publish()
	}
	if err := m.staleLocked(bs.views[ns]); err != nil {
		return fmt.Errorf("use namespace %q: %w", ns, err)
	}
	return nil
}

func (m *Manager) loadView(ctx context.Context, bs *backendState, ns string) (*view, error) {
	snap, err := bs.b.Load(ctx, ns)
	if err != nil {
		return nil, err
	}
	return newView(ns, snap)
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

// current returns the view in use for a read or write, or the error that
// says why there is none.
func (m *Manager) current(op string) (*view, error) {
	v, err := m.inUse()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// inUse returns the view in use, or the sentinel error that says why there
// is none.
func (m *Manager) inUse() (*view, error) {
	rs := m.read.Load()
	switch {
	case rs.closed:
		return nil, ErrClosed
	case rs.backend == "":
		return nil, ErrBackendNotActive
	case rs.view == nil:
		return nil, ErrNamespaceNotLoaded
	}
	return rs.view, nil
}

// ConfigCount returns the number of configurations in the namespace in use,
// counting unsaved changes.
func (m *Manager) ConfigCount() (int, error) {
	v, err := m.current("config count")
	if err != nil {
		return 0, err
	}
	n := 0
	v.each(func(_ string, it *item) bool {
		if it.value != nil {
			n++
		}
		return true
	})
	return n, nil
}

// Set replaces configuration name in the namespace in use with a copy of
// value (nil means an empty object). Numbers are normalized as Reload would
// read them back: see the package documentation. The change is in memory
// until Persist. It returns [ErrInvalidName] or [ErrInvalidValue] for what
// cannot be stored, and [ErrBackendNotActive] or [ErrNamespaceNotLoaded]
// when there is nowhere to set it.
func (m *Manager) Set(name string, value map[string]any) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	if value == nil {
		value = map[string]any{}
	}
	obj, err := normalize(value)
	if err != nil {
		return fmt.Errorf("set %q: %w", name, err)
	}
	return m.update("set", name, func(map[string]any) (map[string]any, error) { return obj, nil })
}

// SetField sets one field of configuration name to a copy of value,
// creating the configuration if it does not exist.
func (m *Manager) SetField(name, field string, value any) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("set field: %w", err)
	}
	if err := validateField(field); err != nil {
		return fmt.Errorf("set field of %q: %w", name, err)
	}
	x, err := normalizeField(value)
	if err != nil {
		return fmt.Errorf("set field %q of %q: %w", field, name, err)
	}
	return m.update("set field", name, func(old map[string]any) (map[string]any, error) {
		obj := make(map[string]any, len(old)+1)
		maps.Copy(obj, old) // a shallow copy is enough: values are never modified
		obj[field] = x
		return obj, nil
	})
}

// Delete removes configuration name from the namespace in use. The store
// keeps it until Persist. It returns [ErrConfigNotFound] if there is no such
// configuration.
func (m *Manager) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return m.update("delete", name, func(old map[string]any) (map[string]any, error) {
		if old == nil {
			return nil, ErrConfigNotFound
		}
		return nil, nil
	})
}

// update replaces configuration name in the view in use with what change
// returns given the current value (nil if absent).
func (m *Manager) update(op, name string, change func(old map[string]any) (map[string]any, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.current(op + " " + fmt.Sprintf("%q", name))
	if err != nil {
		return err
	}
	if err := m.staleLocked(v); err != nil {
		return fmt.Errorf("%s %q: %w", op, name, err)
	}
	old := v.get(name)
	if old == nil {
		old = &item{}
	}
	value, err := change(old.value)
	if err != nil {
		return fmt.Errorf("%s %q in namespace %q: %w", op, name, v.ns, err)
	}
	if value == nil && old.rev == 0 {
		v.put(name, nil) // never stored: nothing to delete on Persist
		return nil
	}
	v.put(name, &item{value: value, rev: old.rev, dirty: true})
	return nil
}

// Get returns a copy of configuration name in the namespace in use, which
// the caller may change. It returns [ErrConfigNotFound] if there is none.
func (m *Manager) Get(name string) (map[string]any, error) {
	it, err := m.lookup("get", name)
	if err != nil {
		return nil, err
	}
	return copyObject(it.value), nil
}

// GetField returns one field of configuration name. Objects and arrays are
// returned as copies. It returns [ErrConfigNotFound] or [ErrFieldNotFound].
func (m *Manager) GetField(name, field string) (any, error) {
	it, err := m.lookup("get field", name)
	if err != nil {
		return nil, err
	}
	x, ok := it.value[field]
	if !ok {
		return nil, fmt.Errorf("get field %q of %q: %w", field, name, ErrFieldNotFound)
	}
	switch x.(type) {
	case map[string]any, []any:
		return copyValue(x), nil
	}
	return x, nil
}

// GetAll returns a copy of every configuration in the namespace in use, by
// name.
func (m *Manager) GetAll() (map[string]map[string]any, error) {
	v, err := m.current("get all")
	if err != nil {
		return nil, err
	}
	all := make(map[string]map[string]any)
	v.each(func(name string, it *item) bool {
		if it.value != nil {
			all[name] = copyObject(it.value)
		}
		return true
	})
	return all, nil
}

// Decode stores configuration name into out, a pointer to a struct or map,
// as encoding/json would (json tags apply). It returns [ErrConfigNotFound]
// if there is no such configuration, and an error wrapping both
// [ErrInvalidValue] and encoding/json's error (such as a
// [*json.UnmarshalTypeError]) when the configuration does not fit out's
// type. It is safe for concurrent use.
func (m *Manager) Decode(name string, out any) error {
	it, err := m.lookup("decode", name)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(it.value)
	if err != nil {
		return fmt.Errorf("decode %q: %w", name, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		var bad *json.InvalidUnmarshalError // out is nil or not a pointer: the caller's mistake
		if errors.As(err, &bad) {
			return fmt.Errorf("decode %q: %w", name, err)
		}
		return fmt.Errorf("decode %q: %w: %w", name, ErrInvalidValue, err)
	}
	return nil
}

func (m *Manager) lookup(op, name string) (*item, error) {
	v, err := m.inUse()
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, name, err)
	}
	if it := v.lookup(name); it != nil {
		return it, nil
	}
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return nil, fmt.Errorf("%s %q in namespace %q: %w", op, name, v.ns, ErrConfigNotFound)
}

// Persist writes every unsaved change of every namespace loaded from the
// active backend to the store: only what changed since the last load or
// persist, deletes included. Each batch (etcd: one transaction of at most
// 128 operations) is atomic and guarded: if a configuration of a batch was
// changed in the store since this manager read it, the batch writes nothing
// and Persist returns an error wrapping [ErrConflict] naming it. Changes that
// were not written stay in memory, so a retry (after Reload, say) can
// succeed. Concurrent Persist calls are serialized; one waiting for another
// gives up when its ctx is done.
func (m *Manager) Persist(ctx context.Context) error {
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	defer m.unlockPersist()
	bs, views, err := m.loadedViews()
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	// Encode and check every namespace's changes before sending any, so
	// that a value too large fails the whole Persist with nothing sent.
	pending := make([][]change, len(views))
	for i, v := range views {
		if pending[i], err = m.changes(bs, v, nil); err != nil {
			return err
		}
	}
	for i, v := range views {
		if err := m.write(ctx, bs, v, pending[i]); err != nil {
			return err
		}
	}
	return nil
}

// PersistNamespace is Persist for the loaded namespace ns alone. It returns
// [ErrNamespaceNotLoaded] if this manager has not loaded ns.
func (m *Manager) PersistNamespace(ctx context.Context, ns string) error {
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("persist namespace %q: %w", ns, err)
	}
	defer m.unlockPersist()
	bs, v, err := m.loadedView("persist namespace", ns)
	if err != nil {
		return err
	}
	return m.persist(ctx, bs, v, nil)
}

// PersistConfig is Persist for configuration name of the loaded namespace ns
// alone. It returns [ErrConfigNotFound] if the namespace has no such
// configuration, saved or not.
func (m *Manager) PersistConfig(ctx context.Context, ns, name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("persist config: %w", err)
	}
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("persist config %q in namespace %q: %w", name, ns, err)
	}
	defer m.unlockPersist()
	bs, v, err := m.loadedView("persist config "+fmt.Sprintf("%q", name), ns)
	if err != nil {
		return err
	}
	if v.get(name) == nil {
		return fmt.Errorf("persist config %q in namespace %q: %w", name, ns, ErrConfigNotFound)
	}
	return m.persist(ctx, bs, v, &name)
}

// lockPersist waits for the turn to persist or reload, or for ctx to be done.
func (m *Manager) lockPersist(ctx context.Context) error {
	select {
	case m.persisting <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) unlockPersist() { <-m.persisting }

// loadedViews returns the active backend and its loaded views, by name.
func (m *Manager) loadedViews() (*backendState, []*view, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bs, err := m.activeLocked()
	if err != nil {
		return nil, nil, err
	}
	views := make([]*view, 0, len(bs.views))
	for _, ns := range slices.Sorted(maps.Keys(bs.views)) {
		views = append(views, bs.views[ns])
	}
	return bs, views, nil
}

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

// change is one unsaved configuration taken for a persist.
type change struct {
	name string
	it   *item
	op   Op
}

// persist writes the unsaved changes of v (only configuration only, if not
// nil) in batches. Call holding the persist turn (lockPersist).
func (m *Manager) persist(ctx context.Context, bs *backendState, v *view, only *string) error {
	changes, err := m.changes(bs, v, only)
	if err != nil {
		return err
	}
	return m.write(ctx, bs, v, changes)
}

// changes returns the unsaved changes of v (only configuration only, if not
// nil), sorted by name and encoded, or ErrValueTooLarge if one of them
// exceeds the backend's batch limits. Call holding the persist turn (lockPersist).
func (m *Manager) changes(bs *backendState, v *view, only *string) ([]change, error) {
	if err := m.checkStale(v); err != nil {
		return nil, fmt.Errorf("persist namespace %q: %w", v.ns, err)
	}
	var changes []change
	v.each(func(name string, it *item) bool {
		if it.dirty && (only == nil || *only == name) {
			changes = append(changes, change{name: name, it: it})
		}
		return true
	})
	if len(changes) == 0 {
		return nil, nil
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.name, b.name) })

	limits := batchLimits(bs)
	for i := range changes {
		c := &changes[i]
		c.op = Op{Name: c.name, Revision: c.it.rev}
		if c.it.value != nil {
			raw, err := encodeValue(c.it.value)
			if err != nil {
				return nil, fmt.Errorf("persist %q in namespace %q: %w", c.name, v.ns, err)
			}
			c.op.Value = raw
		}
		if limits.MaxBytes > 0 && opSize(c.op) > limits.MaxBytes {
			return nil, fmt.Errorf("persist %q in namespace %q: %w: %d bytes, backend %q takes at most %d",
				c.name, v.ns, ErrValueTooLarge, opSize(c.op), bs.name, limits.MaxBytes)
		}
	}
	return changes, nil
}

func batchLimits(bs *backendState) BatchLimits {
	if bl, ok := bs.b.(BatchLimiter); ok {
		return bl.BatchLimits()
	}
	return BatchLimits{}
}

// write sends changes of v in batches within the backend's limits. Call
// holding the persist turn.
func (m *Manager) write(ctx context.Context, bs *backendState, v *view, changes []change) error {
	limits := batchLimits(bs)
	for len(changes) > 0 {
		n := batchLen(changes, limits)
		batch := changes[:n]
		ops := make([]Op, n)
		for i, c := range batch {
			ops[i] = c.op
		}
		revs, err := bs.b.Commit(m.changeContext(ctx), v.ns, ops)
		if err != nil {
			return fmt.Errorf("persist namespace %q: %w", v.ns, err)
		}
		m.committed(v, batch, revs)
		m.mirrorChanged(bs, v.ns)
		m.logger.Debug("confo: persisted", "backend", bs.name, "namespace", v.ns, "configurations", n)
		changes = changes[n:]
	}
	return nil
}

func opSize(op Op) int { return len(op.Name) + len(op.Value) }

// batchLen returns how many of changes fit one Commit.
func batchLen(changes []change, limits BatchLimits) int {
	size := 0
	for i, c := range changes {
		if limits.MaxOps > 0 && i == limits.MaxOps {
			return i
		}
		size += opSize(c.op)
		if limits.MaxBytes > 0 && size > limits.MaxBytes && i > 0 {
			return i
		}
	}
	return len(changes)
}

// committed records the store's new revisions of a written batch. A
// configuration changed again while the batch was in flight stays dirty,
// now based on the revision just written.
func (m *Manager) committed(v *view, batch []change, revs []int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range batch {
		var rev int64
		if i < len(revs) {
			rev = revs[i]
		}
		now := v.get(c.name)
		switch {
		case now == nil:
			// deleted locally while in flight, never stored before: it is
			// in the store now, so its deletion is pending.
			if c.it.value != nil {
				v.put(c.name, &item{rev: rev, dirty: true})
			}
		case now == c.it:
			if c.it.value == nil {
				v.put(c.name, nil)
				m.deletedInStore(v, c.name, c.it.rev)
			} else {
				v.put(c.name, &item{value: c.it.value, rev: rev})
			}
		case now.value == nil && rev == 0:
			v.put(c.name, nil)
			m.deletedInStore(v, c.name, c.it.rev)
		default:
			v.put(c.name, &item{value: now.value, rev: rev, dirty: true})
		}
	}
}

// Reload reads every namespace loaded from the active backend again and
// replaces the in-memory view with what the store holds: unsaved local
// changes are discarded and configurations deleted in the store disappear.
// If any value is not a JSON object it returns [ErrCorruptValue] naming the
// key and leaves every view as it was.
func (m *Manager) Reload(ctx context.Context) error {
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	defer m.unlockPersist()
	bs, views, err := m.loadedViews()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	fresh := make([]*view, len(views))
	for i, v := range views {
		if fresh[i], err = m.loadView(ctx, bs, v.ns); err != nil {
			return fmt.Errorf("reload namespace %q: %w", v.ns, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("reload: %w", ErrClosed)
	}
	for _, v := range fresh {
		bs.views[v.ns] = v
		m.viewReplaced(bs, v.ns)
		m.mirrorChanged(bs, v.ns)
	}
	if m.active == bs {
		m.publish()
	}
	m.logger.Debug("confo: reloaded", "backend", bs.name, "namespaces", len(fresh))
	return nil
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
	m.mu.Lock()
	defer m.mu.Unlock()
	return NamespaceStatus{Namespace: ns, Backend: bs.name, Applied: v.position(), Stale: m.staleLocked(v) != nil}, nil
}

// Problems lists the current problems of namespace ns of the active
// backend (see [Problem]), sorted by name; nil when there are none or ns is
// not loaded. It does no I/O and is safe for concurrent use.
func (m *Manager) Problems(ns string) []Problem {
	st, err := m.Status(ns)
	if err != nil {
		return nil
	}
	return st.Problems
}
