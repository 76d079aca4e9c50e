// Package snapdiff turns successive snapshots of a namespace into the
// batches a confo.Watcher sends, for backends that learn that a namespace
// changed but not how (a notice, a ZooKeeper watch), and so read it again.
package snapdiff

import (
	"cmp"
	"maps"
	"slices"

	"github.com/confo-go/confo"
)

// Tracker remembers the revision of each configuration last reported.
// It is not safe for concurrent use: one watch goroutine owns it.
type Tracker struct {
	seen map[string]int64
}

// Start returns a Tracker at snap, the first read of a watch that resumes
// after store revision afterRev, and the first batch to send: none (ok is
// false) when snap is the state at afterRev, else a Full batch of snap.
func Start(snap confo.Snapshot, afterRev int64) (t *Tracker, batch confo.WatchBatch, ok bool) {
	t = &Tracker{seen: make(map[string]int64, len(snap.Entries))}
	for name, e := range snap.Entries {
		t.seen[name] = e.Revision
	}
	if afterRev != 0 && snap.Revision != 0 && snap.Revision == afterRev {
		return t, confo.WatchBatch{}, false
	}
	batch = confo.WatchBatch{Full: true, Revision: snap.Revision, Changes: make([]confo.Change, 0, len(snap.Entries))}
	for name, e := range snap.Entries {
		batch.Changes = append(batch.Changes, confo.Change{Name: name, Value: e.Value, Revision: e.Revision})
	}
	sortChanges(batch.Changes)
	return t, batch, true
}

// Next returns the changes from the last snapshot to snap: a put for each
// configuration whose revision differs, a delete for each one gone (at
// snap's revision). ok is false when nothing changed.
func (t *Tracker) Next(snap confo.Snapshot) (batch confo.WatchBatch, ok bool) {
	batch.Revision = snap.Revision
	for name, e := range snap.Entries {
		if rev, had := t.seen[name]; !had || rev != e.Revision {
			batch.Changes = append(batch.Changes, confo.Change{Name: name, Value: e.Value, Revision: e.Revision})
			t.seen[name] = e.Revision
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.seen)) {
		if _, ok := snap.Entries[name]; !ok {
			batch.Changes = append(batch.Changes, confo.Change{Name: name, Revision: snap.Revision})
			delete(t.seen, name)
		}
	}
	sortChanges(batch.Changes)
	return batch, len(batch.Changes) > 0
}

// sortChanges puts changes in revision order (then by name).
func sortChanges(changes []confo.Change) {
	slices.SortFunc(changes, func(x, y confo.Change) int {
		return cmp.Or(cmp.Compare(x.Revision, y.Revision), cmp.Compare(x.Name, y.Name))
	})
}
