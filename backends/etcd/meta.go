package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// Metadata of a namespace (schemas, sealing recipients, change records; see
// [confo.MetaStore]) lives under the namespace's marker:
//
//	/confo//<namespace>/<key>   e.g. /confo//database/schema/mysql
//
// so it is outside "<prefix>/<namespace>/", which Load, Watch and History
// read, and Namespaces skips it (a name never contains "/").
// DeleteNamespace deletes it with the namespace.
//
// CommitMeta is one transaction. etcd's --max-txn-ops bounds the largest of
// its three lists (compares, writes, and the reads that explain a
// conflict): with metadata ops, each configuration op counts one, each
// metadata op one, and the check that the namespace's marker exists one
// more, so len(ops)+len(meta)+1 must not exceed max_txn_ops (128 by
// default). A layer that adds k metadata ops to a Commit of the Manager must
// lower the MaxOps it reports by k+1 (see [Backend.BatchLimits]); the bytes
// of metadata keys and values count towards max_request_bytes as a
// configuration's do.

var _ confo.MetaStore = (*Backend)(nil)

// MetaKey returns the etcd key of metadata entry key of namespace ns:
// "<prefix>//<ns>/<key>".
func (b *Backend) MetaKey(ns, key string) string { return b.NamespaceKey(ns) + "/" + key }

// LoadMeta reads the metadata entries of namespace ns whose keys start with
// prefix, in one transaction with the namespace's existence (further pages,
// if any, at its revision). Each Entry.Revision is the key's ModRevision. A
// namespace with neither a marker nor configurations is
// [confo.ErrNamespaceNotFound].
func (b *Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	if err := b.check("load metadata of namespace " + ns); err != nil {
		return nil, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("etcd: load metadata: %w", err)
	}
	if err := metakey.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("etcd: load metadata of namespace %q: %w", ns, err)
	}
	base := b.MetaKey(ns, "")
	start := base + prefix
	end := clientv3.GetPrefixRangeEnd(start)
	page := int64(b.cfg.PageSize)
	resp, err := b.cli.Txn(ctx).Then(
		clientv3.OpGet(b.NamespaceKey(ns), clientv3.WithCountOnly()),
		clientv3.OpGet(b.nsPrefix(ns), clientv3.WithPrefix(), clientv3.WithCountOnly()),
		clientv3.OpGet(start, clientv3.WithRange(end), clientv3.WithLimit(page)),
	).Commit()
	if err != nil {
		return nil, b.opError(ctx, "load metadata "+start, err)
	}
	if resp.Responses[0].GetResponseRange().Count == 0 && resp.Responses[1].GetResponseRange().Count == 0 {
		return nil, fmt.Errorf("etcd: load metadata of namespace %q: %w (no key %s)", ns, confo.ErrNamespaceNotFound, b.NamespaceKey(ns))
	}
	rev := resp.Header.Revision
	rng := resp.Responses[2].GetResponseRange()
	out := make(map[string]confo.Entry, len(rng.Kvs))
	kvs, more := rng.Kvs, rng.More
	for {
		for _, kv := range kvs {
			key := string(kv.Key[len(base):])
			if metakey.Validate(key) != nil {
				continue // not written by a MetaStore
			}
			out[key] = confo.Entry{Value: value(kv.Value), Revision: kv.ModRevision}
		}
		if !more || len(kvs) == 0 {
			return out, nil
		}
		next := string(kvs[len(kvs)-1].Key) + "\x00"
		resp, err := b.cli.Get(ctx, next, clientv3.WithRange(end), clientv3.WithLimit(page), clientv3.WithRev(rev))
		if err != nil {
			return nil, b.opError(ctx, "load metadata "+start, err)
		}
		kvs, more = resp.Kvs, resp.More
	}
}

// CommitMeta is [Backend.Commit] with metadata ops in the same transaction:
// it also compares each guarded metadata entry's ModRevision (a Check only
// compares), writes or deletes the others, and requires the namespace's
// marker (a namespace created with CreateNamespace). A failed guard writes
// nothing and is [confo.ErrConflict] naming every configuration and entry
// that differs; a missing marker is [confo.ErrNamespaceNotFound]. Without
// metadata ops it is Commit.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	return b.commit(ctx, ns, ops, meta)
}
