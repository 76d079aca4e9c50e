package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/confo-go/confo"
)

var _ confo.Historian = (*Backend)(nil)

// History returns at most limit versions of configuration name of namespace
// ns, newest first: the current one, then those of the store's last
// [HistoryLen] commits (the log watches resume from), deletions included.
// Versions older than that log, or than a [Backend.Compact], are gone, as
// in a compacted etcd. It returns [confo.ErrConfigNotFound] when no version
// is kept.
func (b *Backend) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(fmt.Sprintf("history of %q in %q", name, ns)); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = confo.DefaultHistoryLimit
	}
	var out []confo.Version
	cur, exists := b.spaces[ns][name]
	if exists {
		out = append(out, confo.Version{Revision: cur.Revision, Value: slices.Clone(cur.Value)})
	}
	log := b.hist.log
	for i := len(log) - 1; i >= 0 && len(out) < limit; i-- {
		e := log[i]
		if e.ns != ns || exists && e.rev >= cur.Revision {
			continue // another namespace, or the current version itself
		}
		for _, c := range e.changes {
			if c.Name == name {
				out = append(out, confo.Version{Revision: c.Revision, Value: slices.Clone(c.Value)})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("memory: history of %q in %q: %w", name, ns, confo.ErrConfigNotFound)
	}
	return out, nil
}

// Version returns the version of configuration name of namespace ns written
// at revision rev, if the store keeps it (see [Backend.History]), and the
// configuration's current revision (0 if it does not exist).
func (b *Backend) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	if err := ctx.Err(); err != nil {
		return confo.Version{}, 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(fmt.Sprintf("version of %q in %q", name, ns)); err != nil {
		return confo.Version{}, 0, err
	}
	cur, exists := b.spaces[ns][name]
	if exists && cur.Revision == rev {
		return confo.Version{Revision: rev, Value: slices.Clone(cur.Value)}, cur.Revision, nil
	}
	for _, e := range b.hist.log {
		if e.ns != ns || e.rev != rev {
			continue
		}
		for _, c := range e.changes {
			if c.Name == name {
				return confo.Version{Revision: rev, Value: slices.Clone(c.Value)}, cur.Revision, nil
			}
		}
	}
	why := "not a version of it"
	if rev <= b.hist.compacted {
		why = fmt.Sprintf("compacted: the store keeps revisions after %d", b.hist.compacted)
	}
	return confo.Version{}, 0, fmt.Errorf("memory: %q in %q at revision %d: %w (%s)", name, ns, rev, confo.ErrRevisionNotFound, why)
}
