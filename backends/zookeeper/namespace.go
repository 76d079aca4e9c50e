package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
)

var _ confo.NamespaceDeleter = (*Backend)(nil)

// DeleteNamespace deletes namespace ns, its configurations and its
// metadata (meta.go) in one multi: it lists the children of the namespace
// znode and of its metadata directory, then deletes them, the directory
// and the namespace znode unconditionally. If a znode was added meanwhile,
// the multi fails as a whole (a parent not empty) and the listing is done
// again, after a random pause, until ctx ends. A multi carries every znode
// of the namespace, so a namespace larger than one request
// (max_request_bytes) cannot be deleted this way.
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	op := fmt.Sprintf("delete namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return err
	}
	if err := confo.ValidateName(ns); err != nil {
		return fmt.Errorf("zookeeper: delete namespace: %w", err)
	}
	nsPath, dir := b.Path(ns, ""), b.metaDir(ns)
	for attempt := 0; ; attempt++ {
		if attempt > 0 { // a znode was added during the listing
			d := time.Duration(rand.Int64N(int64(min(attempt*attempt, 50))*int64(time.Millisecond) + 1))
			if err := sleep(ctx, d); err != nil {
				return fmt.Errorf("zookeeper: %s: %w", op, err)
			}
		}
		names, err := do(ctx, func() ([]string, error) { names, _, err := b.conn.Children(nsPath); return names, err })
		if errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("zookeeper: %s: %w (no znode %s)", op, confo.ErrNamespaceNotFound, nsPath)
		}
		if err != nil {
			return b.fail(op+": list", nsPath, err)
		}
		var reqs []any
		for _, name := range names {
			reqs = append(reqs, &zk.DeleteRequest{Path: nsPath + "/" + name, Version: -1})
		}
		reqs = append(reqs, &zk.DeleteRequest{Path: nsPath, Version: -1})
		entries, err := do(ctx, func() ([]string, error) { names, _, err := b.conn.Children(dir); return names, err })
		switch {
		case err == nil:
			for _, name := range entries {
				reqs = append(reqs, &zk.DeleteRequest{Path: dir + "/" + name, Version: -1})
			}
			reqs = append(reqs, &zk.DeleteRequest{Path: dir, Version: -1})
		case !errors.Is(err, zk.ErrNoNode):
			return b.fail(op+": list", dir, err)
		}
		_, err = do(ctx, func() ([]zk.MultiResponse, error) { return b.conn.Multi(reqs...) })
		switch {
		case err == nil:
			return nil
		case errors.Is(err, zk.ErrNotEmpty), errors.Is(err, zk.ErrNoNode):
			continue // changed since the listing (a gone namespace is reported above)
		case ctx.Err() != nil:
			return multiError(fmt.Errorf("zookeeper: %s: %w", op, ctx.Err()), ctx.Err())
		}
		return multiError(b.fail(op, nsPath, err), err)
	}
}
