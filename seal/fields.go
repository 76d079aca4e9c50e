package seal

import (
	"context"
	"fmt"
	"slices"

	"github.com/confo-go/confo"
)

// SealFields seals fields of configuration name of namespace ns in the
// store, in one guarded commit: plain fields are sealed, fields already
// sealed are left as they are. It needs the namespace's recipients, not
// an identity. It returns confo.ErrConfigNotFound or confo.ErrFieldNotFound
// naming what is missing.
func (b *Backend) SealFields(ctx context.Context, ns, name string, fields ...string) error {
	return b.rewrite(ctx, "seal", ns, name, fields, Mark(ctx, name, fields...))
}

// UnsealFields writes fields of configuration name of namespace ns plain
// in the store, in one guarded commit. It needs identities that open them.
func (b *Backend) UnsealFields(ctx context.Context, ns, name string, fields ...string) error {
	if len(b.ids) == 0 {
		return fmt.Errorf("seal: unseal %q in namespace %q: %w: unsealing needs the identities that open the fields", name, ns, ErrNoIdentity)
	}
	return b.rewrite(ctx, "unseal", ns, name, fields, AllowUnseal(ctx, name, fields...))
}

func (b *Backend) rewrite(ctx context.Context, verb, ns, name string, fields []string, cctx context.Context) error {
	snap, err := b.Load(ctx, ns)
	if err != nil {
		return fmt.Errorf("seal: %s %q in namespace %q: %w", verb, name, ns, err)
	}
	e, ok := snap.Entries[name]
	if !ok {
		return fmt.Errorf("seal: %s %q in namespace %q: %w", verb, name, ns, confo.ErrConfigNotFound)
	}
	if e.Err != nil {
		return fmt.Errorf("seal: %s %q in namespace %q: %w", verb, name, ns, e.Err)
	}
	ms, err := parseObject(e.Value)
	if err != nil {
		return fmt.Errorf("seal: %s %q in namespace %q: %w: %w", verb, name, ns, confo.ErrCorruptValue, err)
	}
	for _, f := range fields {
		if !slices.ContainsFunc(ms, func(m member) bool { return m.key == f }) {
			return fmt.Errorf("seal: %s field %q of %q in namespace %q: %w", verb, f, name, ns, confo.ErrFieldNotFound)
		}
	}
	if _, err := b.Commit(cctx, ns, []confo.Op{{Name: name, Value: e.Value, Revision: e.Revision}}); err != nil {
		return fmt.Errorf("seal: %s %q in namespace %q: %w", verb, name, ns, err)
	}
	return nil
}
