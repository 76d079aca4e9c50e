package confo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confo-go/confo/internal/atomicfile"
)

// WithMirror keeps a last-known-good copy of the store in directory dir, so
// that a service can start while its store is down.
//
// Every namespace the manager loads, reloads, persists, rolls back or
// updates by watch is mirrored, in the background and within moments, to
//
//	<dir>/<backend>/<namespace>/<name>.json
//
// where <backend> is the name given to LoadBackend or AddBackend, so that
// <dir>/<backend> is a directory the file backend can read. Each file holds
// a configuration as the store has it (unsaved local changes are not
// mirrored) and is replaced atomically (temporary file, fsync, rename); a
// file <namespace>/.confo-mirror, written last, records the store
// revisions and when the namespace was mirrored. Files and directories are
// private to the user (0600, 0700): configurations often hold secrets.
// [Manager.Close] waits for pending mirror writes. With WithMirror, backend
// names must be valid names ([ValidateName]); configurations whose names
// are longer than 250 bytes are not mirrored.
//
// When the store does not answer:
//   - LoadBackend registers the backend anyway when opening it fails for a
//     reason other than the credentials or names (an etcd cluster that is
//     down, say), and returns an error wrapping [ErrStale]. The backend
//     connects on its next use.
//   - UseNamespace, when loading a namespace fails for such a reason (not
//     [ErrNamespaceNotFound], [ErrCorruptValue], [ErrInvalidName], ...),
//     loads the namespace from the mirror if the mirror has it, makes it
//     the namespace in use and returns a [*StaleError] (wrapping [ErrStale]
//     and the store's error) that says since when the mirror is. Get,
//     GetField, GetAll, Decode and ConfigCount work on it; Set, SetField,
//     Delete, Persist and Rollback return a *StaleError; UseNamespace of it
//     returns one again.
//   - A background goroutine retries loading every stale namespace, with
//     exponential backoff (100 ms doubling up to 5 s), and swaps in the
//     store's view as soon as the store answers, after which writes work
//     again. [Manager.Reload] catches up too, when the store answers. The
//     goroutine ends once nothing is stale, or with Close.
//
// Errors writing the mirror are not returned (the store is the source of
// truth); they are logged at debug level (see [WithLogger]). A
// configuration changed locally before its stored version reached the
// mirror keeps its previous file, if any, until it is persisted or
// reloaded. An empty dir turns mirroring off.
func WithMirror(dir string) Option {
	return func(m *Manager) {
		if dir == "" {
			m.mirror = nil
			return
		}
		m.mirror = &mirror{dir: dir, pending: make(map[mirrorKey]bool), written: make(map[mirrorKey]*mirrored), stale: make(map[*view]*StaleError)}
	}
}

// StaleError is the error of calls on a namespace served from the mirror
// because the store did not answer (see [WithMirror]). It wraps [ErrStale]
// and the store's error, so errors.Is(err, ErrStale) and, say,
// errors.Is(err, context.DeadlineExceeded) both hold.
type StaleError struct {
	// Backend and Namespace name the stale namespace.
	Backend, Namespace string
	// Since is when the mirror was written: the view is the store as of
	// then.
	Since time.Time
	// Err is the store's error at the last attempt to read it.
	Err error
}

// Error says what is stale, since when and why.
func (e *StaleError) Error() string {
	return fmt.Sprintf("%v: namespace %q of backend %q is served read-only from the mirror written at %s: the store did not answer: %v",
		ErrStale, e.Namespace, e.Backend, e.Since.UTC().Format(time.RFC3339), e.Err)
}

// Unwrap returns ErrStale and the store's error.
func (e *StaleError) Unwrap() []error { return []error{ErrStale, e.Err} }

// Mirror bounds and names.
const (
	mirrorMeta        = ".confo-mirror"
	mirrorExt         = ".json"
	mirrorMaxName     = 255 - len(mirrorExt)
	staleMinBackoff   = 100 * time.Millisecond
	staleMaxBackoff   = 5 * time.Second
	staleLoadTimeout  = 30 * time.Second // bounds one catch-up attempt
	mirrorDirPerm     = 0o700
	mirrorFilePerm    = 0o600
	mirrorMetaVersion = 1
)

// mirror is the state of [WithMirror].
type mirror struct {
	dir string

	mu      sync.Mutex // guards the fields below; never held while taking Manager.mu
	pending map[mirrorKey]bool
	running bool
	closed  bool
	wg      sync.WaitGroup // the writer goroutine
	written map[mirrorKey]*mirrored

	// Guarded by Manager.mu:
	stale      map[*view]*StaleError // views served from the mirror
	recovering bool
	cancel     context.CancelFunc // stops the catch-up goroutine
	rwg        sync.WaitGroup     // the catch-up goroutine
}

// mirrorKey names a mirrored namespace.
type mirrorKey struct {
	bs *backendState
	ns string
}

// mirrored is what the mirror of one namespace holds: the store revision of
// each configuration file written. Used by the writer goroutine only.
type mirrored struct {
	revs map[string]int64
}

// mirrorMetadata is the content of <namespace>/.confo-mirror.
type mirrorMetadata struct {
	Format    int              `json:"format"`
	Backend   string           `json:"backend"`
	Namespace string           `json:"namespace"`
	Revision  int64            `json:"revision"`
	Written   time.Time        `json:"written"`
	Configs   map[string]int64 `json:"configurations"`
}

// checkBackendName rejects a backend name that cannot name a mirror
// directory.
func (m *Manager) checkBackendName(name string) error {
	if m.mirror == nil {
		return nil
	}
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("%w (with WithMirror, a backend name names a directory)", err)
	}
	return nil
}

// mirrorChanged queues namespace ns of bs for the mirror. It may be called
// with or without Manager.mu held.
func (m *Manager) mirrorChanged(bs *backendState, ns string) {
	mr := m.mirror
	if mr == nil {
		return
	}
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if mr.closed {
		return
	}
	mr.pending[mirrorKey{bs: bs, ns: ns}] = true
	if !mr.running {
		mr.running = true
		mr.wg.Add(1)
		go m.mirrorLoop()
	}
}

// mirrorLoop writes the queued namespaces until none is left.
func (m *Manager) mirrorLoop() {
	mr := m.mirror
	defer mr.wg.Done()
	for {
		mr.mu.Lock()
		if len(mr.pending) == 0 {
			mr.running = false
			mr.mu.Unlock()
			return
		}
		keys := mr.pending
		mr.pending = make(map[mirrorKey]bool)
		mr.mu.Unlock()
		for k := range keys {
			if err := m.mirrorSync(k); err != nil {
				m.logger.Debug("confo: mirror", "backend", k.bs.name, "namespace", k.ns, "error", err)
			}
		}
	}
}

// stopMirror stops the catch-up goroutine and waits for pending mirror
// writes. Close calls it once closed is set.
func (m *Manager) stopMirror() {
	mr := m.mirror
	if mr == nil {
		return
	}
	m.mu.Lock()
	cancel := mr.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	mr.rwg.Wait()
	mr.mu.Lock()
	mr.closed = true
	mr.mu.Unlock()
	mr.wg.Wait()
}

// mirrorSync writes the stored state of namespace k to the mirror: the
// configurations whose revision changed since the last write, removals,
// then the metadata.
func (m *Manager) mirrorSync(k mirrorKey) error {
	type config struct {
		value map[string]any
		rev   int64
	}
	clean := make(map[string]config)
	kept := make(map[string]bool) // unsaved local changes: keep their stored version
	m.mu.Lock()
	v := k.bs.views[k.ns]
	if v == nil || m.mirror.stale[v] != nil {
		m.mu.Unlock()
		return nil // nothing loaded, or the view is the mirror itself
	}
	pos := v.position()
	m.mu.Unlock()
	// Items are immutable and each is safe without the lock, as for GetAll:
	// an item newer than pos is fine (a watch resumed from pos skips what
	// is older than the view's item).
	v.each(func(name string, it *item) bool {
		switch {
		case !it.dirty && it.value != nil && it.rev != 0:
			clean[name] = config{it.value, it.rev}
		case it.dirty && it.rev != 0:
			kept[name] = true
		}
		return true
	})

	mr := m.mirror
	dir := filepath.Join(mr.dir, k.bs.name, k.ns)
	if err := os.MkdirAll(dir, mirrorDirPerm); err != nil {
		return err
	}
	state := mr.written[k]
	if state == nil {
		state = &mirrored{revs: readMirrorState(dir)}
		mr.written[k] = state
	}
	var errs []error
	for name, c := range clean {
		if len(name) > mirrorMaxName || state.revs[name] == c.rev {
			continue
		}
		raw, err := encodeValue(c.value)
		if err == nil {
			err = atomicfile.Write(filepath.Join(dir, name+mirrorExt), raw, mirrorFilePerm)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("configuration %q: %w", name, err))
			delete(state.revs, name)
			continue
		}
		state.revs[name] = c.rev
	}
	for name := range state.revs {
		if _, ok := clean[name]; ok || kept[name] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name+mirrorExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("configuration %q: %w", name, err))
			continue
		}
		delete(state.revs, name)
	}
	meta, err := json.Marshal(mirrorMetadata{
		Format: mirrorMetaVersion, Backend: k.bs.name, Namespace: k.ns,
		Revision: pos, Written: time.Now().UTC(), Configs: state.revs,
	})
	if err == nil {
		err = atomicfile.Write(filepath.Join(dir, mirrorMeta), meta, mirrorFilePerm)
	}
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// readMirrorState returns what the mirror in dir holds by its metadata,
// keeping only the configurations whose file exists, plus every other
// configuration file with revision 0 (so that it is rewritten or removed).
func readMirrorState(dir string) map[string]int64 {
	revs := make(map[string]int64)
	files, err := os.ReadDir(dir)
	if err != nil {
		return revs
	}
	for _, f := range files {
		if name, ok := strings.CutSuffix(f.Name(), mirrorExt); ok && f.Type().IsRegular() && ValidateName(name) == nil {
			revs[name] = 0
		}
	}
	if meta, err := readMirrorMeta(dir); err == nil {
		for name, rev := range meta.Configs {
			if _, ok := revs[name]; ok {
				revs[name] = rev
			}
		}
	}
	return revs
}

func readMirrorMeta(dir string) (mirrorMetadata, error) {
	var meta mirrorMetadata
	raw, err := os.ReadFile(filepath.Join(dir, mirrorMeta))
	if err != nil {
		return meta, err
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return meta, fmt.Errorf("%s: %w", filepath.Join(dir, mirrorMeta), err)
	}
	return meta, nil
}

// unreachable reports whether err, from opening a backend or loading a
// namespace, may mean the store did not answer, rather than that the
// request itself was wrong or given up by its caller.
func unreachable(err error) bool {
	for _, semantic := range []error{
		ErrNamespaceNotFound, ErrCorruptValue, ErrInvalidName, ErrInvalidCredentials,
		ErrInvalidValue, ErrUnknownBackendType, ErrBackendExists, ErrClosed, context.Canceled,
	} {
		if errors.Is(err, semantic) {
			return false
		}
	}
	return true
}

// fromMirror returns namespace ns of bs as the mirror holds it, with the
// StaleError to report, when loadErr says the store did not answer and the
// mirror has the namespace.
func (m *Manager) fromMirror(bs *backendState, ns string, loadErr error) (*view, *StaleError, bool) {
	if m.mirror == nil || !unreachable(loadErr) {
		return nil, nil, false
	}
	dir := filepath.Join(m.mirror.dir, bs.name, ns)
	meta, err := readMirrorMeta(dir)
	if err != nil {
		return nil, nil, false
	}
	snap := Snapshot{Entries: make(map[string]Entry, len(meta.Configs)), Revision: meta.Revision}
	for name, rev := range meta.Configs {
		if ValidateName(name) != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name+mirrorExt))
		if err != nil {
			continue // removed by hand: the mirror no longer has it
		}
		snap.Entries[name] = Entry{Value: raw, Revision: rev}
	}
	v, err := newView(ns, snap)
	if err != nil {
		m.logger.Debug("confo: mirror unreadable", "backend", bs.name, "namespace", ns, "error", err)
		return nil, nil, false
	}
	return v, &StaleError{Backend: bs.name, Namespace: ns, Since: meta.Written, Err: loadErr}, true
}

// installedLocked records that v was installed as namespace ns of bs:
// served from the mirror when se is not nil (starting the catch-up), else
// to be mirrored. Call with Manager.mu held.
func (m *Manager) installedLocked(ctx context.Context, bs *backendState, ns string, v *view, se *StaleError) {
	mr := m.mirror
	if mr == nil {
		return
	}
	if se == nil {
		m.mirrorChanged(bs, ns)
		return
	}
	mr.stale[v] = se
	if !mr.recovering && !m.closed {
		mr.recovering = true
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		mr.cancel = cancel
		mr.rwg.Add(1)
		go m.catchUp(rctx, cancel)
	}
}

// staleLocked returns the StaleError of v if v is served from the mirror.
// Call with Manager.mu held.
func (m *Manager) staleLocked(v *view) error {
	if m.mirror == nil || v == nil {
		return nil
	}
	if se := m.mirror.stale[v]; se != nil {
		return se
	}
	return nil
}

func (m *Manager) checkStale(v *view) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.staleLocked(v)
}

// catchUp retries loading every stale namespace, with exponential
// backoff, and swaps in the store's view of each as soon as it loads. It
// returns when nothing is stale or ctx is done.
func (m *Manager) catchUp(ctx context.Context, cancel context.CancelFunc) {
	mr := m.mirror
	defer mr.rwg.Done()
	defer cancel()
	type staleView struct {
		v  *view
		se *StaleError
		bs *backendState
	}
	bo := staleMinBackoff
	for {
		t := time.NewTimer(bo)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var todo []staleView
		m.mu.Lock()
		for v, se := range mr.stale {
			bs := m.backends[se.Backend]
			if m.closed || bs == nil || bs.views[v.ns] != v {
				delete(mr.stale, v) // replaced (by Reload, say) or gone
				continue
			}
			todo = append(todo, staleView{v, se, bs})
		}
		if len(todo) == 0 {
			mr.recovering = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()

		for _, s := range todo {
			lctx, done := context.WithTimeout(ctx, staleLoadTimeout)
			fresh, err := m.loadView(lctx, s.bs, s.v.ns)
			done()
			if ctx.Err() != nil {
				return
			}
			m.mu.Lock()
			switch {
			case err != nil:
				if mr.stale[s.v] != nil {
					se := *s.se
					se.Err = err
					mr.stale[s.v] = &se
				}
			case s.bs.views[s.v.ns] == s.v && !m.closed:
				s.bs.views[s.v.ns] = fresh
				delete(mr.stale, s.v)
				m.viewReplaced(s.bs, s.v.ns)
				m.mirrorChanged(s.bs, s.v.ns)
				if m.active == s.bs {
					m.publish()
				}
				m.logger.Debug("confo: caught up with the store", "backend", s.bs.name, "namespace", s.v.ns)
			}
			m.mu.Unlock()
		}
		bo = min(2*bo, staleMaxBackoff)
	}
}

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
)

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
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	w, ok := b.(Watcher)
	if !ok {
		return nil, fmt.Errorf("backend %q (%T): %w", l.name, b, errors.ErrUnsupported)
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
	h, err := l.historian(ctx)
	if err != nil {
		return nil, err
	}
	return h.History(ctx, ns, name, limit)
}

func (l *lazyBackend) Version(ctx context.Context, ns, name string, rev int64) (Version, int64, error) {
	h, err := l.historian(ctx)
	if err != nil {
		return Version{}, 0, err
	}
	return h.Version(ctx, ns, name, rev)
}

func (l *lazyBackend) historian(ctx context.Context) (Historian, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	h, ok := b.(Historian)
	if !ok {
		return nil, fmt.Errorf("backend %q (%T) keeps no history: %w", l.name, b, errors.ErrUnsupported)
	}
	return h, nil
}

func (l *lazyBackend) Close() error {
	l.closed.Store(true)
	if p := l.b.Swap(nil); p != nil {
		return (*p).Close()
	}
	return nil
}
