package confo

import (
	"fmt"
	"sync"
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
// locking; writers replace whole items under Manager.mu, so a reader sees
// either the old or the new version of a configuration, never a mix.
type view struct {
	ns    string
	rev   int64    // store revision the view was loaded at
	items sync.Map // configuration name -> *item; items are immutable
}

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
	v := &view{ns: ns, rev: snap.Revision}
	for name, e := range snap.Entries {
		obj, err := decodeObject(e.Value)
		if err != nil {
			return nil, fmt.Errorf("configuration %q in namespace %q: %w: %w", name, ns, ErrCorruptValue, err)
		}
		v.items.Store(name, &item{value: obj, rev: e.Revision})
	}
	return v, nil
}

// lookup returns the configuration name, or nil if it does not exist.
func (v *view) lookup(name string) *item {
	it, ok := v.items.Load(name)
	if !ok {
		return nil
	}
	if it := it.(*item); it.value != nil {
		return it
	}
	return nil
}
