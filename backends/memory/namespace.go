package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/confo-go/confo"
)

var _ confo.NamespaceDeleter = (*Backend)(nil)

// DeleteNamespace deletes namespace ns and its configurations at one new
// revision; watches of ns see each configuration deleted.
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	if err := confo.ValidateName(ns); err != nil {
		return fmt.Errorf("memory: delete namespace: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("delete namespace " + ns); err != nil {
		return err
	}
	space, ok := b.spaces[ns]
	if !ok {
		return fmt.Errorf("memory: delete namespace %q: %w", ns, confo.ErrNamespaceNotFound)
	}
	b.rev++
	delete(b.spaces, ns)
	delete(b.meta, ns)
	var ops []confo.Op
	for _, name := range slices.Sorted(maps.Keys(space)) {
		ops = append(ops, confo.Op{Name: name})
	}
	b.record(ns, b.rev, ops)
	return nil
}
