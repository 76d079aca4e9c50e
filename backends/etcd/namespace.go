package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

var _ confo.NamespaceDeleter = (*Backend)(nil)

// DeleteNamespace deletes the marker of namespace ns, every key under
// "<prefix>/<ns>/" and its metadata in one transaction. A namespace with neither is
// [confo.ErrNamespaceNotFound].
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	if err := b.check("delete namespace " + ns); err != nil {
		return err
	}
	if err := confo.ValidateName(ns); err != nil {
		return fmt.Errorf("etcd: delete namespace: %w", err)
	}
	marker, prefix := b.NamespaceKey(ns), b.nsPrefix(ns)
	resp, err := b.cli.Txn(ctx).Then(
		clientv3.OpDelete(marker),
		clientv3.OpDelete(prefix, clientv3.WithPrefix()),
		clientv3.OpDelete(b.MetaKey(ns, ""), clientv3.WithPrefix()), // its metadata (meta.go)
	).Commit()
	if err != nil {
		return b.opError(ctx, "delete namespace "+marker, err)
	}
	deleted := int64(0)
	for _, r := range resp.Responses {
		deleted += r.GetResponseDeleteRange().Deleted
	}
	if deleted == 0 {
		return fmt.Errorf("etcd: delete namespace %q: %w (no key %s)", ns, confo.ErrNamespaceNotFound, marker)
	}
	return nil
}
