package etcd

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// BatchLimits bounds one Commit so that its transaction fits the cluster's
// --max-txn-ops and --max-request-bytes: each op sends its key three times
// (compare, write, and the read that explains a conflict) and some framing,
// which the Manager does not count, so MaxBytes leaves room for it. With
// the defaults that is 128 ops and about 1.33 MiB of names and values. When
// a small --max-request-bytes cannot hold the overhead of max_txn_ops ops in
// half of it, MaxOps is lowered instead of MaxBytes.
func (b *Backend) BatchLimits() confo.BatchLimits {
	// Worst case per op beyond len(name)+len(value), which the Manager
	// counts: the key's prefix and namespace three times, the name twice
	// more, and protobuf framing of the compare, request and failure read.
	const framing = 4096 // the transaction's own header and framing
	keyOverhead := len(b.prefix) + 2 + confo.MaxNameLen
	perOp := 3*keyOverhead + 2*confo.MaxNameLen + 64
	ops := b.cfg.MaxTxnOps
	if budget := (b.cfg.MaxRequestBytes - framing) / 2; ops*perOp > budget {
		ops = max(1, budget/perOp)
	}
	maxBytes := max(1024, b.cfg.MaxRequestBytes-ops*perOp-framing)
	return confo.BatchLimits{MaxOps: ops, MaxBytes: maxBytes}
}

// Commit applies ops to namespace ns in one transaction guarded by each
// configuration's ModRevision (0: it must not exist). If any does not match,
// nothing is written and the error wraps [confo.ErrConflict] naming every
// configuration that changed. It returns the transaction's revision for
// each put and 0 for each delete.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commit(ctx, ns, ops, nil)
}

// commit is Commit and, with metadata ops, CommitMeta: one transaction
// comparing every guard and, with metadata ops, requiring the namespace's
// marker.
func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if err := b.check("commit to namespace " + ns); err != nil {
		return nil, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("etcd: commit: %w", err)
	}
	withMeta := len(meta) > 0
	switch {
	case withMeta:
		if err := metakey.ValidateOps(meta); err != nil {
			return nil, fmt.Errorf("etcd: commit to namespace %q: %w", ns, err)
		}
		if n := len(ops) + len(meta) + 1; n > b.cfg.MaxTxnOps {
			return nil, fmt.Errorf("etcd: commit %d configurations and %d metadata entries to namespace %q: more than max_txn_ops (%d) with the namespace check",
				len(ops), len(meta), ns, b.cfg.MaxTxnOps)
		}
	case len(ops) == 0:
		return []int64{}, nil
	case len(ops) > b.cfg.MaxTxnOps:
		return nil, fmt.Errorf("etcd: commit %d configurations to namespace %q: more than max_txn_ops (%d)", len(ops), ns, b.cfg.MaxTxnOps)
	}
	// The compares, and the reads that explain a failed one, in one order:
	// the marker (with metadata), the configurations, the guarded metadata.
	n := len(ops) + len(meta) + 1
	cmps := make([]clientv3.Cmp, 0, n)
	reads := make([]clientv3.Op, 0, n)
	writes := make([]clientv3.Op, 0, n)
	marker := b.NamespaceKey(ns)
	if withMeta {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(marker), ">", 0))
		reads = append(reads, clientv3.OpGet(marker, clientv3.WithKeysOnly()))
	}
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
		var what string
		switch {
		case withMeta:
			what = fmt.Sprintf("commit %d configurations and %d metadata entries to %s", len(ops), len(meta), b.nsPrefix(ns))
		case len(ops) == 1:
			what = "commit " + b.Key(ns, ops[0].Name)
		default:
			what = fmt.Sprintf("commit %d configurations to %s", len(ops), b.nsPrefix(ns))
		}
		return nil, commitError(b.opError(ctx, what, err), err)
	}
	if !resp.Succeeded {
		first := 0 // the read of the first configuration
		if withMeta {
			if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
				return nil, fmt.Errorf("etcd: commit to namespace %q: %w (no key %s: create it first)", ns, confo.ErrNamespaceNotFound, marker)
			}
			first = 1
		}
		cur := func(i int) int64 {
			if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
				return kvs[0].ModRevision
			}
			return 0
		}
		var conflicts []string
		for i, op := range ops {
			if c := cur(first + i); c != op.Revision {
				conflicts = append(conflicts, conflictText(op, c))
			}
		}
		for i, op := range guarded {
			if c := cur(first + len(ops) + i); c != op.Revision {
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

// conflictText says how configuration op.Name differs from what the
// Manager read.
func conflictText(op confo.Op, cur int64) string {
	switch {
	case op.Revision == 0:
		return fmt.Sprintf("%q was created in the store (revision %d)", op.Name, cur)
	case cur == 0:
		return fmt.Sprintf("%q was deleted from the store (read at revision %d)", op.Name, op.Revision)
	}
	return fmt.Sprintf("%q was changed in the store (read at revision %d, now %d)", op.Name, op.Revision, cur)
}
