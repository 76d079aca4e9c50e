package confo

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/confo-go/confo/internal/jsonvalue"
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

// view is the in-memory copy of one loaded namespace. Readers use it without
// locking; writers, serialized by Manager.mu, replace whole items, so a
// reader sees either the old or the new version of a configuration, never a
// mix.
//
// Names live in slots. The slots of the names present at load time are in
// base, a plain map that is never modified once published, so a lookup is
// one map access and one atomic load. Names added later go to extra, a
// sync.Map, until extra grows large enough to be worth folding into a new
// base (amortized O(1) per insert).
type view struct {
	ns  string
	rev int64 // store revision the view was loaded at
	// applied is the store revision up to which a watch has applied the
	// store's changes (watch.go); guarded by Manager.mu.
	applied int64
	// gone holds the names this manager deleted from the store while a
	// watch ran, with the revision each delete was based on, so that the
	// late echo of an older put does not bring them back (watch.go);
	// guarded by Manager.mu.
	gone map[string]int64

	base   atomic.Pointer[map[string]*slot]
	extra  atomic.Pointer[sync.Map] // name -> *slot, for names not in base
	nextra int                      // slots in extra; guarded by Manager.mu
}

// slot holds the current item of one name; nil when there is none.
type slot struct{ p atomic.Pointer[item] }

// item is one configuration in a view. It is never modified once stored.
type item struct {
	// value is the normalized configuration; nil means deleted locally and
	// not yet persisted.
	value map[string]any
	// rev is the store revision value is based on; 0 means the store does
	// not have the configuration.
	rev int64
	// dirty marks a change not yet persisted.
	dirty bool
}

// newView decodes a snapshot into a view. A value that is not a JSON object
// is ErrCorruptValue naming its configuration.
func newView(ns string, snap Snapshot) (*view, error) {
	base := make(map[string]*slot, len(snap.Entries))
	var dec jsonvalue.Decoder // shares field names between configurations
	for name, e := range snap.Entries {
		obj, err := decodeObjectWith(&dec, e.Value)
		if err != nil {
			return nil, fmt.Errorf("configuration %q in namespace %q: %w: %w", name, ns, ErrCorruptValue, err)
		}
		s := new(slot)
		s.p.Store(&item{value: obj, rev: e.Revision})
		base[name] = s
	}
	v := &view{ns: ns, rev: snap.Revision}
	v.base.Store(&base)
	v.extra.Store(new(sync.Map))
	return v, nil
}

// slot returns the slot of name, or nil.
func (v *view) slot(name string) *slot {
	extra := v.extra.Load() // before base: see fold
	if s, ok := (*v.base.Load())[name]; ok {
		return s
	}
	if s, ok := extra.Load(name); ok {
		return s.(*slot)
	}
	return nil
}

// get returns the item of name, deleted or not, or nil.
func (v *view) get(name string) *item {
	if s := v.slot(name); s != nil {
		return s.p.Load()
	}
	return nil
}

// lookup returns the configuration name, or nil if it does not exist.
func (v *view) lookup(name string) *item {
	if it := v.get(name); it != nil && it.value != nil {
		return it
	}
	return nil
}

// put makes it the item of name; nil removes name. Call with Manager.mu held.
func (v *view) put(name string, it *item) {
	if s := v.slot(name); s != nil {
		s.p.Store(it)
		return
	}
	if it == nil {
		return
	}
	s := new(slot)
	s.p.Store(it)
	v.extra.Load().Store(name, s)
	v.nextra++
	if base := *v.base.Load(); v.nextra > 64 && v.nextra > len(base)/4 {
		v.fold(base)
	}
}

// fold publishes a new base holding every slot, then an empty extra. A
// reader loads extra before base, so it sees either the old extra (which
// still holds the moved slots) or the new base: no name is ever missed.
func (v *view) fold(base map[string]*slot) {
	merged := make(map[string]*slot, len(base)+v.nextra)
	for name, s := range base {
		if s.p.Load() != nil {
			merged[name] = s
		}
	}
	v.extra.Load().Range(func(name, s any) bool {
		merged[name.(string)] = s.(*slot)
		return true
	})
	v.base.Store(&merged)
	v.extra.Store(new(sync.Map))
	v.nextra = 0
}

// each calls fn for every item of the view, deleted ones included, until fn
// returns false.
func (v *view) each(fn func(name string, it *item) bool) {
	extra := v.extra.Load()
	base := *v.base.Load()
	for name, s := range base {
		if it := s.p.Load(); it != nil && !fn(name, it) {
			return
		}
	}
	extra.Range(func(name, s any) bool {
		if _, folded := base[name.(string)]; folded {
			return true // moved to base by a fold since extra was loaded
		}
		if it := s.(*slot).p.Load(); it != nil {
			return fn(name.(string), it)
		}
		return true
	})
}
