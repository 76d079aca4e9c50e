package confo

import (
	"context"
	"fmt"
)

// Calls on a namespace named explicitly, for tools mounted beside a
// service (an admin console, say) that must not move the service's
// namespace in use or touch its unsaved edits.

// GetIn returns a copy of configuration name of namespace ns of the active
// backend with the revision it is based on, loading ns if this manager has
// not (without making it the namespace in use). It returns the errors of
// Get and of UseNamespace.
func (m *Manager) GetIn(ctx context.Context, ns, name string) (map[string]any, int64, error) {
	if err := ValidateName(name); err != nil {
		return nil, 0, fmt.Errorf("get: %w", err)
	}
	_, v, err := m.loadIn(ctx, ns)
	if err != nil {
		return nil, 0, fmt.Errorf("get %q: %w", name, err)
	}
	it, err := configIn(v, "get", name)
	if err != nil {
		return nil, 0, err
	}
	return copyObject(it.value), it.rev, nil
}

// GetAllIn returns a copy of every configuration of namespace ns of the
// active backend, by name, and the revision each is based on, loading ns as
// GetIn does.
func (m *Manager) GetAllIn(ctx context.Context, ns string) (map[string]map[string]any, map[string]int64, error) {
	_, v, err := m.loadIn(ctx, ns)
	if err != nil {
		return nil, nil, fmt.Errorf("get all: %w", err)
	}
	all, revs := make(map[string]map[string]any), make(map[string]int64)
	v.each(func(name string, it *item) bool {
		if it.value != nil {
			all[name], revs[name] = copyObject(it.value), it.rev
		}
		return true
	})
	return all, revs, nil
}

// SetIfIn writes configuration name of namespace ns of the active backend
// to the store at once, guarded by rev (0: it must not exist yet): value as
// Set takes it, or nil to delete it. It returns the configuration's new
// revision (0 after a delete). If the store's configuration is no longer at
// rev, nothing is written and the error wraps [ErrConflict]. A layer's
// check applies as for Set ([ErrInvalidValue]), and ctx's [ChangeInfo] goes
// with the write. The manager's view of ns moves to what was written; an
// unsaved local edit of name stays (its Persist then fails with
// ErrConflict).
func (m *Manager) SetIfIn(ctx context.Context, ns, name string, value any, rev int64) (int64, error) {
	op := fmt.Sprintf("set %q in namespace %q", name, ns)
	if err := ValidateName(name); err != nil {
		return 0, fmt.Errorf("set: %w", err)
	}
	var obj map[string]any
	var raw []byte
	if value != nil {
		var err error
		if obj, err = normalize(value); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		if raw, err = encodeValue(obj); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
	}
	bs, v, err := m.loadIn(ctx, ns)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if se := v.staleErr(); se != nil {
		return 0, fmt.Errorf("%s: %w", op, se)
	}
	var stamp any
	if bs.check != nil {
		if stamp, err = bs.check(ns, name, obj); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
	}
	o := Op{Name: name, Value: raw, Revision: rev}
	if raw != nil {
		o.Checked = stamp
	}
	if err := fits(bs, o, batchLimits(bs)); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := m.lockPersist(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer m.unlockPersist()
	revs, err := bs.b.Commit(m.changeContext(ctx), ns, []Op{o})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var newRev int64
	if len(revs) > 0 {
		newRev = revs[0]
	}
	v.mu.Lock()
	v.wrote(name, obj, raw, newRev, rev)
	v.publish(name)
	v.mu.Unlock()
	return newRev, nil
}

// loadIn returns the active backend's view of ns, loading it if needed.
func (m *Manager) loadIn(ctx context.Context, ns string) (*backendState, *view, error) {
	if err := ValidateName(ns); err != nil {
		return nil, nil, err
	}
	bs, v, err := m.load(ctx, ns)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace %q: %w", ns, err)
	}
	return bs, v, nil
}
