package confo

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultHistoryLimit is how many versions [Manager.History] lists at most
// unless [WithHistoryLimit] says otherwise.
const DefaultHistoryLimit = 100

// Version is one version of a configuration as a [Historian] reports it.
type Version struct {
	// Revision is the store revision that wrote this version (etcd: the
	// key's ModRevision), as Entry.Revision reports it.
	Revision int64
	// Value is the encoded JSON object, or nil when the version is a
	// deletion (for backends that report deletions).
	Value []byte
	// Author, Message and Time say who wrote the version, why and when,
	// when a change-record layer (see [ChangeInfo]) knows; empty
	// otherwise. Stores leave them empty.
	Author, Message string
	Time            time.Time
}

// Historian is implemented by backends that keep past versions of the
// configurations, as etcd does until compaction. [Manager.History] and
// [Manager.Rollback] need it; on other backends they return an error
// wrapping [errors.ErrUnsupported].
type Historian interface {
	// History returns at most limit versions of configuration name of
	// namespace ns that the store still keeps, newest first; the first is
	// the current one when the configuration exists. It returns
	// ErrConfigNotFound when the store keeps no version at all. Running
	// into the store's compaction ends the list without an error.
	History(ctx context.Context, ns, name string, limit int) ([]Version, error)

	// Version returns the version of configuration name of namespace ns
	// written at revision rev, and the revision of the configuration now
	// (0 if it does not exist), read at one moment. It returns
	// ErrRevisionNotFound when rev is not a version the store keeps.
	Version(ctx context.Context, ns, name string, rev int64) (v Version, current int64, err error)
}

// WithHistoryLimit bounds how many versions [Manager.History] lists (the
// newest n). Zero or less means [DefaultHistoryLimit].
func WithHistoryLimit(n int) Option {
	return func(m *Manager) { m.historyLimit = n }
}

// ConfigVersion is one version of a configuration listed by
// [Manager.History].
type ConfigVersion struct {
	// Revision is the store revision that wrote this version; pass it to
	// [Manager.Rollback] to restore the version.
	Revision int64
	// Value is the configuration as it was, a copy the caller may change;
	// nil when the version is a deletion or does not decode.
	Value map[string]any
	// Deleted reports that the configuration was deleted at Revision.
	Deleted bool
	// Err is non-nil, wrapping [ErrCorruptValue], when the stored value of
	// this version is not a JSON object.
	Err error
	// Author, Message and Time say who wrote the version, why and when,
	// when a change-record layer records them (see [Version]).
	Author, Message string
	Time            time.Time
}

// historian returns the active backend as a Historian.
func (m *Manager) historian(op string) (*backendState, Historian, error) {
	bs, err := m.activeBackend()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	h, ok := bs.b.(Historian)
	if !ok || !capable[Historian](bs.b) {
		return nil, nil, fmt.Errorf("%s: backend %q (%T) keeps no history: %w", op, bs.name, unwrapAll(bs.b), errors.ErrUnsupported)
	}
	return bs, h, nil
}

// History lists the versions of configuration name of namespace ns that
// the active backend's store still keeps, newest first (the current one
// first, when it exists), at most [DefaultHistoryLimit] of them (see
// [WithHistoryLimit]). On etcd they are the key's MVCC revisions since it
// was last created, back to the cluster's compaction; the memory backend
// keeps the versions of its last memory.HistoryLen commits, deletions
// included. The namespace need not be loaded; the view is not changed.
//
// It returns [ErrInvalidName] before any I/O, [ErrConfigNotFound] when the
// store keeps no version, and an error wrapping [errors.ErrUnsupported]
// naming the backend when the backend keeps no history ([Historian]). It
// is safe for concurrent use.
func (m *Manager) History(ctx context.Context, ns, name string) ([]ConfigVersion, error) {
	if err := ValidateName(ns); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("history in namespace %q: %w", ns, err)
	}
	op := fmt.Sprintf("history of %q in namespace %q", name, ns)
	bs, h, err := m.historian(op)
	if err != nil {
		return nil, err
	}
	limit := m.historyLimit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	versions, err := h.History(ctx, ns, name, limit)
	if err != nil {
		return nil, fmt.Errorf("%s on backend %q: %w", op, bs.name, err)
	}
	out := make([]ConfigVersion, len(versions))
	for i, v := range versions {
		out[i] = ConfigVersion{Revision: v.Revision, Author: v.Author, Message: v.Message, Time: v.Time}
		if v.Value == nil {
			out[i].Deleted = true
			continue
		}
		obj, err := decodeObject(v.Value)
		if err != nil {
			out[i].Err = fmt.Errorf("%q in namespace %q at revision %d: %w: %w", name, ns, v.Revision, ErrCorruptValue, err)
			continue
		}
		out[i].Value = obj
	}
	return out, nil
}

// Rollback writes the version of configuration name of namespace ns that
// the store wrote at revision (one [Manager.History] lists) back to the
// store, as a new revision: a guarded write based on the configuration's
// current revision in the store, read together with the old version. If
// another writer changes the configuration in between, nothing is written
// and the error wraps [ErrConflict] naming it. Rolling back to a deletion
// deletes the configuration. When this manager has loaded ns from the
// active backend, its view then holds the rolled-back value with its new
// revision (an unsaved local change of that configuration is discarded,
// as Reload would).
//
// It returns [ErrInvalidName] before any I/O, [ErrRevisionNotFound] when
// the store no longer keeps (compacted) or never had that version,
// [ErrCorruptValue] when that version is not a JSON object, [ErrStale]
// while ns is served from the mirror, and an error wrapping
// [errors.ErrUnsupported] when the backend keeps no history. It waits for
// a Persist or Reload in progress, giving up when ctx is done.
func (m *Manager) Rollback(ctx context.Context, ns, name string, revision int64) error {
	if err := ValidateName(ns); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("rollback in namespace %q: %w", ns, err)
	}
	op := fmt.Sprintf("rollback %q in namespace %q to revision %d", name, ns, revision)
	if revision <= 0 {
		return fmt.Errorf("%s: %w", op, ErrRevisionNotFound)
	}
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer m.unlockPersist()
	bs, h, err := m.historian(op)
	if err != nil {
		return err
	}
	m.mu.Lock()
	v := bs.views[ns]
	m.mu.Unlock()
	if v != nil {
		if se := v.staleErr(); se != nil {
			return fmt.Errorf("%s: %w", op, se)
		}
	}

	old, current, err := h.Version(ctx, ns, name, revision)
	if err != nil {
		return fmt.Errorf("%s on backend %q: %w", op, bs.name, err)
	}
	var obj map[string]any
	if old.Value != nil {
		if obj, err = decodeObject(old.Value); err != nil {
			return fmt.Errorf("%s: %w: %w", op, ErrCorruptValue, err)
		}
	} else if current == 0 {
		return nil // a deletion, and the configuration does not exist
	}
	o := Op{Name: name, Value: old.Value, Revision: current}
	if err := fits(bs, o, batchLimits(bs)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	revs, err := bs.b.Commit(m.changeContext(ctx), ns, []Op{o})
	if err != nil {
		return fmt.Errorf("%s on backend %q: %w", op, bs.name, err)
	}

	if v != nil {
		var rev int64
		if len(revs) > 0 {
			rev = revs[0]
		}
		v.rolledBack(name, obj, old.Value, rev, current)
	}
	m.logger.Debug("confo: rolled back", "backend", bs.name, "namespace", ns, "configuration", name, "revision", revision)
	return nil
}
