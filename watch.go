package confo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Change is one change of a configuration as a [Watcher] reports it.
type Change struct {
	// Name is the configuration's name.
	Name string
	// Value is the new encoded JSON object, or nil when the configuration
	// was deleted.
	Value []byte
	// Revision is the store revision of the change. For a put it is the
	// revision a Load would report in the configuration's [Entry], so that a
	// manager recognizes the echo of its own Persist.
	Revision int64
	// Err, when not nil, quarantines the change, as [Entry].Err does.
	Err error
}

// WatchBatch is what a [Watcher] sends on its channel: the changes of one or
// more store revisions, in revision order, or a terminal error.
type WatchBatch struct {
	// Changes lists the changes, in revision order.
	Changes []Change
	// Revision is the store revision the batch brings the watch up to:
	// resuming with afterRev = Revision misses nothing and repeats nothing.
	// It is 0 for stores without revisions.
	Revision int64
	// Full reports that Changes lists every configuration of the namespace
	// as of Revision: a configuration not in it does not exist. Backends
	// whose Snapshot.Revision is 0 (no store revision to resume from) start
	// every watch with a Full batch.
	Full bool
	// Err, when not nil, ends the watch: the channel is closed after this
	// batch. It wraps [ErrCompacted] when afterRev is no longer available.
	Err error
}

// Watcher is implemented by backends that report changes as they happen.
// [Manager.Watch] needs it; other backends make it return an error wrapping
// [errors.ErrUnsupported].
type Watcher interface {
	// Watch reports the changes of namespace ns made after store revision
	// afterRev (the Snapshot.Revision of a Load, or the Revision of the last
	// batch received), in revision order and without gaps. It returns
	// ErrNamespaceNotFound for a missing namespace and may return (or send)
	// ErrCompacted when the store no longer holds the changes after
	// afterRev. The channel is closed when ctx is done or after a batch with
	// an Err; every goroutine the watch started has ended by then. Stores
	// without revisions (Snapshot.Revision 0) ignore afterRev and start with
	// a Full batch instead.
	Watch(ctx context.Context, ns string, afterRev int64) (<-chan WatchBatch, error)
}

// EventType says what an [Event] did to its configuration.
type EventType int

// The kinds of [Event].
const (
	// EventPut means the configuration was created or replaced.
	EventPut EventType = iota + 1
	// EventDelete means the configuration was deleted.
	EventDelete
	// EventProblem means the store holds a version of the configuration
	// that is quarantined: not a JSON object, refused by a layer (a
	// schema, say), or under a name that is not a valid configuration
	// name. The view keeps the last good value; Err says what is wrong and
	// [Manager.Problems] lists it until a good version replaces it.
	EventProblem
)

// String returns "put" or "delete".
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventProblem:
		return "problem"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change of a configuration seen in the store by
// [Manager.Watch]. When an Event is received, the manager's in-memory view
// already holds the change.
type Event struct {
	// Namespace and Name say which configuration changed.
	Namespace, Name string
	// Type is EventPut, EventDelete or EventProblem.
	Type EventType
	// Value is the new configuration, a copy the receiver may change; nil
	// for EventDelete and EventProblem.
	Value map[string]any
	// Revision is the store revision of the change (for the file backend, a
	// hash of the content: equal revisions mean equal content, nothing
	// more).
	Revision int64
	// Err says what is wrong with the stored version, for EventProblem; it
	// wraps ErrCorruptValue, ErrInvalidName or a layer's error.
	Err error

	raw []byte // the stored encoding of Value, for Bind
}

// Backoff bounds of a shared watch that keeps failing.
const (
	watchMinBackoff = 50 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// watchKey names one shared watch: a namespace of one backend.
type watchKey struct {
	bs *backendState
	ns string
}

// watches is the Manager's set of shared watches.
type watches struct {
	wg     sync.WaitGroup            // every watch and subscriber goroutine
	active map[watchKey]*sharedWatch // guarded by Manager.mu
}

// sharedWatch is the one backend watch of a loaded namespace, shared by every
// subscriber of the manager. It hands what the store reports to the
// namespace's owner (the view), which applies it and reports the resulting
// events back through deliver.
type sharedWatch struct {
	m      *Manager
	bs     *backendState
	v      *view
	w      Watcher
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	pos    int64         // revision the stream is at; run's own
	bo     time.Duration // current backoff; run's own

	mu   sync.Mutex
	subs map[*subscriber]bool
}

// Watch returns a channel of the changes other writers make to namespace ns
// of the active backend, as they happen. Every event has already been
// applied to the manager's view of the store when it is received: Get after
// an event returns that event's value, unless this manager holds an unsaved
// local change of the configuration, which stays (its Persist then fails
// with [ErrConflict]). The first Watch of a namespace loads it if this
// manager has not (without making it the namespace in use); every Watch of
// one namespace shares one backend watch, which starts at the revision the
// view is at, so nothing between the load and the watch is missed, and
// which stays on the backend that was active when it started.
//
// Changes this manager persisted itself are in its view already and are not
// reported. A stored value that is not a JSON object, or that a layer
// refuses, is reported as an [EventProblem] and quarantined (see
// [Manager.Problems]). When the store has discarded the revisions the watch
// needs (etcd compaction), the manager reads the namespace again and
// reports the difference. A Reload reports the differences it brings too.
//
// A receiver that falls behind never blocks the manager or other receivers
// and never misses the final state of a configuration: while it is behind,
// the changes of each configuration are coalesced into the latest one, and
// configurations are delivered in the order of their latest change.
//
// The channel is closed when ctx is done or the manager is closed; the
// backend watch stops with the last receiver. Errors of the store while
// watching are retried with exponential backoff (at most 5 s apart) and
// resumed from the last revision seen. Watch returns an error wrapping
// [errors.ErrUnsupported] if the backend cannot watch, and the errors of
// [Manager.UseNamespace] if the namespace cannot be loaded.
func (m *Manager) Watch(ctx context.Context, ns string) (<-chan Event, error) {
	s, err := m.subscribe(ctx, ns, "", nil)
	if err != nil {
		return nil, err
	}
	return s.out, nil
}

// subscribe registers a subscriber to namespace ns (only configuration only,
// if not ""), starting the shared watch if needed. read, if not nil, is
// called with the view locked once the subscriber is registered: nothing
// that changes after it is missed by the subscriber.
func (m *Manager) subscribe(ctx context.Context, ns, only string, read func(*view)) (*subscriber, error) {
	if err := ValidateName(ns); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("watch %q: %w", ns, err)
	}
	bs, err := m.activeBackend()
	if err != nil {
		return nil, fmt.Errorf("watch %q: %w", ns, err)
	}
	if _, err := watcherOf(bs, ns); err != nil { // before loading ns
		return nil, err
	}
	bs, v, err := m.load(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("watch %q: %w", ns, err)
	}
	// The watcher of the backend ns was loaded from, which is another one
	// if ActivateBackend ran meanwhile.
	w, err := watcherOf(bs, ns)
	if err != nil {
		return nil, err
	}

	s := newSubscriber(ns, only)
	s.raw = read != nil
	key := watchKey{bs: bs, ns: ns}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("watch %q: %w", ns, ErrClosed)
	}
	sw := m.watches.active[key]
	fresh := sw == nil
	if fresh {
		// The backend watch lives as long as any subscriber, detached from
		// the first one's cancellation.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		sw = &sharedWatch{m: m, bs: bs, v: v, w: w, cancel: cancel, done: make(chan struct{}), subs: make(map[*subscriber]bool)}
		if m.watches.active == nil {
			m.watches.active = make(map[watchKey]*sharedWatch)
		}
		m.watches.active[key] = sw
		m.watches.wg.Add(1)
		defer func() { go sw.run(wctx) }()
	}
	v.listen(sw.deliver, func() {
		if fresh {
			sw.pos = v.applied
		}
		sw.mu.Lock()
		sw.subs[s] = true
		sw.mu.Unlock()
		if read != nil {
			read(v)
		}
	})
	m.watches.wg.Add(1)
	go s.run(ctx, sw)
	return s, nil
}

// watcherOf returns bs's backend as a Watcher, or an error wrapping
// errors.ErrUnsupported when it or a backend it wraps cannot watch.
func watcherOf(bs *backendState, ns string) (Watcher, error) {
	w, ok := bs.b.(Watcher)
	if !ok || !capable[Watcher](bs.b) {
		return nil, fmt.Errorf("watch %q: backend %q (%T): %w", ns, bs.name, unwrapAll(bs.b), errors.ErrUnsupported)
	}
	return w, nil
}

// deliver hands events to every subscriber. The view calls it with its lock
// held, in the order of the changes.
func (sw *sharedWatch) deliver(events []Event) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for s := range sw.subs {
		s.push(events)
	}
}

// unsubscribe removes s, stopping the shared watch if s was its last
// subscriber.
func (sw *sharedWatch) unsubscribe(s *subscriber) {
	m := sw.m
	m.mu.Lock()
	sw.mu.Lock()
	delete(sw.subs, s)
	last := len(sw.subs) == 0
	sw.mu.Unlock()
	key := watchKey{bs: sw.bs, ns: sw.v.ns}
	if last && m.watches.active[key] == sw {
		delete(m.watches.active, key)
		sw.v.listen(nil, nil)
	} else {
		last = false
	}
	m.mu.Unlock()
	if last {
		sw.cancel()
		<-sw.done
	}
}

// stopWatches stops every shared watch and subscriber and waits for their
// goroutines. Manager.Close calls it once closed is set.
func (m *Manager) stopWatches() {
	m.mu.Lock()
	active := m.watches.active
	m.watches.active = nil
	for _, sw := range active {
		sw.v.listen(nil, nil)
	}
	m.mu.Unlock()
	for _, sw := range active {
		sw.cancel()
	}
	m.watches.wg.Wait()
}

// run keeps the backend watch going until ctx is done: it hands batches to
// the view, restarts the stream after errors (with backoff), and reads the
// namespace again on ErrCompacted.
func (sw *sharedWatch) run(ctx context.Context) {
	defer sw.m.watches.wg.Done()
	defer close(sw.done)
	defer sw.stopSubscribers()
	for ctx.Err() == nil {
		err := sw.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		sw.m.logger.Debug("confo: watch", "namespace", sw.v.ns, "error", err)
		if errors.Is(err, ErrCompacted) {
			if err := sw.resync(ctx); err == nil {
				continue
			}
		}
		if !sw.sleep(ctx) {
			return
		}
	}
}

// stream runs one backend stream from sw.pos until it fails or ctx is done.
func (sw *sharedWatch) stream(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := sw.w.Watch(sctx, sw.v.ns, sw.pos)
	if err != nil {
		return err
	}
	defer func() {
		cancel()
		for range ch { // drain: the backend closes it once its ctx is done
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b, ok := <-ch:
			if !ok {
				return errors.New("the backend closed the watch")
			}
			if len(b.Changes) > 0 || b.Full {
				sw.v.applyBatch(b)
			} else {
				sw.v.mu.Lock()
				sw.v.advance(b.Revision)
				sw.v.mu.Unlock()
			}
			sw.pos = max(sw.pos, b.Revision)
			if b.Err != nil {
				return b.Err
			}
			sw.bo = 0
		}
	}
}

// resync reads the namespace from the store and hands it to the view as a
// complete state, keeping local edits.
func (sw *sharedWatch) resync(ctx context.Context) error {
	snap, err := sw.bs.b.Load(ctx, sw.v.ns)
	if err != nil {
		return fmt.Errorf("reload namespace %q: %w", sw.v.ns, err)
	}
	if snap.Stale != nil {
		return snap.Stale // from the mirror: not the store
	}
	sw.v.install(snap, false)
	sw.pos = snap.Revision
	return nil
}

// sleep waits for the next backoff delay; false if ctx ended first.
func (sw *sharedWatch) sleep(ctx context.Context) bool {
	sw.bo = min(max(2*sw.bo, watchMinBackoff), watchMaxBackoff)
	t := time.NewTimer(sw.bo)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// stopSubscribers ends every subscriber of a stopped shared watch.
func (sw *sharedWatch) stopSubscribers() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for s := range sw.subs {
		s.stopOnce.Do(func() { close(s.stop) })
	}
}
