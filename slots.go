package confo

import (
	"sync"
	"sync/atomic"
)

// slots is the read side of a view: the effective item of each
// configuration, published for readers that take no lock. Writers (the
// view, under its mutex) replace whole items, so a reader sees either the
// old or the new version of a configuration, never a mix.
//
// Names live in slots. The slots of the names present at load time are in
// base, a plain map that is never modified once published, so a lookup is
// one map access and one atomic load. Names added later go to extra, a
// sync.Map, until extra grows large enough to be worth folding into a new
// base (amortized O(1) per insert).
type slots struct {
	base   atomic.Pointer[map[string]*slot]
	extra  atomic.Pointer[sync.Map] // name -> *slot, for names not in base
	nextra int                      // slots in extra; guarded by view.mu
}

// slot holds the current item of one name; nil when there is none.
type slot struct{ p atomic.Pointer[item] }

// item is what readers see of one configuration. It is never modified once
// published.
type item struct {
	// value is the effective configuration: the local edit if there is
	// one, else the stored value. nil means none (deleted locally, or a
	// stored value that is quarantined with no good one before it).
	value map[string]any
	// raw is the stored encoding of value when value is the stored one
	// (Decode reads it in one pass); nil for an edit.
	raw []byte
	// rev is the revision value is based on: the guard of an edit, or the
	// stored revision; 0 when the store does not have it.
	rev int64
	// err, when value is nil and the item is not an edit, says why: the
	// stored version is quarantined.
	err error
	// dirty marks a local edit not yet persisted.
	dirty bool
}

func (s *slots) initSlots() {
	base := make(map[string]*slot)
	s.base.Store(&base)
	s.extra.Store(new(sync.Map))
}

// slot returns the slot of name, or nil.
func (s *slots) slot(name string) *slot {
	extra := s.extra.Load() // before base: see fold
	if sl, ok := (*s.base.Load())[name]; ok {
		return sl
	}
	if sl, ok := extra.Load(name); ok {
		return sl.(*slot)
	}
	return nil
}

// get returns the item of name, or nil.
func (s *slots) get(name string) *item {
	if sl := s.slot(name); sl != nil {
		return sl.p.Load()
	}
	return nil
}

// put makes it the item of name; nil removes name. Call with view.mu held.
func (s *slots) put(name string, it *item) {
	if sl := s.slot(name); sl != nil {
		sl.p.Store(it)
		return
	}
	if it == nil {
		return
	}
	sl := new(slot)
	sl.p.Store(it)
	s.extra.Load().Store(name, sl)
	s.nextra++
	if base := *s.base.Load(); s.nextra > 64 && s.nextra > len(base)/4 {
		s.fold(base)
	}
}

// fold publishes a new base holding every slot, then an empty extra. A
// reader loads extra before base, so it sees either the old extra (which
// still holds the moved slots) or the new base: no name is ever missed.
func (s *slots) fold(base map[string]*slot) {
	merged := make(map[string]*slot, len(base)+s.nextra)
	for name, sl := range base {
		if sl.p.Load() != nil {
			merged[name] = sl
		}
	}
	s.extra.Load().Range(func(name, sl any) bool {
		merged[name.(string)] = sl.(*slot)
		return true
	})
	s.base.Store(&merged)
	s.extra.Store(new(sync.Map))
	s.nextra = 0
}

// each calls fn for every item, until fn returns false.
func (s *slots) each(fn func(name string, it *item) bool) {
	extra := s.extra.Load()
	base := *s.base.Load()
	for name, sl := range base {
		if it := sl.p.Load(); it != nil && !fn(name, it) {
			return
		}
	}
	extra.Range(func(name, sl any) bool {
		if _, folded := base[name.(string)]; folded {
			return true // moved to base by a fold since extra was loaded
		}
		if it := sl.(*slot).p.Load(); it != nil {
			return fn(name.(string), it)
		}
		return true
	})
}
