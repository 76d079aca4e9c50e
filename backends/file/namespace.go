package file

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
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
	if err := b.begin(ctx, op); err != nil {
		return err
	}
	dir, err := b.nsDir(ns)
	if err != nil {
		return fmt.Errorf("file: %s: %w", op, err)
	}
	select {
	case b.commit <- struct{}{}:
		defer func() { <-b.commit }()
	case <-ctx.Done():
		return fmt.Errorf("file: %s: %w", op, ctx.Err())
	}
	unlock, err := lockExclusive(ctx, filepath.Join(dir, lockName))
	if err != nil {
		return fmt.Errorf("file: %s: %w", op, err)
	}
	gone := filepath.Join(b.dir, tempPrefix+"deleted-"+rand.Text()+tempSuffix)
	err = os.Rename(dir, gone)
	unlock()
	if err != nil {
		return fmt.Errorf("file: %s: %w", op, err)
	}
	return errors.Join(
		wrapErr(op, os.RemoveAll(gone)),
		wrapErr(op, syncDir(b.dir)),
	)
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("file: %s: %w", op, err)
}
