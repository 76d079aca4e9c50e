package confo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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
)

// String returns "put" or "delete".
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change of a configuration seen in the store by
// [Manager.Watch]. When an Event is received, the manager's in-memory view
// already holds the change.
type Event struct {
	// Namespace and Name say which configuration changed.
	Namespace, Name string
	// Type is EventPut or EventDelete.
	Type EventType
	// Value is the new configuration, a copy the receiver may change; nil
	// for EventDelete.
	Value map[string]any
	// Revision is the store revision of the change (for the file backend, a
	// hash of the content: equal revisions mean equal content, nothing
	// more).
	Revision int64
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
// subscriber of the manager. It applies what the store reports to the
// namespace's current view, then hands the events to the subscribers.
type sharedWatch struct {
	m      *Manager
	bs     *backendState
	ns     string
	w      Watcher
	cancel context.CancelFunc
	done   chan struct{}        // closed when run returns
	resync chan struct{}        // poked when Reload replaced the view
	subs   map[*subscriber]bool // guarded by Manager.mu
	pos    int64                // revision the stream is at; run's own
	stream context.CancelFunc   // cancels the current backend stream; run's own
	ch     <-chan WatchBatch    // the current backend stream, nil between streams
	bo     time.Duration        // current backoff; run's own
	view   *view                // the view the stream applies to; guarded by Manager.mu
}

// Watch returns a channel of the changes other writers make to namespace ns
// of the active backend, as they happen. Every event has already been
// applied to the manager's in-memory view when it is received, so Get after
// an event returns at least that event's value. The first Watch of a
// namespace loads it if this manager has not (without making it the
// namespace in use); every Watch of one namespace shares one backend watch,
// which starts at the revision the view was loaded at, so nothing between
// the load and the watch is missed, and which stays on the backend that was
// active when it started.
//
// Changes this manager persisted itself are in its view already and are not
// reported. A configuration with unsaved local changes is not overwritten
// by a remote change: the local change stays, and its Persist fails with
// [ErrConflict]. When the store has discarded the revisions the watch needs
// (etcd compaction), the manager reloads the namespace and reports the
// difference. Reload keeps working: the watch always applies to the current
// view.
//
// A receiver that falls behind never blocks the manager or other receivers
// and never misses the final state of a configuration: while it is behind,
// the changes of each configuration are coalesced into the latest one, and
// configurations are delivered in the order of their latest change, so
// revisions never go back. The exception is Reload: when the view it puts in
// is older than what the watch had applied, the watch replays the changes
// since that view, and events already delivered may come again.
//
// The channel is closed when ctx is done or the manager is closed; the
// backend watch stops with the last receiver. Errors of the store while
// watching are retried with exponential backoff (at most 5 s apart) and
// resumed from the last revision seen. Watch returns an error wrapping
// [errors.ErrUnsupported] if the backend cannot watch, and the errors of
// [Manager.UseNamespace] if the namespace cannot be loaded.
func (m *Manager) Watch(ctx context.Context, ns string) (<-chan Event, error) {
	s, _, err := m.subscribe(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	return s.out, nil
}

// subscribe registers a subscriber to namespace ns (only configuration only,
// if not ""), starting the shared watch if needed.
func (m *Manager) subscribe(ctx context.Context, ns, only string) (*subscriber, *sharedWatch, error) {
	if err := ValidateName(ns); err != nil {
		return nil, nil, fmt.Errorf("watch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("watch %q: %w", ns, err)
	}
	m.mu.Lock()
	bs, err := m.activeLocked()
	var loaded bool
	if err == nil {
		_, loaded = bs.views[ns]
	}
	m.mu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("watch %q: %w", ns, err)
	}
	w, ok := bs.b.(Watcher)
	if !ok {
		return nil, nil, fmt.Errorf("watch %q: backend %q (%T): %w", ns, bs.name, bs.b, errors.ErrUnsupported)
	}
	if !loaded {
		v, err := m.loadView(ctx, bs, ns)
		if err != nil {
			return nil, nil, fmt.Errorf("watch %q: %w", ns, err)
		}
		m.mu.Lock()
		if _, raced := bs.views[ns]; !raced && !m.closed {
			bs.views[ns] = v
			m.mirrorChanged(bs, ns)
		}
		m.mu.Unlock()
	}

	key := watchKey{bs: bs, ns: ns}
	s := newSubscriber(ns, only)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, nil, fmt.Errorf("watch %q: %w", ns, ErrClosed)
	}
	if sw := m.watches.active[key]; sw != nil {
		sw.subs[s] = true
		m.watches.wg.Add(1)
		m.mu.Unlock()
		go s.run(ctx, sw)
		return s, sw, nil
	}
	first := bs.views[ns]
	if first == nil { // cannot happen: views are only ever replaced
		m.mu.Unlock()
		return nil, nil, fmt.Errorf("watch %q: %w", ns, ErrNamespaceNotLoaded)
	}
	from := first.position()
	m.mu.Unlock()

	// Start the backend watch outside the lock, detached from the first
	// subscriber's cancellation: it lives as long as any subscriber.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sctx, stream := context.WithCancel(wctx)
	ch, err := w.Watch(sctx, ns, from)
	if err != nil && !errors.Is(err, ErrCompacted) {
		stream()
		cancel()
		return nil, nil, fmt.Errorf("watch %q on backend %q: %w", ns, bs.name, err)
	}
	sw := &sharedWatch{
		m: m, bs: bs, ns: ns, w: w, cancel: cancel,
		done:   make(chan struct{}),
		resync: make(chan struct{}, 1),
		subs:   map[*subscriber]bool{s: true},
		pos:    from,
		stream: stream,
		ch:     ch,
		view:   first,
	}
	m.mu.Lock()
	other := m.watches.active[key]
	if m.closed || other != nil {
		if other != nil {
			other.subs[s] = true
			m.watches.wg.Add(1)
		}
		closed := m.closed
		m.mu.Unlock()
		sw.stopStream()
		cancel()
		if closed {
			return nil, nil, fmt.Errorf("watch %q: %w", ns, ErrClosed)
		}
		go s.run(ctx, other)
		return s, other, nil
	}
	if m.watches.active == nil {
		m.watches.active = make(map[watchKey]*sharedWatch)
	}
	m.watches.active[key] = sw
	m.watches.wg.Add(2)
	m.mu.Unlock()
	go sw.run(wctx, errors.Is(err, ErrCompacted))
	go s.run(ctx, sw)
	return s, sw, nil
}

// stopWatches stops every shared watch and subscriber and waits for their
// goroutines. Manager.Close calls it once closed is set.
func (m *Manager) stopWatches() {
	m.mu.Lock()
	active := m.watches.active
	m.watches.active = nil
	m.mu.Unlock()
	for _, sw := range active {
		sw.cancel()
	}
	m.watches.wg.Wait()
}

// viewReplaced tells the shared watch of ns, if any, that Reload replaced
// its view. Call with mu held.
func (m *Manager) viewReplaced(bs *backendState, ns string) {
	if sw := m.watches.active[watchKey{bs: bs, ns: ns}]; sw != nil {
		select {
		case sw.resync <- struct{}{}:
		default:
		}
	}
}

// deletedInStore records that this manager deleted configuration name of v
// from the store, based on revision rev, for the watches. Call with mu held.
func (m *Manager) deletedInStore(v *view, name string, rev int64) {
	if len(m.watches.active) == 0 {
		return
	}
	if v.gone == nil {
		v.gone = make(map[string]int64)
	}
	v.gone[name] = rev
}

// position returns the store revision up to which the view reflects the
// store. Call with Manager.mu held.
func (v *view) position() int64 { return max(v.rev, v.applied) }

// ordered reports whether the view's store has ordered revisions.
func (v *view) ordered() bool { return v.rev > 0 }

// stopStream cancels the current backend stream and waits for it to close.
func (sw *sharedWatch) stopStream() {
	if sw.stream != nil {
		sw.stream()
		sw.stream = nil
	}
	if sw.ch != nil {
		for range sw.ch { // drain: the backend closes it once its ctx is done
		}
		sw.ch = nil
	}
}

// run keeps the backend watch going until ctx is done: it applies batches,
// restarts the stream after errors (with backoff) or after Reload replaced
// the view with an older one, and reloads the namespace on ErrCompacted.
func (sw *sharedWatch) run(ctx context.Context, compacted bool) {
	defer sw.m.watches.wg.Done()
	defer close(sw.done)
	defer sw.stopSubscribers()
	defer sw.stopStream()
	defer func() {
		sw.m.mu.Lock()
		defer sw.m.mu.Unlock()
		if sw.view != nil {
			sw.view.gone = nil
		}
	}()
	for {
		if ctx.Err() != nil {
			return
		}
		if compacted {
			if err := sw.reload(ctx); err != nil {
				sw.m.logger.Debug("confo: watch reload", "namespace", sw.ns, "error", err)
				if !sw.sleep(ctx) {
					return
				}
				continue
			}
			compacted = false
		}
		if sw.ch == nil {
			sw.m.mu.Lock()
			v := sw.bs.views[sw.ns]
			var from int64
			if v != nil {
				from = v.position()
				sw.view = v
			}
			sw.m.mu.Unlock()
			sctx, stream := context.WithCancel(ctx)
			ch, err := sw.w.Watch(sctx, sw.ns, from)
			if err != nil {
				stream()
				if ctx.Err() != nil {
					return
				}
				sw.m.logger.Debug("confo: watch", "namespace", sw.ns, "error", err)
				if errors.Is(err, ErrCompacted) {
					compacted = true
					continue
				}
				if !sw.sleep(ctx) {
					return
				}
				continue
			}
			sw.ch, sw.stream, sw.pos = ch, stream, from
		}
		select {
		case <-ctx.Done():
			return
		case <-sw.resync:
			sw.m.mu.Lock()
			behind := sw.behind()
			sw.m.mu.Unlock()
			if behind {
				sw.stopStream() // restart from the new view's revision
			}
		case b, ok := <-sw.ch:
			if !ok {
				sw.ch = nil
				sw.stopStream()
				if ctx.Err() != nil {
					return
				}
				if !sw.sleep(ctx) {
					return
				}
				continue
			}
			if (len(b.Changes) > 0 || b.Full) && !sw.apply(b) {
				sw.stopStream() // Reload replaced the view: restart from it
				continue
			}
			if b.Revision > sw.pos {
				sw.pos = b.Revision
			}
			if b.Err != nil {
				sw.stopStream()
				sw.m.logger.Debug("confo: watch", "namespace", sw.ns, "error", b.Err)
				if errors.Is(b.Err, ErrCompacted) {
					compacted = true
				} else if !sw.sleep(ctx) {
					return
				}
				continue
			}
			sw.bo = 0
		}
	}
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

// reload reads the namespace from the store and applies the difference to
// the view, as a Full batch.
func (sw *sharedWatch) reload(ctx context.Context) error {
	snap, err := sw.bs.b.Load(ctx, sw.ns)
	if err != nil {
		return fmt.Errorf("reload namespace %q: %w", sw.ns, err)
	}
	b := WatchBatch{Revision: snap.Revision, Full: true}
	for name, e := range snap.Entries {
		b.Changes = append(b.Changes, Change{Name: name, Value: e.Value, Revision: e.Revision})
	}
	slices.SortFunc(b.Changes, func(x, y Change) int {
		return cmp.Or(cmp.Compare(x.Revision, y.Revision), cmp.Compare(x.Name, y.Name))
	})
	sw.m.mu.Lock()
	sw.view = sw.bs.views[sw.ns] // a Full batch brings any view up to date
	sw.m.mu.Unlock()
	sw.apply(b)
	return nil
}

// behind reports whether Reload replaced the view the stream applies to with
// one older than the stream's position, so that the stream must restart from
// the new view. Call with Manager.mu held.
func (sw *sharedWatch) behind() bool {
	v := sw.bs.views[sw.ns]
	if v == nil || v == sw.view {
		return false
	}
	if v.ordered() && v.position() >= sw.pos {
		sw.view = v // ahead of the stream: the stream can go on
		return false
	}
	return true
}

// apply applies a batch to the namespace's current view under Manager.mu,
// then hands the resulting events to the subscribers. It returns false,
// applying nothing, if the stream must restart from a view Reload put in.
func (sw *sharedWatch) apply(b WatchBatch) bool {
	m := sw.m
	m.mu.Lock()
	v := sw.bs.views[sw.ns]
	if m.closed || v == nil {
		m.mu.Unlock()
		return true
	}
	if !b.Full && sw.behind() {
		m.mu.Unlock()
		return false
	}
	sw.view = v
	var events []Event
	if b.Full {
		events = sw.applyFull(v, b)
	} else {
		pos := v.position()
		for _, c := range b.Changes {
			if v.ordered() && c.Revision <= pos {
				continue // the view has it already
			}
			if ev, ok := sw.applyChange(v, c); ok {
				events = append(events, ev)
			}
		}
	}
	if v.ordered() && b.Revision > v.applied {
		v.applied = b.Revision
		for name, rev := range v.gone {
			if rev <= v.applied {
				delete(v.gone, name)
			}
		}
	}
	subs := make([]*subscriber, 0, len(sw.subs))
	for s := range sw.subs {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	if len(events) > 0 {
		m.mirrorChanged(sw.bs, sw.ns)
	}
	for _, s := range subs {
		s.push(events)
	}
	return true
}

// applyChange applies one change to v, replacing the whole item, and returns
// the event to report, if any. Call with Manager.mu held.
func (sw *sharedWatch) applyChange(v *view, c Change) (Event, bool) {
	cur := v.get(c.Name)
	switch {
	case cur != nil && cur.dirty:
		return Event{}, false // unsaved local change: its Persist will conflict
	case cur != nil && (c.Revision == cur.rev || v.ordered() && c.Revision < cur.rev):
		return Event{}, false // our own Persist's echo, or older than the view
	}
	if gone, ok := v.gone[c.Name]; ok && cur == nil {
		if c.Value != nil && (c.Revision == gone || v.ordered() && c.Revision < gone) {
			return Event{}, false // an older put than our own delete
		}
		delete(v.gone, c.Name)
	}
	ev := Event{Namespace: sw.ns, Name: c.Name, Revision: c.Revision}
	if c.Value == nil {
		if cur == nil {
			return Event{}, false
		}
		v.put(c.Name, nil)
		ev.Type = EventDelete
		return ev, true
	}
	obj, err := decodeObject(c.Value)
	if err != nil {
		sw.m.logger.Debug("confo: watch skipped a corrupt value", "namespace", sw.ns, "configuration", c.Name, "error", err)
		return Event{}, false
	}
	v.put(c.Name, &item{value: obj, rev: c.Revision})
	ev.Type, ev.Value = EventPut, obj
	return ev, true
}

// applyFull makes v equal to the complete state in b, except for unsaved
// local changes and configurations the view has in a newer version. Call
// with Manager.mu held.
func (sw *sharedWatch) applyFull(v *view, b WatchBatch) []Event {
	var events []Event
	pos := v.position()
	seen := make(map[string]bool, len(b.Changes))
	for _, c := range b.Changes {
		seen[c.Name] = true
		if c.Value == nil || v.ordered() && c.Revision <= pos {
			continue
		}
		if ev, ok := sw.applyChange(v, c); ok {
			events = append(events, ev)
		}
	}
	var gone []string
	v.each(func(name string, it *item) bool {
		if !seen[name] && it.value != nil && !it.dirty && it.rev != 0 && (!v.ordered() || it.rev <= b.Revision) {
			gone = append(gone, name)
		}
		return true
	})
	slices.Sort(gone)
	for _, name := range gone {
		v.put(name, nil)
		events = append(events, Event{Namespace: sw.ns, Name: name, Type: EventDelete, Revision: b.Revision})
	}
	return events
}

// stopSubscribers ends every subscriber of a stopped shared watch.
func (sw *sharedWatch) stopSubscribers() {
	sw.m.mu.Lock()
	defer sw.m.mu.Unlock()
	for s := range sw.subs {
		s.stopOnce.Do(func() { close(s.stop) })
	}
}

// subscriber is one receiver of a shared watch. Pending events are coalesced
// per configuration: at most one per name, kept in the order of their latest
// change, so a slow receiver holds at most one event per configuration.
type subscriber struct {
	ns, only string
	out      chan Event
	stop     chan struct{} // closed when the shared watch stops
	stopOnce sync.Once
	wake     chan struct{} // cap 1: pending changed

	mu      sync.Mutex
	seq     uint64
	pending map[string]pendingEvent
	order   []queued // names by seq; entries whose seq is stale are skipped
}

type pendingEvent struct {
	ev  Event
	seq uint64
}

type queued struct {
	name string
	seq  uint64
}

func newSubscriber(ns, only string) *subscriber {
	return &subscriber{
		ns: ns, only: only,
		out:     make(chan Event),
		stop:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		pending: make(map[string]pendingEvent),
	}
}

// push queues events, replacing any pending event of the same configuration.
func (s *subscriber) push(events []Event) {
	s.mu.Lock()
	n := 0
	for _, ev := range events {
		if s.only != "" && ev.Name != s.only {
			continue
		}
		s.seq++
		s.pending[ev.Name] = pendingEvent{ev: ev, seq: s.seq}
		s.order = append(s.order, queued{name: ev.Name, seq: s.seq})
		n++
	}
	if len(s.order) > 2*len(s.pending)+64 { // drop stale entries
		s.order = slices.DeleteFunc(s.order, func(q queued) bool {
			p, ok := s.pending[q.name]
			return !ok || p.seq != q.seq
		})
	}
	s.mu.Unlock()
	if n > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// next takes the pending event of the earliest latest change.
func (s *subscriber) next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) > 0 {
		q := s.order[0]
		s.order = s.order[1:]
		if p, ok := s.pending[q.name]; ok && p.seq == q.seq {
			delete(s.pending, q.name)
			return p.ev, true
		}
	}
	s.order = nil
	return Event{}, false
}

// run delivers pending events until ctx is done or the shared watch stops,
// then unregisters, stopping the shared watch if it was the last receiver,
// and closes the channel.
func (s *subscriber) run(ctx context.Context, sw *sharedWatch) {
	m := sw.m
	defer m.watches.wg.Done()
	defer close(s.out)
	defer func() {
		m.mu.Lock()
		delete(sw.subs, s)
		key := watchKey{bs: sw.bs, ns: sw.ns}
		last := len(sw.subs) == 0 && m.watches.active[key] == sw
		if last {
			delete(m.watches.active, key)
		}
		m.mu.Unlock()
		if last {
			sw.cancel()
			<-sw.done
		}
	}()
	for {
		ev, ok := s.next()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			}
		}
		if ev.Value != nil {
			ev.Value = copyObject(ev.Value)
		}
		select {
		case s.out <- ev:
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		}
	}
}
