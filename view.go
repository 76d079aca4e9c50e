package confo

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// view owns one loaded namespace: it keeps the store's state (stored) apart
// from this process's unsaved edits (edits), and every change to either goes
// through its methods, under its mutex:
//
//	install      a load, a Reload or the catch-up of a stale namespace
//	applyBatch   a watch batch (the store moved on)
//	edit         a local Set, SetField, Update, SetIf or Delete (viewedits.go)
//	pending      the edits Persist sends: those that differ from stored
//	committed    a Commit's revisions (stored moves forward, edits written go)
//
// This file holds the store's side (what loads and watches bring); the
// local side (edits, and what this manager's own commits wrote) is in
// viewedits.go.
//
// The store's state only ever moves forward: a watch advances it whether or
// not a configuration has an edit, and a commit's revision never moves it
// back. Readers never lock: after each change the view publishes the
// effective item of the configuration (the edit if any, else the stored
// value) in its slots (slots.go).
//
// Lock order: Manager.mu, then view.mu, then sharedWatch.mu, then
// subscriber.mu. No I/O and no user callback runs under view.mu, except a
// layer's Checker, which does no I/O.
type view struct {
	slots // the published items, read without locking

	ns      string
	ordered bool                                                 // the store's revisions are ordered (Snapshot.Revision > 0)
	check   func(name string, value map[string]any) (any, error) // a layer's Checker; nil for none
	log     *slog.Logger

	mu       sync.Mutex
	stored   map[string]*stored
	edits    map[string]*edit
	gone     map[string]int64   // deleted by this manager: name -> revision the delete was based on
	applied  int64              // store revision up to which stored is known
	problems map[string]Problem // by name
	stale    *StaleError        // served from the mirror, read-only
	sink     func([]Event)      // receives the events of store changes (watch.go)
}

// stored is the store's version of one configuration.
type stored struct {
	rev   int64          // store revision of the version in the store
	raw   []byte         // encoded value
	value map[string]any // decoded value; nil when the version is quarantined and none was good
	err   error          // non-nil: the version at rev is quarantined; raw and value are the last good one
}

// newView returns the owner of namespace ns as snap holds it.
func newView(ns string, snap Snapshot, check func(string, map[string]any) (any, error), log *slog.Logger) *view {
	v := &view{
		ns: ns, ordered: snap.Revision > 0, check: check, log: log,
		stored: make(map[string]*stored), edits: make(map[string]*edit),
		problems: make(map[string]Problem),
	}
	v.initSlots()
	v.load(snap)
	return v
}

// load fills a new view from snap: the common case of install, without
// events to report or slots to replace, so it builds the readers' map in
// one pass.
func (v *view) load(snap Snapshot) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stale = snap.Stale
	base := make(map[string]*slot, len(snap.Entries))
	var dec jsonvalue.Decoder // shares field names between configurations
	for name, e := range snap.Entries {
		c := Change{Name: name, Value: e.Value, Revision: e.Revision, Err: e.Err}
		err := refused(c.Err)
		if err == nil {
			err = ValidateName(name)
		}
		var value map[string]any
		if err == nil {
			if value, err = decodeObjectWith(&dec, e.Value); err != nil {
				err = fmt.Errorf("%w: %w", ErrCorruptValue, err)
			}
		}
		if err != nil {
			v.quarantine(c, fmt.Errorf("configuration %q in namespace %q at revision %d: %w", name, v.ns, e.Revision, err))
			continue
		}
		v.stored[name] = &stored{rev: e.Revision, raw: e.Value, value: value}
		sl := new(slot)
		sl.p.Store(&item{value: value, raw: e.Value, rev: e.Revision})
		base[name] = sl
	}
	for name, sl := range *v.base.Load() { // quarantined ones published above
		base[name] = sl
	}
	v.base.Store(&base)
	v.advance(snap.Revision)
}

// install makes stored what snap holds (the store wins): with dropEdits,
// every unsaved edit is discarded too. A snapshot older than what a watch
// has applied only moves configurations forward. It reports the differences
// to the watch. A snapshot served from the mirror makes the view stale; one
// from the store ends that.
func (v *view) install(snap Snapshot, dropEdits bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if dropEdits {
		for name := range v.edits {
			delete(v.edits, name)
			v.publish(name)
		}
	}
	v.stale = snap.Stale
	b := WatchBatch{Revision: snap.Revision, Full: true, Changes: make([]Change, 0, len(snap.Entries))}
	for name, e := range snap.Entries {
		b.Changes = append(b.Changes, Change{Name: name, Value: e.Value, Revision: e.Revision, Err: e.Err})
	}
	if v.sink != nil {
		// In revision order, so that the events it brings are too.
		slices.SortFunc(b.Changes, func(x, y Change) int {
			return cmp.Or(cmp.Compare(x.Revision, y.Revision), strings.Compare(x.Name, y.Name))
		})
	}
	if !v.ordered || snap.Revision >= v.applied {
		// The snapshot is the store at or after everything known: it
		// replaces what it does not hold, whatever its revision.
		v.gone = nil
		v.applied = 0
	}
	v.emit(v.applyFull(b))
}

// applyBatch applies a watch batch: the store's state moves forward, edits
// stay. It reports the changes to the watch.
func (v *view) applyBatch(b WatchBatch) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if b.Full {
		v.emit(v.applyFull(b))
		return
	}
	var dec jsonvalue.Decoder
	var events []Event
	for _, c := range b.Changes {
		if ev, ok := v.applyChange(&dec, c); ok {
			events = append(events, ev)
		}
	}
	v.advance(b.Revision)
	v.emit(events)
}

// applyFull makes stored equal to the complete state in b, except for
// configurations the view knows in a newer version. Call with mu held.
func (v *view) applyFull(b WatchBatch) []Event {
	var dec jsonvalue.Decoder
	var events []Event
	seen := make(map[string]bool, len(b.Changes))
	for _, c := range b.Changes {
		seen[c.Name] = true
		if c.Value == nil {
			continue
		}
		if ev, ok := v.applyChange(&dec, c); ok {
			events = append(events, ev)
		}
	}
	var gone []string
	for name, s := range v.stored {
		if !seen[name] && (!v.ordered || s.rev <= b.Revision) {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		delete(v.stored, name)
		delete(v.problems, name)
		v.publish(name)
		events = append(events, Event{Namespace: v.ns, Name: name, Type: EventDelete, Revision: b.Revision})
	}
	for name := range v.problems {
		if !seen[name] && ValidateName(name) != nil {
			delete(v.problems, name) // a foreign name gone from the store
		}
	}
	v.advance(b.Revision)
	return events
}

// advance records that stored reflects the store up to rev. Call with mu
// held.
func (v *view) advance(rev int64) {
	if !v.ordered || rev <= v.applied {
		return
	}
	v.applied = rev
	for name, g := range v.gone {
		if g <= rev {
			delete(v.gone, name)
		}
	}
}

// applyChange applies one change of the store and returns its event, if it
// changed what the view knows. Call with mu held.
func (v *view) applyChange(dec *jsonvalue.Decoder, c Change) (Event, bool) {
	ev := Event{Namespace: v.ns, Name: c.Name, Revision: c.Revision}
	if err := ValidateName(c.Name); err != nil {
		if c.Value == nil {
			delete(v.problems, c.Name)
			return Event{}, false
		}
		return v.quarantine(c, fmt.Errorf("configuration in namespace %q at revision %d: %w", v.ns, c.Revision, err))
	}
	s := v.stored[c.Name]
	if v.ordered {
		if c.Revision <= v.applied || s != nil && c.Revision <= s.rev {
			return Event{}, false // known already, or older than what is known
		}
		if g, ok := v.gone[c.Name]; ok && c.Value != nil && c.Revision <= g {
			return Event{}, false // an older put than this manager's delete
		}
	} else if s != nil && c.Value != nil && c.Revision == s.rev && s.err == nil {
		return Event{}, false // the same content
	}
	delete(v.gone, c.Name)
	e := v.edits[c.Name]
	if c.Value == nil {
		if s == nil && v.problems[c.Name].Err == nil {
			return Event{}, false
		}
		delete(v.stored, c.Name)
		delete(v.problems, c.Name)
		if e != nil && e.value == nil {
			// The store has what the edit wanted: most likely this
			// manager's own delete, whose reply is still on its way.
			delete(v.edits, c.Name)
			v.publish(c.Name)
			return Event{}, false
		}
		v.publish(c.Name)
		ev.Type = EventDelete
		return ev, true
	}
	err := refused(c.Err)
	var value map[string]any
	if err == nil {
		if value, err = decodeObjectWith(dec, c.Value); err != nil {
			err = fmt.Errorf("%w: %w", ErrCorruptValue, err)
		}
	}
	if err != nil {
		return v.quarantine(c, fmt.Errorf("configuration %q in namespace %q at revision %d: %w", c.Name, v.ns, c.Revision, err))
	}
	v.stored[c.Name] = &stored{rev: c.Revision, raw: c.Value, value: value}
	delete(v.problems, c.Name)
	if e != nil && e.value != nil && equalObjects(e.value, value) {
		// The store has what the edit wanted: most likely this manager's
		// own write, whose reply is still on its way. Not reported.
		delete(v.edits, c.Name)
		v.publish(c.Name)
		return Event{}, false
	}
	v.publish(c.Name)
	ev.Type, ev.Value, ev.raw = EventPut, value, c.Value
	return ev, true
}

// quarantine records that the version of c is refused: the view keeps the
// last good value, if any, and lists the problem. Call with mu held.
func (v *view) quarantine(c Change, err error) (Event, bool) {
	if old, ok := v.problems[c.Name]; ok && old.Revision == c.Revision {
		return Event{}, false // known already
	}
	v.log.Warn("confo: quarantined", "namespace", v.ns, "configuration", c.Name, "revision", c.Revision, "error", err)
	v.problems[c.Name] = Problem{Namespace: v.ns, Name: c.Name, Revision: c.Revision, Err: err}
	if ValidateName(c.Name) == nil {
		s := &stored{rev: c.Revision, err: err}
		if old := v.stored[c.Name]; old != nil {
			s.raw, s.value = old.raw, old.value
		}
		v.stored[c.Name] = s
		v.publish(c.Name)
	}
	return Event{Namespace: v.ns, Name: c.Name, Type: EventProblem, Revision: c.Revision, Err: err}, true
}

// refused returns the error of a value a layer refused (Entry.Err,
// Change.Err) as a quarantine reports it: wrapping ErrCorruptValue, so that
// reading the configuration is ErrCorruptValue whatever refused it, and
// still the layer's error (ErrInvalidValue for a schema). nil stays nil.
func refused(err error) error {
	if err == nil || errors.Is(err, ErrCorruptValue) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorruptValue, err)
}

// emit hands events to the watch, if one listens. Call with mu held.
func (v *view) emit(events []Event) {
	if v.sink != nil && len(events) > 0 {
		v.sink(events)
	}
}

// status returns the applied revision, staleness and problems.
func (v *view) status() (applied int64, stale bool, problems []Problem) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(v.problems)) {
		problems = append(problems, v.problems[name])
	}
	return v.applied, v.stale != nil, problems
}

// staleErr returns the StaleError of a view served from the mirror, or nil.
func (v *view) staleErr() *StaleError {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stale
}

// listen sets the function that receives the events of store changes (nil
// to stop), and calls read, under the view's lock, so that nothing between
// the read and the first event is missed.
func (v *view) listen(sink func([]Event), read func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sink = sink
	if read != nil {
		read()
	}
}

// publish makes the effective item of name visible to readers. Call with mu
// held.
func (v *view) publish(name string) {
	s, e := v.stored[name], v.edits[name]
	switch {
	case e != nil:
		it := &item{value: e.value, rev: e.base, dirty: true}
		if e.value == nil {
			it = &item{rev: e.base, dirty: true}
		}
		v.put(name, it)
	case s != nil && s.value != nil:
		v.put(name, &item{value: s.value, raw: s.raw, rev: s.rev})
	case s != nil:
		v.put(name, &item{rev: s.rev, err: s.err})
	default:
		v.put(name, nil)
	}
}
