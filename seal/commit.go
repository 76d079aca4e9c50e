package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/forward"
)

// MetaRecipients is the metadata key of a namespace's recipients: one age
// recipient a line.
const MetaRecipients = "recipients"

type unsealKey struct{}
type resealKey struct{}
type markKey struct{}

// Mark returns a context under which a Commit (Persist, PersistNamespace,
// PersistConfig) seals the named fields of configuration name, which may
// be plain in the store: the way to seal existing fields. It needs no
// identity, only the namespace's recipients. From then on those fields
// are sealed on every write.
func Mark(ctx context.Context, name string, fields ...string) context.Context {
	return withFields(ctx, markKey{}, name, fields)
}

// AllowUnseal returns a context under which a Commit (Persist,
// PersistNamespace, PersistConfig) writes the named fields of
// configuration name plain, instead of sealing them: the explicit way to
// unseal a field. Only a manager with identities holds the plaintext to
// write.
func AllowUnseal(ctx context.Context, name string, fields ...string) context.Context {
	return withFields(ctx, unsealKey{}, name, fields)
}

// withFields returns ctx with fields of configuration name added to the
// set under key.
func withFields(ctx context.Context, key any, name string, fields []string) context.Context {
	prev, _ := ctx.Value(key).(map[string][]string)
	next := make(map[string][]string, len(prev)+1)
	for k, v := range prev {
		next[k] = v
	}
	next[name] = append(slices.Clone(next[name]), fields...)
	return context.WithValue(ctx, key, next)
}

// hasField reports whether the set under key holds field of name.
func hasField(ctx context.Context, key any, name, field string) bool {
	m, _ := ctx.Value(key).(map[string][]string)
	return slices.Contains(m[name], field)
}

// withReseal makes Commit seal every sealed field afresh (rotation).
func withReseal(ctx context.Context) context.Context {
	return context.WithValue(ctx, resealKey{}, true)
}

// Commit seals the fields of each put that are sealed in the stored
// version it replaces or set to a [Secret], then commits. A field sealed
// in the stored version whose new value is plain is sealed again when the
// layer has identities, written plain under [AllowUnseal], and refused
// with [ErrPlaintext] otherwise. An envelope written as such must open in
// its place (with identities) and is sealed afresh. When anything is
// sealed, the namespace's recipients are read from the metadata and the
// commit is guarded by their revision.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commit(ctx, ns, ops, nil)
}

// CommitMeta is Commit with metadata ops in the same atomic step.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if _, err := forward.As[confo.MetaStore](b.wrapped, "commit metadata", ns); err != nil {
		return nil, err
	}
	return b.commit(ctx, ns, ops, meta)
}

// committed is what a put wrote, for the layer's state.
type committed struct {
	sealed map[string]*sealedField
	rev    int64 // the sealing revision of fields sealed afresh
	fresh  []string
}

// sealer seals fields of one commit, reading the recipients once.
type sealer struct {
	b    *Backend
	ns   string
	keys *keyring
	rev  int64 // the recipients' metadata revision
}

func (sl *sealer) seal(ctx context.Context, p Place, rev int64, plain []byte) ([]byte, error) {
	if sl.keys == nil {
		keys, krev, err := sl.b.recipients(ctx, sl.ns)
		if err != nil {
			return nil, err
		}
		sl.keys, sl.rev = keys, krev
	}
	return sealValue(sl.keys, p, rev, plain)
}

// recipients reads the recipients of ns and their metadata revision.
func (b *Backend) recipients(ctx context.Context, ns string) (*keyring, int64, error) {
	strs, rev, err := b.Recipients(ctx, ns)
	if err != nil {
		return nil, 0, err
	}
	if len(strs) == 0 {
		return nil, 0, fmt.Errorf("seal namespace %q: %w (add one with confo recipients add)", ns, ErrNoRecipients)
	}
	keys, err := newKeyring(strs)
	if err != nil {
		return nil, 0, fmt.Errorf("seal namespace %q: %w", ns, err)
	}
	return keys, rev, nil
}

func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	sl := &sealer{b: b, ns: ns}
	out := slices.Clone(ops)
	done := make([]*committed, len(ops))
	for i, op := range ops {
		if op.Value == nil {
			continue
		}
		value, c, err := b.sealOp(ctx, sl, ns, op)
		if err != nil {
			return nil, err
		}
		out[i].Value, done[i] = value, c
	}
	var revs []int64
	var err error
	switch {
	case sl.keys != nil:
		ms, ok := b.Unwrap().(confo.MetaStore)
		if !ok { // recipients come from the metadata: not reached
			return nil, fmt.Errorf("seal: commit namespace %q: %w", ns, errors.ErrUnsupported)
		}
		guard := confo.MetaOp{Key: MetaRecipients, Revision: sl.rev, Check: true}
		revs, err = ms.CommitMeta(ctx, ns, out, append(slices.Clone(meta), guard))
	case meta != nil:
		revs, err = b.Unwrap().(confo.MetaStore).CommitMeta(ctx, ns, out, meta)
	default:
		revs, err = b.wrapped.Commit(ctx, ns, out)
	}
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state(ns)
	for i, op := range ops {
		if i >= len(revs) {
			break
		}
		if s.ordered {
			s.rev = max(s.rev, revs[i])
		}
		delete(s.rolled, op.Name)
		if op.Value == nil {
			s.forget(op.Name)
			continue
		}
		c := done[i]
		s.configs[op.Name] = &configState{rev: revs[i], sealed: c.sealed}
		if s.ordered {
			for _, f := range c.fresh {
				s.high[fieldKey{op.Name, f}] = max(s.high[fieldKey{op.Name, f}], c.rev)
			}
		}
	}
	return revs, nil
}

// base returns the sealed fields of the stored version op replaces, and
// those of a version Version returned if op writes it back. It reads the
// namespace again when the layer does not know that version.
func (b *Backend) base(ctx context.Context, ns string, op confo.Op) (map[string]*sealedField, map[string]bool, int64, error) {
	for attempt := 0; ; attempt++ {
		b.mu.Lock()
		s := b.state(ns)
		cs := s.configs[op.Name]
		var rolled map[string]bool
		if rb, ok := s.rolled[op.Name]; ok && bytes.Equal(rb.value, op.Value) {
			rolled = rb.fields
		}
		rev := int64(0)
		if s.ordered {
			rev = max(s.rev, op.Revision)
		}
		b.mu.Unlock()
		switch {
		case op.Revision == 0:
			return nil, rolled, rev, nil
		case cs != nil && cs.rev == op.Revision:
			return cs.sealed, rolled, rev, nil
		case attempt > 0:
			return nil, nil, 0, fmt.Errorf("seal: commit %q in namespace %q: %w: the stored version is not revision %d", op.Name, ns, confo.ErrConflict, op.Revision)
		}
		if _, err := b.Load(ctx, ns); err != nil {
			return nil, nil, 0, fmt.Errorf("seal: commit %q in namespace %q: read the stored version: %w", op.Name, ns, err)
		}
	}
}

// sealOp returns op's value with its fields sealed.
func (b *Backend) sealOp(ctx context.Context, sl *sealer, ns string, op confo.Op) ([]byte, *committed, error) {
	base, rolled, rev, err := b.base(ctx, ns, op)
	if err != nil {
		return nil, nil, err
	}
	c := &committed{rev: rev}
	if len(base) == 0 && len(rolled) == 0 && !bytes.Contains(op.Value, []byte("confo:")) && ctx.Value(markKey{}) == nil {
		return op.Value, c, nil
	}
	ms, err := parseObject(op.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: commit %q in namespace %q: %w: %w", op.Name, ns, confo.ErrInvalidValue, err)
	}
	reseal := ctx.Value(resealKey{}) != nil
	c.sealed = make(map[string]*sealedField)
	for i, m := range ms {
		p := Place{ns, op.Name, m.key}
		prev := base[m.key]
		var plain []byte
		switch {
		case isPendingRaw(m.raw):
			if plain, err = openPending(m.raw); err != nil {
				return nil, nil, fmt.Errorf("seal: commit field %s: %w", p, err)
			}
		case isSealedRaw(m.raw):
			if prev != nil && bytes.Equal(prev.envelope, m.raw) && !(reseal && prev.plain != nil) {
				c.sealed[m.key] = prev
				continue
			}
			if len(b.ids) == 0 {
				c.sealed[m.key] = &sealedField{envelope: m.raw} // sealed elsewhere; its readers check it
				continue
			}
			o, err := openValue(b.ids, p, m.raw)
			if err != nil {
				return nil, nil, fmt.Errorf("seal: commit: %w", err)
			}
			plain = o.value
		case prev != nil || rolled[m.key]:
			if hasField(ctx, unsealKey{}, op.Name, m.key) {
				continue
			}
			if len(b.ids) == 0 {
				return nil, nil, fmt.Errorf("commit field %s: %w: this manager has no identity to seal it; set a new value with seal.Secret (confo seal NS NAME FIELD=VALUE)", p, ErrPlaintext)
			}
			if prev != nil && prev.plain != nil && !reseal && bytes.Equal(compact(m.raw), prev.plain) {
				ms[i].raw = prev.envelope
				c.sealed[m.key] = prev
				continue
			}
			plain = m.raw
		case hasField(ctx, markKey{}, op.Name, m.key):
			plain = m.raw
		case bytes.Contains(m.raw, []byte(pendingPrefix)):
			return nil, nil, fmt.Errorf("seal: commit field %s: %w: seal.Secret seals a configuration's top-level fields only, not values nested in them", p, confo.ErrInvalidValue)
		default:
			continue
		}
		env, err := sl.seal(ctx, p, rev, compact(plain))
		if err != nil {
			return nil, nil, err
		}
		ms[i].raw = env
		c.sealed[m.key] = &sealedField{envelope: env, plain: compact(plain), keys: sl.keys.fingerprint}
		c.fresh = append(c.fresh, m.key)
	}
	return encodeObject(ms), c, nil
}

// CheckValue refuses, in a manager without identities, a local edit that
// puts a plain value in a field sealed in the stored version, before it
// enters the view. It then asks the wrapped Backend, if it is a Checker
// (a schema layer beneath this one), with every field that the layer will
// seal shown as it will be stored: a string starting with [Prefix] (the
// stored envelope when the value is unchanged, else Prefix + "pending"), so
// that the layers beneath never see a plaintext they would not see in the
// store. Its stamp is nil: the bytes this layer commits are not the value
// the wrapped Checker saw (a sealed field is an envelope there, a
// placeholder here), so the layers beneath check them again.
func (b *Backend) CheckValue(ns, name string, value map[string]any) (any, error) {
	var sealed map[string]*sealedField
	b.mu.Lock()
	if s := b.nss[ns]; s != nil && s.configs[name] != nil {
		sealed = s.configs[name].sealed
	}
	b.mu.Unlock()
	if value != nil && len(b.ids) == 0 {
		for _, f := range slices.Sorted(maps.Keys(sealed)) {
			v, ok := value[f]
			if !ok {
				continue // a sealed field removed: no plaintext written
			}
			if s, isStr := v.(string); isStr && (strings.HasPrefix(s, Prefix) || strings.HasPrefix(s, pendingPrefix)) {
				continue
			}
			return nil, fmt.Errorf("sealed field %s: %w: %w: this manager has no identity to seal it; set a new value with seal.Secret (confo seal NS NAME FIELD=VALUE)", Place{ns, name, f}, confo.ErrInvalidValue, ErrPlaintext)
		}
	}
	c, ok := b.Unwrap().(confo.Checker)
	if !ok {
		return nil, nil
	}
	_, err := c.CheckValue(ns, name, asStored(value, sealed))
	return nil, err
}

// asStored returns value with each field the layer will seal replaced by
// a string starting with Prefix: its stored envelope when unchanged.
func asStored(value map[string]any, sealed map[string]*sealedField) map[string]any {
	var out map[string]any
	for k, v := range value {
		str, isStr := v.(string)
		if isStr && strings.HasPrefix(str, Prefix) {
			continue
		}
		pending := isStr && strings.HasPrefix(str, pendingPrefix)
		sf := sealed[k]
		if !pending && sf == nil {
			continue
		}
		if out == nil {
			out = maps.Clone(value)
		}
		out[k] = Prefix + "pending"
		if sf != nil && sf.plain != nil {
			if raw, err := json.Marshal(v); err == nil && bytes.Equal(compact(raw), sf.plain) {
				var env string
				if json.Unmarshal(sf.envelope, &env) == nil {
					out[k] = env
				}
			}
		}
	}
	if out == nil {
		return value
	}
	return out
}
