package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

var _ confo.Historian = (*Backend)(nil)

// History returns at most limit versions of configuration name of namespace
// ns that etcd's MVCC store still keeps, newest first: the current value,
// then each earlier one, read with one range request per version at the
// revision just before the newer one (ModRevision-1). It follows the key
// back to its CreateRevision, so the versions listed are those since the
// configuration was last created; it stops early, without an error, at the
// cluster's compaction. A configuration that does not exist now is
// [confo.ErrConfigNotFound]. limit <= 0 means [confo.DefaultHistoryLimit].
func (b *Backend) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	if err := b.checkConfig("history", ns, name); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = confo.DefaultHistoryLimit
	}
	key := b.Key(ns, name)
	resp, err := b.cli.Get(ctx, key)
	if err != nil {
		return nil, b.opError(ctx, "history of "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("etcd: history of %q in namespace %q: %w (no key %s)", name, ns, confo.ErrConfigNotFound, key)
	}
	kv := resp.Kvs[0]
	out := []confo.Version{{Revision: kv.ModRevision, Value: value(kv.Value)}}
	for len(out) < limit && kv.ModRevision > kv.CreateRevision {
		resp, err := b.cli.Get(ctx, key, clientv3.WithRev(kv.ModRevision-1))
		if errors.Is(err, rpctypes.ErrCompacted) {
			break // the store keeps nothing older
		}
		if err != nil {
			return nil, b.opError(ctx, fmt.Sprintf("history of %s at revision %d", key, kv.ModRevision-1), err)
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != kv.CreateRevision {
			break // cannot happen: the key lives from CreateRevision on
		}
		kv = resp.Kvs[0]
		out = append(out, confo.Version{Revision: kv.ModRevision, Value: value(kv.Value)})
	}
	return out, nil
}

// Version returns the version of configuration name of namespace ns written
// at revision rev (its ModRevision), and the key's current ModRevision (0 if
// it does not exist), read in one transaction. A revision the cluster has
// compacted, a future one, or one that did not write this key is
// [confo.ErrRevisionNotFound].
func (b *Backend) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	if err := b.checkConfig("version", ns, name); err != nil {
		return confo.Version{}, 0, err
	}
	key := b.Key(ns, name)
	notFound := func(why string) error {
		return fmt.Errorf("etcd: %s at revision %d: %w (%s)", key, rev, confo.ErrRevisionNotFound, why)
	}
	if rev <= 0 {
		return confo.Version{}, 0, notFound("not a revision")
	}
	resp, err := b.cli.Txn(ctx).Then(
		clientv3.OpGet(key, clientv3.WithKeysOnly()),
		clientv3.OpGet(key, clientv3.WithRev(rev)),
	).Commit()
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return confo.Version{}, 0, notFound("compacted: " + err.Error())
	case errors.Is(err, rpctypes.ErrFutureRev):
		return confo.Version{}, 0, notFound("a future revision")
	case err != nil:
		return confo.Version{}, 0, b.opError(ctx, fmt.Sprintf("read %s at revision %d", key, rev), err)
	}
	var current int64
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		current = kvs[0].ModRevision
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) == 0 || kvs[0].ModRevision != rev {
		return confo.Version{}, 0, notFound("not a version of this configuration")
	}
	return confo.Version{Revision: rev, Value: value(kvs[0].Value)}, current, nil
}

// checkConfig checks that b is open and ns and name are valid names.
func (b *Backend) checkConfig(op, ns, name string) error {
	if err := b.check(fmt.Sprintf("%s of %q in namespace %q", op, name, ns)); err != nil {
		return err
	}
	if err := confo.ValidateName(ns); err != nil {
		return fmt.Errorf("etcd: %s: %w", op, err)
	}
	if err := confo.ValidateName(name); err != nil {
		return fmt.Errorf("etcd: %s in namespace %q: %w", op, ns, err)
	}
	return nil
}

// value returns v, or an empty value for an empty one: nil means a
// deletion in a [confo.Version].
func value(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
