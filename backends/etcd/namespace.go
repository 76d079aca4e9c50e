package etcd

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

var _ confo.NamespaceDeleter = (*Backend)(nil)

// Namespaces lists the namespaces that have a marker, with one keys-only
// range over "<prefix>//" (paged, at one revision). It reads no
// configuration. Metadata keys ("<prefix>//<ns>/<key>") are not
// namespaces: a page that ends inside a namespace's metadata makes the next
// one start after it, so a listing reads at most one page of each
// namespace's metadata keys (keys only).
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	const op = "list namespaces"
	if err := b.check(op); err != nil {
		return nil, err
	}
	start := b.markerPrefix()
	end := clientv3.GetPrefixRangeEnd(start)
	var names []string
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(b.cfg.PageSize))}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := b.cli.Get(ctx, start, opts...)
		if err != nil {
			return nil, b.opError(ctx, op+" under "+b.markerPrefix(), err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			ns := string(kv.Key[len(b.markerPrefix()):])
			if confo.ValidateName(ns) == nil { // not "<ns>/<key>", metadata (meta.go)
				names = append(names, ns)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return names, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if ns, _, isMeta := strings.Cut(start[len(b.markerPrefix()):], "/"); isMeta {
			start = clientv3.GetPrefixRangeEnd(b.MetaKey(ns, "")) // skip the rest of its metadata
		}
	}
}

// CreateNamespace creates the marker of namespace ns if it does not exist
// (a transaction that writes nothing when it does).
func (b *Backend) CreateNamespace(ctx context.Context, ns string) error {
	if err := b.check("create namespace " + ns); err != nil {
		return err
	}
	if err := confo.ValidateName(ns); err != nil {
		return fmt.Errorf("etcd: create namespace: %w", err)
	}
	key := b.NamespaceKey(ns)
	_, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, "")).
		Commit()
	if err != nil {
		return b.opError(ctx, "create namespace "+key, err)
	}
	return nil
}

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
