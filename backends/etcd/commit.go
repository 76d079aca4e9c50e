package etcd

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
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
	if err := b.check("commit to namespace " + ns); err != nil {
		return nil, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("etcd: commit: %w", err)
	}
	if len(ops) == 0 {
		return []int64{}, nil
	}
	if len(ops) > b.cfg.MaxTxnOps {
		return nil, fmt.Errorf("etcd: commit %d configurations to namespace %q: more than max_txn_ops (%d)", len(ops), ns, b.cfg.MaxTxnOps)
	}
	cmps := make([]clientv3.Cmp, len(ops))
	writes := make([]clientv3.Op, len(ops))
	reads := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		if err := confo.ValidateName(op.Name); err != nil {
			return nil, fmt.Errorf("etcd: commit to namespace %q: %w", ns, err)
		}
		key := b.Key(ns, op.Name)
		cmps[i] = clientv3.Compare(clientv3.ModRevision(key), "=", op.Revision)
		if op.Value == nil {
			writes[i] = clientv3.OpDelete(key)
		} else {
			writes[i] = clientv3.OpPut(key, string(op.Value))
		}
		reads[i] = clientv3.OpGet(key, clientv3.WithKeysOnly())
	}
	resp, err := b.cli.Txn(ctx).If(cmps...).Then(writes...).Else(reads...).Commit()
	if err != nil {
		what := fmt.Sprintf("commit %d configurations to %s", len(ops), b.nsPrefix(ns))
		if len(ops) == 1 {
			what = "commit " + b.Key(ns, ops[0].Name)
		}
		return nil, commitError(b.opError(ctx, what, err), err)
	}
	if !resp.Succeeded {
		var conflicts []string
		for i, op := range ops {
			var cur int64
			if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
				cur = kvs[0].ModRevision
			}
			if cur != op.Revision {
				conflicts = append(conflicts, conflictText(op, cur))
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
