package confo

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Persist writes every unsaved change of every namespace loaded from the
// active backend to the store: the edits whose value differs from what the
// store holds, deletes included; a Persist with nothing to send makes no
// request. Each batch (etcd: one transaction of at most 128 operations) is
// atomic and guarded: if a configuration of a batch was changed in the store
// since the edit was made (see [Manager.Set]), the batch writes nothing and
// Persist returns an error wrapping [ErrConflict] naming it. Changes that
// were not written stay in memory, so a retry (after Reload, say) can
// succeed. Concurrent Persist calls are serialized; one waiting for another
// gives up when its ctx is done. The change carries the [ChangeInfo] of ctx
// or the manager's author ([WithAuthor]) to the layers.
func (m *Manager) Persist(ctx context.Context) error {
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	defer m.unlockPersist()
	bs, views, err := m.loadedViews()
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	// Encode and check every namespace's changes before sending any, so
	// that a value too large fails the whole Persist with nothing sent.
	pending := make([]*outgoing, len(views))
	for i, v := range views {
		if pending[i], err = m.outgoing(bs, v, ""); err != nil {
			return err
		}
	}
	for _, o := range pending {
		if err := m.write(ctx, bs, o); err != nil {
			return err
		}
	}
	return nil
}

// PersistNamespace is Persist for the loaded namespace ns alone. It returns
// [ErrNamespaceNotLoaded] if this manager has not loaded ns.
func (m *Manager) PersistNamespace(ctx context.Context, ns string) error {
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("persist namespace %q: %w", ns, err)
	}
	defer m.unlockPersist()
	bs, v, err := m.loadedView("persist namespace", ns)
	if err != nil {
		return err
	}
	o, err := m.outgoing(bs, v, "")
	if err != nil {
		return err
	}
	return m.write(ctx, bs, o)
}

// PersistConfig is Persist for configuration name of the loaded namespace ns
// alone. It returns [ErrConfigNotFound] if the namespace has no such
// configuration, saved or not.
func (m *Manager) PersistConfig(ctx context.Context, ns, name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("persist config: %w", err)
	}
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("persist config %q in namespace %q: %w", name, ns, err)
	}
	defer m.unlockPersist()
	bs, v, err := m.loadedView(fmt.Sprintf("persist config %q", name), ns)
	if err != nil {
		return err
	}
	if v.get(name) == nil {
		return fmt.Errorf("persist config %q in namespace %q: %w", name, ns, ErrConfigNotFound)
	}
	o, err := m.outgoing(bs, v, name)
	if err != nil {
		return err
	}
	return m.write(ctx, bs, o)
}

// lockPersist waits for the turn to persist or reload, or for ctx to be done.
func (m *Manager) lockPersist(ctx context.Context) error {
	select {
	case m.persisting <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) unlockPersist() { <-m.persisting }

// loadedViews returns the active backend and its loaded views, by name.
func (m *Manager) loadedViews() (*backendState, []*view, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bs, err := m.activeLocked()
	if err != nil {
		return nil, nil, err
	}
	views := make([]*view, 0, len(bs.views))
	for _, ns := range slices.Sorted(maps.Keys(bs.views)) {
		views = append(views, bs.views[ns])
	}
	return bs, views, nil
}

// outgoing is what one namespace sends in a Persist: its pending edits,
// encoded.
type outgoing struct {
	v    *view
	ops  []pendingOp
	raw  [][]byte
	wire []Op
}

// outgoing takes the pending edits of v (only configuration only, if not
// ""), encoded, or ErrValueTooLarge if one of them exceeds the backend's
// batch limits. Call holding the persist turn.
func (m *Manager) outgoing(bs *backendState, v *view, only string) (*outgoing, error) {
	ops, err := v.pending(only)
	if err != nil {
		return nil, fmt.Errorf("persist namespace %q: %w", v.ns, err)
	}
	o := &outgoing{v: v, ops: ops, raw: make([][]byte, len(ops)), wire: make([]Op, len(ops))}
	limits := batchLimits(bs)
	for i, p := range ops {
		o.wire[i] = Op{Name: p.name, Revision: p.e.base}
		if p.e.value != nil {
			raw, err := encodeValue(p.e.value)
			if err != nil {
				return nil, fmt.Errorf("persist %q in namespace %q: %w", p.name, v.ns, err)
			}
			o.raw[i], o.wire[i].Value, o.wire[i].Checked = raw, raw, p.e.stamp
		}
		if err := fits(bs, o.wire[i], limits); err != nil {
			return nil, fmt.Errorf("persist %q in namespace %q: %w", p.name, v.ns, err)
		}
	}
	return o, nil
}

func batchLimits(bs *backendState) BatchLimits {
	if bl, ok := bs.b.(BatchLimiter); ok {
		return bl.BatchLimits()
	}
	return BatchLimits{}
}

// write sends o in batches within the backend's limits. Call holding the
// persist turn.
func (m *Manager) write(ctx context.Context, bs *backendState, o *outgoing) error {
	limits := batchLimits(bs)
	ctx = m.changeContext(ctx)
	for start := 0; start < len(o.wire); {
		n := batchLen(o.wire[start:], limits)
		end := start + n
		revs, err := bs.b.Commit(ctx, o.v.ns, o.wire[start:end])
		if err != nil {
			return fmt.Errorf("persist namespace %q: %w", o.v.ns, err)
		}
		o.v.committed(o.ops[start:end], o.raw[start:end], revs)
		m.logger.Debug("confo: persisted", "backend", bs.name, "namespace", o.v.ns, "configurations", n)
		start = end
	}
	return nil
}

func opSize(op Op) int { return len(op.Name) + len(op.Value) }

// fits returns an error wrapping ErrValueTooLarge, naming the backend and
// its limit, when op alone exceeds limits, bs's batch limits.
func fits(bs *backendState, op Op, limits BatchLimits) error {
	if size := opSize(op); limits.MaxBytes > 0 && size > limits.MaxBytes {
		return fmt.Errorf("%w: %d bytes, backend %q takes at most %d", ErrValueTooLarge, size, bs.name, limits.MaxBytes)
	}
	return nil
}

// batchLen returns how many of ops fit one Commit.
func batchLen(ops []Op, limits BatchLimits) int {
	size := 0
	for i, op := range ops {
		if limits.MaxOps > 0 && i == limits.MaxOps {
			return i
		}
		size += opSize(op)
		if limits.MaxBytes > 0 && size > limits.MaxBytes && i > 0 {
			return i
		}
	}
	return len(ops)
}

// Reload reads every namespace loaded from the active backend again and
// replaces the in-memory view with what the store holds: unsaved local
// changes are discarded and configurations deleted in the store disappear.
// Stored values that are not JSON objects, or that a layer refuses, are
// quarantined, not an error (see [Manager.Problems]). If a namespace cannot
// be read, Reload returns the error and leaves that namespace, and those
// after it, as they were. Watchers are told of every difference.
func (m *Manager) Reload(ctx context.Context) error {
	if err := m.lockPersist(ctx); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	defer m.unlockPersist()
	bs, views, err := m.loadedViews()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	for _, v := range views {
		snap, err := bs.b.Load(ctx, v.ns)
		if err != nil {
			return fmt.Errorf("reload namespace %q: %w", v.ns, err)
		}
		if snap.Stale != nil && v.staleErr() == nil {
			// The store did not answer and the mirror had it: keep the
			// store's view, which is newer than the mirror.
			return fmt.Errorf("reload namespace %q: %w", v.ns, snap.Stale)
		}
		v.install(snap, true)
		if snap.Stale != nil {
			m.mu.Lock() // startCatchUp reads and sets Manager.mu's fields
			m.startCatchUp(ctx)
			m.mu.Unlock()
		}
	}
	m.logger.Debug("confo: reloaded", "backend", bs.name, "namespaces", len(views))
	return nil
}
