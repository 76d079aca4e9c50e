package file

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/confo-go/confo"
)

// WatchDebounce is how long Watch waits after a change in a namespace's
// directory for more changes before it reads the directory again, so that
// the files of one Commit are mostly reported together.
const WatchDebounce = 20 * time.Millisecond

var _ confo.Watcher = (*Backend)(nil)

// Watch reports the changes to the configurations of namespace ns, using
// the system's file notifications (fsnotify) on the namespace's directory.
// A directory has no revisions, so the guarantees are weaker than etcd's:
//
//   - afterRev is ignored. The first batch is Full: every configuration as
//     the directory holds it when the watch starts, which the Manager diffs
//     against its view, so nothing between its Load and the watch is missed.
//   - After each burst of notifications (quiet for [WatchDebounce]) the
//     directory is read again and compared with what was last reported:
//     a configuration whose content hash changed is a put, one whose file
//     is gone a delete. Changes are ordered by arrival, not by a store
//     revision, and intermediate states of a burst are not reported; a
//     file changed and changed back within one burst is not reported.
//   - Revisions are content hashes, as in [Backend.Load]: equal revisions
//     mean equal content, and the Batch Revision is 0.
//
// The channel is closed when ctx is done or after a batch with an error
// (the directory removed, the notifications failing, the backend closed);
// the watch then ends and the Manager starts a new one, with a new Full
// batch. It returns ErrNamespaceNotFound when ns has no directory.
func (b *Backend) Watch(ctx context.Context, ns string, _ int64) (<-chan confo.WatchBatch, error) {
	if err := checkName(ns); err != nil {
		return nil, fmt.Errorf("file: watch: %w", err)
	}
	op := fmt.Sprintf("watch namespace %q", ns)
	root, err := b.openNamespace(ctx, op, ns)
	if err != nil {
		return nil, err
	}
	root.Close()
	dir := filepath.Join(b.dir, ns)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("file: %s: watch %s: %w", op, dir, err)
	}
	// The first read comes after the notifications are on: a change made
	// in between is in it, or notified, or both.
	snap, err := b.Load(ctx, ns)
	if err != nil {
		w.Close()
		return nil, err
	}
	out := make(chan confo.WatchBatch)
	go b.watch(ctx, ns, op, w, snap.Entries, out)
	return out, nil
}

// watch sends the Full batch of entries, then the changes of ns after each
// burst of notifications, until ctx is done or an error.
func (b *Backend) watch(ctx context.Context, ns, op string, w *fsnotify.Watcher, entries map[string]confo.Entry, out chan<- confo.WatchBatch) {
	defer close(out)
	defer w.Close()
	send := func(batch confo.WatchBatch) bool {
		select {
		case out <- batch:
			return batch.Err == nil
		case <-ctx.Done():
			return false
		}
	}
	full := confo.WatchBatch{Full: true, Changes: make([]confo.Change, 0, len(entries))}
	for name, e := range entries {
		full.Changes = append(full.Changes, confo.Change{Name: name, Value: e.Value, Revision: e.Revision})
	}
	slices.SortFunc(full.Changes, func(x, y confo.Change) int { return cmp.Compare(x.Name, y.Name) })
	if !send(full) {
		return
	}
	seen := make(map[string]int64, len(entries))
	for name, e := range entries {
		seen[name] = e.Revision
	}

	debounce := time.NewTimer(WatchDebounce)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				send(confo.WatchBatch{Err: fmt.Errorf("file: %s: notifications closed", op)})
				return
			}
			if strings.HasSuffix(ev.Name, ext) || ev.Has(fsnotify.Remove|fsnotify.Rename) {
				debounce.Reset(WatchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				err = fmt.Errorf("notifications closed")
			}
			send(confo.WatchBatch{Err: fmt.Errorf("file: %s: %w", op, err)})
			return
		case <-debounce.C:
			snap, err := b.Load(ctx, ns)
			if err != nil {
				send(confo.WatchBatch{Err: err})
				return
			}
			batch := diff(seen, snap.Entries)
			if len(batch.Changes) > 0 && !send(batch) {
				return
			}
		}
	}
}

// diff returns the changes from seen (name -> revision) to entries, by
// name, and updates seen.
func diff(seen map[string]int64, entries map[string]confo.Entry) confo.WatchBatch {
	var batch confo.WatchBatch
	for name, e := range entries {
		if seen[name] != e.Revision {
			batch.Changes = append(batch.Changes, confo.Change{Name: name, Value: e.Value, Revision: e.Revision})
			seen[name] = e.Revision
		}
	}
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		if _, ok := entries[name]; !ok {
			batch.Changes = append(batch.Changes, confo.Change{Name: name})
			delete(seen, name)
		}
	}
	slices.SortFunc(batch.Changes, func(x, y confo.Change) int { return cmp.Compare(x.Name, y.Name) })
	return batch
}
