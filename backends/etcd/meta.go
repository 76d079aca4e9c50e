package etcd

import (
	"context"
	"fmt"
	"strings"

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
	if len(meta) == 0 {
		return b.Commit(ctx, ns, ops)
	}
	if err := b.check("commit to namespace " + ns); err != nil {
		return nil, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("etcd: commit: %w", err)
	}
	if err := metakey.ValidateOps(meta); err != nil {
		return nil, fmt.Errorf("etcd: commit to namespace %q: %w", ns, err)
	}
	if n := len(ops) + len(meta) + 1; n > b.cfg.MaxTxnOps {
		return nil, fmt.Errorf("etcd: commit %d configurations and %d metadata entries to namespace %q: more than max_txn_ops (%d) with the namespace check",
			len(ops), len(meta), ns, b.cfg.MaxTxnOps)
	}
	marker := b.NamespaceKey(ns)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(marker), ">", 0)}
	reads := []clientv3.Op{clientv3.OpGet(marker, clientv3.WithKeysOnly())}
	var writes []clientv3.Op
	for _, op := range ops {
		if err := confo.ValidateName(op.Name); err != nil {
			return nil, fmt.Errorf("etcd: commit to namespace %q: %w", ns, err)
		}
		key := b.Key(ns, op.Name)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", op.Revision))
		reads = append(reads, clientv3.OpGet(key, clientv3.WithKeysOnly()))
		if op.Value == nil {
			writes = append(writes, clientv3.OpDelete(key))
		} else {
			writes = append(writes, clientv3.OpPut(key, string(op.Value)))
		}
	}
	var guarded []confo.MetaOp // in the order of their reads
	for _, op := range meta {
		key := b.MetaKey(ns, op.Key)
		if metakey.Guarded(op) {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", op.Revision))
			reads = append(reads, clientv3.OpGet(key, clientv3.WithKeysOnly()))
			guarded = append(guarded, op)
		}
		switch {
		case op.Check:
		case op.Value == nil:
			writes = append(writes, clientv3.OpDelete(key))
		default:
			writes = append(writes, clientv3.OpPut(key, string(op.Value)))
		}
	}
	resp, err := b.cli.Txn(ctx).If(cmps...).Then(writes...).Else(reads...).Commit()
	if err != nil {
		what := fmt.Sprintf("commit %d configurations and %d metadata entries to %s", len(ops), len(meta), b.nsPrefix(ns))
		return nil, commitError(b.opError(ctx, what, err), err)
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return nil, fmt.Errorf("etcd: commit to namespace %q: %w (no key %s: create it first)", ns, confo.ErrNamespaceNotFound, marker)
		}
		var conflicts []string
		cur := func(i int) int64 {
			if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
				return kvs[0].ModRevision
			}
			return 0
		}
		for i, op := range ops {
			if c := cur(1 + i); c != op.Revision {
				conflicts = append(conflicts, conflictText(op, c))
			}
		}
		for i, op := range guarded {
			if c := cur(1 + len(ops) + i); c != op.Revision {
				conflicts = append(conflicts, metakey.ConflictText(op, c))
			}
		}
		return nil, fmt.Errorf("etcd: commit to namespace %q: %w: %s", ns, confo.ErrConflict, strings.Join(conflicts, ", "))
	}
	revs := make([]int64, len(ops))
	for i, op := range ops {
		if op.Value != nil {
			revs[i] = resp.Header.Revision
		}
	}
	return revs, nil
}
