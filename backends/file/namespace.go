package file

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/confo-go/confo"
)

var _ confo.NamespaceDeleter = (*Backend)(nil)

// DeleteNamespace removes the directory of namespace ns with everything in
// it. Holding the same locks as Commit, it first renames the directory to a
// hidden name, so that the namespace disappears at once and no concurrent
// Commit writes into it, then removes that directory.
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	if err := checkName(ns); err != nil {
		return fmt.Errorf("file: delete namespace: %w", err)
	}
	op := fmt.Sprintf("delete namespace %q", ns)
	root, err := b.openNamespace(ctx, op, ns)
	if err != nil {
		return err
	}
	defer root.Close()
	select {
	case b.commit <- struct{}{}:
		defer func() { <-b.commit }()
	case <-ctx.Done():
		return fmt.Errorf("file: %s: %w", op, ctx.Err())
	}
	unlock, err := lockExclusive(ctx, root, filepath.Join(ns, lockName))
	if err != nil {
		return fmt.Errorf("file: %s: %w", op, err)
	}
	gone := tempPrefix + "deleted-" + rand.Text() + tempSuffix
	err = root.Rename(ns, gone)
	unlock()
	if err != nil {
		return fmt.Errorf("file: %s: %w", op, err)
	}
	return errors.Join(
		wrapErr(op, root.RemoveAll(gone)),
		wrapErr(op, syncDir(root, ".")),
	)
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("file: %s: %w", op, err)
}
