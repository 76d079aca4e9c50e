package confo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// WithMirror keeps a last-known-good copy of the store in directory dir, so
// that a service can start while its store is down.
//
// The mirror is a layer (see [Layer]) around each backend of the manager,
// below the layers of [WithLayers]: it sees exactly what the store says —
// the namespaces loaded, the commits with the revisions the store gave
// them, the batches of a watch — and never the manager's unsaved edits.
// It writes each namespace it has seen, in the background and within
// moments, as one consistent generation:
//
//	<dir>/<backend>/<namespace>  ->  .confo-generations/<namespace>/<generation>/
//	    <name>.json        one configuration as the store holds it
//	    .confo-mirror      the store revision, each file's revision, when
//
// where <backend> is the name given to LoadBackend or AddBackend.
// <dir>/<backend>/<namespace> is a symbolic link replaced atomically (by
// rename) once a generation is complete and synced, so a crash leaves the
// old generation or the new one, never a mix, and <dir>/<backend> stays a
// directory the file backend can read. A generation written after a
// commit is the store at the commit's revision as far as the mirror has
// seen the namespace; with a watch running it follows every other writer
// too. Files and directories are private to the user (0600, 0700):
// configurations often hold secrets. Names read from the store that are not
// valid names ([ValidateName]) are never written. [Manager.Close] waits for
// pending writes. With WithMirror, backend names must be valid names.
//
// When the store does not answer:
//   - LoadBackend registers the backend anyway when opening it fails for a
//     reason other than the credentials or names (an etcd cluster that is
//     down, say), and returns an error wrapping [ErrStale]. The backend
//     connects on its next use.
//   - UseNamespace, when loading a namespace fails for such a reason (not
//     [ErrNamespaceNotFound], [ErrInvalidName], ...), loads the namespace
//     from the mirror if the mirror has it, makes it the namespace in use
//     and returns a [*StaleError] (wrapping [ErrStale] and the store's
//     error) that says since when the mirror is. Get, GetField, GetAll,
//     Decode and ConfigCount work on it; Set, SetField, Update, Delete,
//     Persist and Rollback return a *StaleError; UseNamespace of it returns
//     one again. [Manager.Status] reports it stale.
//   - A background goroutine retries loading every stale namespace, with
//     exponential backoff (100 ms doubling up to 5 s), and installs the
//     store's state as soon as the store answers, after which writes work
//     again. [Manager.Reload] catches up too, when the store answers.
//
// Errors writing the mirror are not returned (the store is the source of
// truth); they are logged at debug level (see [WithLogger]). An empty dir
// turns mirroring off.
func WithMirror(dir string) Option {
	return func(m *Manager) { m.mirrorDir = dir }
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

// mirrorRefreshTimeout bounds the read of a namespace after a commit; Close
// waits for one in flight.
const mirrorRefreshTimeout = 5 * time.Second

// mirror is the layer of WithMirror around one backend.
type mirror struct {
	inner   Backend
	dir     string // the mirror's directory
	backend string // the backend's name: <dir>/<backend>
	log     *slog.Logger

	mu       sync.Mutex // guards the fields below
	state    map[string]*mirrorState
	pending  map[string]bool            // namespaces whose state changed: write a generation
	refresh  map[string]context.Context // namespaces to read again after a commit, with the commit's context
	watching map[string]int             // running watches by namespace
	running  bool
	closed   bool
	wg       sync.WaitGroup // the writer goroutine
	seq      int            // generation counter; the writer's own
}

// mirrorState is what the mirror knows of one namespace: the store's
// entries at a revision. It comes only from exact states: a Load, and the
// batches of a watch, which follow a Load without gaps; a commit is known
// only once a watch brings it or a refresh reads the namespace again, so
// that a generation is always the store at one revision.
type mirrorState struct {
	ordered  bool
	revision int64
	entries  map[string]Entry
}

// take makes snap, the store's whole namespace, the state.
func (st *mirrorState) take(snap Snapshot) {
	st.ordered, st.revision = snap.Revision > 0, snap.Revision
	st.entries = make(map[string]Entry, len(snap.Entries))
	for name, e := range snap.Entries {
		st.entries[name] = Entry{Value: e.Value, Revision: e.Revision}
	}
}

var (
	_ Backend          = (*mirror)(nil)
	_ Watcher          = (*mirror)(nil)
	_ Historian        = (*mirror)(nil)
	_ BatchLimiter     = (*mirror)(nil)
	_ NamespaceDeleter = (*mirror)(nil)
	_ MetaStore        = (*mirror)(nil)
	_ Unwrapper        = (*mirror)(nil)
)

func newMirror(dir, backend string, inner Backend, log *slog.Logger) *mirror {
	return &mirror{
		inner: inner, dir: dir, backend: backend, log: log,
		state: make(map[string]*mirrorState), pending: make(map[string]bool),
		refresh: make(map[string]context.Context), watching: make(map[string]int),
	}
}

// Unwrap returns the backend the mirror wraps.
func (mr *mirror) Unwrap() Backend { return mr.inner }

// Namespaces forwards to the store.
func (mr *mirror) Namespaces(ctx context.Context) ([]string, error) { return mr.inner.Namespaces(ctx) }

// CreateNamespace forwards to the store.
func (mr *mirror) CreateNamespace(ctx context.Context, ns string) error {
	return mr.inner.CreateNamespace(ctx, ns)
}

// Load reads the store and mirrors what it holds. When the store does not
// answer and the mirror has the namespace, it returns the mirror's
// snapshot with Stale set.
func (mr *mirror) Load(ctx context.Context, ns string) (Snapshot, error) {
	snap, err := mr.inner.Load(ctx, ns)
	if err == nil {
		mr.update(ns, func(st *mirrorState) { st.take(snap) })
		return snap, nil
	}
	if !unreachable(err) {
		return Snapshot{}, err
	}
	stale, since, rerr := mr.read(ns)
	if rerr != nil {
		mr.log.Debug("confo: mirror unreadable", "backend", mr.backend, "namespace", ns, "error", rerr)
		return Snapshot{}, err
	}
	stale.Stale = &StaleError{Backend: mr.backend, Namespace: ns, Since: since, Err: err}
	return stale, nil
}

// Commit writes to the store; the mirror learns what it wrote from the
// watch, or else reads the namespace again (see committed).
func (mr *mirror) Commit(ctx context.Context, ns string, ops []Op) ([]int64, error) {
	revs, err := mr.inner.Commit(ctx, ns, ops)
	if err == nil {
		mr.committed(ctx, ns)
	}
	return revs, err
}

// committed queues a read of namespace ns after a commit, unless a watch
// of it runs (it brings the commit, with every other writer's change before
// it, in order). A commit alone cannot move the state: its revisions do not
// say what else changed in the namespace since the state's revision (nor,
// for a delete, at which revision).
func (mr *mirror) committed(ctx context.Context, ns string) {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if mr.closed || mr.watching[ns] > 0 || mr.state[ns] == nil || mr.state[ns].entries == nil {
		return
	}
	mr.refresh[ns] = context.WithoutCancel(ctx)
	mr.startLocked()
}

// Watch forwards the store's watch, mirroring each batch before passing it
// on.
func (mr *mirror) Watch(ctx context.Context, ns string, afterRev int64) (<-chan WatchBatch, error) {
	w, ok := mr.inner.(Watcher)
	if !ok {
		return nil, fmt.Errorf("backend %q (%T): %w", mr.backend, mr.inner, errors.ErrUnsupported)
	}
	in, err := w.Watch(ctx, ns, afterRev)
	if err != nil {
		return nil, err
	}
	mr.mu.Lock()
	mr.watching[ns]++
	mr.mu.Unlock()
	out := make(chan WatchBatch)
	go func() {
		defer close(out)
		defer func() {
			mr.mu.Lock()
			mr.watching[ns]--
			mr.mu.Unlock()
		}()
		for b := range in {
			mr.watched(ns, b)
			select {
			case out <- b:
			case <-ctx.Done():
				for range in { // let the store's watch end
				}
				return
			}
		}
	}()
	return out, nil
}

// watched applies a watch batch to the namespace's state.
func (mr *mirror) watched(ns string, b WatchBatch) {
	if len(b.Changes) == 0 && !b.Full {
		return
	}
	mr.update(ns, func(st *mirrorState) {
		if st.entries == nil && !b.Full {
			return
		}
		if b.Full {
			st.entries = make(map[string]Entry, len(b.Changes))
		}
		for _, c := range b.Changes {
			if st.ordered && !b.Full && c.Revision <= st.revision {
				continue // in the state already: it is the store at st.revision
			}
			if c.Value == nil {
				delete(st.entries, c.Name)
			} else {
				st.entries[c.Name] = Entry{Value: c.Value, Revision: c.Revision}
			}
		}
		if b.Revision > st.revision {
			st.revision = b.Revision
		}
	})
}

// update changes the state of ns and queues it for writing.
func (mr *mirror) update(ns string, change func(*mirrorState)) {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if mr.closed && !mr.running {
		return // after Close, only the writer's own refresh still counts
	}
	st := mr.state[ns]
	if st == nil {
		st = &mirrorState{}
		mr.state[ns] = st
	}
	change(st)
	if st.entries == nil {
		return
	}
	mr.pending[ns] = true
	mr.startLocked()
}

// startLocked starts the writer goroutine unless it runs. Call with mu
// held.
func (mr *mirror) startLocked() {
	if !mr.running {
		mr.running = true
		mr.wg.Add(1)
		go mr.writeLoop()
	}
}

// writeLoop reads again the namespaces committed to and writes the queued
// ones, until none is left.
func (mr *mirror) writeLoop() {
	defer mr.wg.Done()
	for {
		mr.mu.Lock()
		if len(mr.pending) == 0 && len(mr.refresh) == 0 {
			mr.running = false
			mr.mu.Unlock()
			return
		}
		refresh := mr.refresh
		mr.refresh = make(map[string]context.Context)
		mr.mu.Unlock()
		for ns, ctx := range refresh {
			mr.reread(ctx, ns)
		}

		mr.mu.Lock()
		todo := make(map[string]mirrorState, len(mr.pending))
		for ns := range mr.pending {
			st := mr.state[ns]
			todo[ns] = mirrorState{ordered: st.ordered, revision: st.revision, entries: maps.Clone(st.entries)}
		}
		clear(mr.pending)
		mr.mu.Unlock()
		for ns, st := range todo {
			if err := mr.write(ns, st); err != nil {
				mr.log.Debug("confo: mirror", "backend", mr.backend, "namespace", ns, "error", err)
			}
		}
	}
}

// reread reads namespace ns from the store after a commit and takes the
// snapshot as its state, unless a newer state arrived meanwhile.
func (mr *mirror) reread(ctx context.Context, ns string) {
	ctx, cancel := context.WithTimeout(ctx, mirrorRefreshTimeout)
	defer cancel()
	snap, err := mr.inner.Load(ctx, ns)
	if err != nil {
		mr.log.Debug("confo: mirror refresh", "backend", mr.backend, "namespace", ns, "error", err)
		return
	}
	mr.update(ns, func(st *mirrorState) {
		if st.ordered && snap.Revision <= st.revision {
			return // a watch or a load brought as much already
		}
		st.take(snap)
	})
}

// History forwards to the store.
func (mr *mirror) History(ctx context.Context, ns, name string, limit int) ([]Version, error) {
	h, ok := mr.inner.(Historian)
	if !ok {
		return nil, fmt.Errorf("backend %q (%T) keeps no history: %w", mr.backend, mr.inner, errors.ErrUnsupported)
	}
	return h.History(ctx, ns, name, limit)
}

// Version forwards to the store.
func (mr *mirror) Version(ctx context.Context, ns, name string, rev int64) (Version, int64, error) {
	h, ok := mr.inner.(Historian)
	if !ok {
		return Version{}, 0, fmt.Errorf("backend %q (%T) keeps no history: %w", mr.backend, mr.inner, errors.ErrUnsupported)
	}
	return h.Version(ctx, ns, name, rev)
}

// BatchLimits forwards the store's limits.
func (mr *mirror) BatchLimits() BatchLimits {
	if bl, ok := mr.inner.(BatchLimiter); ok {
		return bl.BatchLimits()
	}
	return BatchLimits{}
}

// DeleteNamespace forwards to the store; the mirror keeps its last copy.
func (mr *mirror) DeleteNamespace(ctx context.Context, ns string) error {
	d, ok := mr.inner.(NamespaceDeleter)
	if !ok {
		return fmt.Errorf("backend %q (%T) cannot delete namespaces: %w", mr.backend, mr.inner, errors.ErrUnsupported)
	}
	return d.DeleteNamespace(ctx, ns)
}

// LoadMeta forwards to the store.
func (mr *mirror) LoadMeta(ctx context.Context, ns, prefix string) (map[string]Entry, error) {
	ms, ok := mr.inner.(MetaStore)
	if !ok {
		return nil, fmt.Errorf("backend %q (%T) keeps no metadata: %w", mr.backend, mr.inner, errors.ErrUnsupported)
	}
	return ms.LoadMeta(ctx, ns, prefix)
}

// CommitMeta forwards to the store, then mirrors the configurations it
// wrote.
func (mr *mirror) CommitMeta(ctx context.Context, ns string, ops []Op, meta []MetaOp) ([]int64, error) {
	ms, ok := mr.inner.(MetaStore)
	if !ok {
		return nil, fmt.Errorf("backend %q (%T) keeps no metadata: %w", mr.backend, mr.inner, errors.ErrUnsupported)
	}
	revs, err := ms.CommitMeta(ctx, ns, ops, meta)
	if err == nil && len(ops) > 0 {
		mr.committed(ctx, ns)
	}
	return revs, err
}

// Close waits for pending mirror writes (and a read after a commit, at most
// mirrorRefreshTimeout), then closes the store's backend.
func (mr *mirror) Close() error {
	mr.mu.Lock()
	mr.closed = true
	mr.mu.Unlock()
	mr.wg.Wait()
	return mr.inner.Close()
}
