package confo

import (
	"fmt"
	"slices"
	"strings"
)

// The local side of a view (view.go): this process's edits, the Persist
// that takes them, and what this manager's own commits wrote.

// edit is one unsaved local change.
type edit struct {
	value map[string]any // nil: delete; never modified once taken
	base  int64          // the stored revision it is guarded by; 0: must not exist
	stamp any            // what the layer's Checker returned for value (Op.Checked)
}

// edit applies a local change: change gets the current value (nil if none)
// and returns the new one (nil to delete). When rev is not nil, the change
// is refused with ErrConflict unless the current value is based on revision
// *rev. An edit equal to the stored value is no edit at all.
func (v *view) edit(name string, rev *int64, change func(old map[string]any) (map[string]any, error)) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stale != nil {
		return v.stale
	}
	s, e := v.stored[name], v.edits[name]
	var old map[string]any
	var base int64
	switch {
	case e != nil:
		old, base = e.value, e.base
	case s != nil:
		old, base = s.value, s.rev
	}
	if rev != nil && *rev != base {
		return fmt.Errorf("%w: %q is at revision %d in this view, not %d", ErrConflict, name, base, *rev)
	}
	value, err := change(old)
	if err != nil {
		return err
	}
	var stamp any
	if v.check != nil {
		if stamp, err = v.check(name, value); err != nil {
			return err
		}
	}
	switch {
	case value == nil && s == nil && e == nil:
		// never stored: nothing to delete
	case s != nil && s.err == nil && base == s.rev && value != nil && equalObjects(value, s.value):
		delete(v.edits, name) // what the store has
	default:
		v.edits[name] = &edit{value: value, base: base, stamp: stamp}
	}
	v.publish(name)
	return nil
}

// pendingOp is an edit taken for a Persist.
type pendingOp struct {
	name string
	e    *edit
}

// pending returns the edits that differ from the stored state (only
// configuration only, if not ""), sorted by name. Call holding the persist
// turn.
func (v *view) pending(only string) ([]pendingOp, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stale != nil {
		return nil, v.stale
	}
	var out []pendingOp
	for name, e := range v.edits {
		if only != "" && name != only {
			continue
		}
		s := v.stored[name]
		if e.value == nil && s == nil && e.base == 0 {
			// Created and deleted here, never stored; a Persist in
			// flight that stored it would have rebased the delete.
			delete(v.edits, name)
			v.publish(name)
			continue
		}
		if s != nil && s.err == nil && e.value != nil && e.base == s.rev && equalObjects(e.value, s.value) {
			continue
		}
		out = append(out, pendingOp{name: name, e: e})
	}
	slices.SortFunc(out, func(a, b pendingOp) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// committed records what a Commit wrote: the stored state moves forward to
// the written versions (never back past a newer one a watch applied), the
// edits written are dropped, and an edit made while the Commit was in
// flight stays, now based on the revision written. raw holds the encoded
// values sent, revs the revisions the store returned.
func (v *view) committed(batch []pendingOp, raw [][]byte, revs []int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, p := range batch {
		var rev int64
		if i < len(revs) {
			rev = revs[i]
		}
		v.wrote(p.name, p.e.value, raw[i], rev, p.e.base)
		if cur := v.edits[p.name]; cur == p.e {
			delete(v.edits, p.name)
		} else if cur != nil && cur.base == p.e.base {
			cur.base = rev
		}
		v.publish(p.name)
	}
}

// wrote moves the stored state of name to what this manager wrote: value
// (nil for a delete) at revision rev, based on revision base. Call with mu
// held.
func (v *view) wrote(name string, value map[string]any, raw []byte, rev, base int64) {
	s := v.stored[name]
	if value == nil {
		if s != nil && (!v.ordered || s.rev <= base) {
			delete(v.stored, name)
			delete(v.problems, name)
		}
		if v.ordered {
			if v.gone == nil {
				v.gone = make(map[string]int64)
			}
			v.gone[name] = base
		}
		return
	}
	if s == nil || !v.ordered || s.rev < rev {
		v.stored[name] = &stored{rev: rev, raw: raw, value: value}
		delete(v.problems, name)
	}
}

// rolledBack records a Rollback's write, which replaces any edit of name,
// as Reload would.
func (v *view) rolledBack(name string, value map[string]any, raw []byte, rev, base int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.edits, name)
	v.wrote(name, value, raw, rev, base)
	v.publish(name)
}
