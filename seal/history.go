package seal

import (
	"context"

	"github.com/confo-go/confo"
)

// History returns past versions of configuration name of ns with their
// sealed fields opened, when the layer has identities. Replay is not
// checked (past versions are old by nature) but place is: a version whose
// sealed field does not open in its place, or that no identity opens,
// keeps that field sealed, as a manager without identities sees it. The
// layer's state is not changed.
func (b *Backend) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	vs, err := b.wrapped.History(ctx, ns, name, limit)
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		if v.Value == nil {
			continue
		}
		if value, _, err := b.openPast(ns, name, v.Value); err == nil {
			vs[i].Value = value
		}
	}
	return vs, nil
}

// Version returns a past version with its sealed fields opened (the
// Manager's Rollback writes it back: the layer then seals those fields
// again, even one that is no longer sealed in the current version). A
// sealed field that does not open is an error naming it.
func (b *Backend) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	v, current, err := b.wrapped.Version(ctx, ns, name, rev)
	if err != nil || v.Value == nil {
		return v, current, err
	}
	value, fields, err := b.openPast(ns, name, v.Value)
	if err != nil {
		return confo.Version{}, 0, err
	}
	if len(fields) > 0 {
		b.mu.Lock()
		b.state(ns).rolled[name] = rolledBack{value: value, fields: fields}
		b.mu.Unlock()
	}
	v.Value = value
	return v, current, nil
}

// openPast opens the sealed fields of a past version, checking place only,
// and returns which fields were sealed. Without identities it returns raw.
func (b *Backend) openPast(ns, name string, raw []byte) ([]byte, map[string]bool, error) {
	if len(b.ids) == 0 || !containsPrefix(raw) {
		return raw, nil, nil
	}
	ms, err := parseObject(raw)
	if err != nil {
		return raw, nil, nil
	}
	fields := make(map[string]bool)
	for i, m := range ms {
		if !isSealedRaw(m.raw) {
			continue
		}
		o, err := openValue(b.ids, Place{ns, name, m.key}, m.raw)
		if err != nil {
			return nil, nil, err
		}
		ms[i].raw = o.value
		fields[m.key] = true
	}
	return encodeObject(ms), fields, nil
}
