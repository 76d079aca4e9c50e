package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

// Load reads every configuration of namespace ns at one revision: one
// transaction reads the marker and the first page of "<prefix>/<ns>/", and
// further pages, if any, are read at that transaction's revision. A
// namespace without a marker but with keys is loaded as existing; one with
// neither is [confo.ErrNamespaceNotFound]. Snapshot.Revision is the revision
// read; each Entry.Revision is its key's ModRevision. If the cluster
// compacts that revision between two pages, the read starts over.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	if err := b.check("load namespace " + ns); err != nil {
		return confo.Snapshot{}, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return confo.Snapshot{}, fmt.Errorf("etcd: load namespace: %w", err)
	}
	for attempt := 1; ; attempt++ {
		snap, err := b.load(ctx, ns)
		if errors.Is(err, rpctypes.ErrCompacted) && attempt < 3 {
			continue
		}
		return snap, err
	}
}

// load is one attempt of Load.
func (b *Backend) load(ctx context.Context, ns string) (confo.Snapshot, error) {
	prefix := b.nsPrefix(ns)
	end := clientv3.GetPrefixRangeEnd(prefix)
	page := int64(b.cfg.PageSize)
	resp, err := b.cli.Txn(ctx).Then(
		clientv3.OpGet(b.NamespaceKey(ns), clientv3.WithKeysOnly()),
		clientv3.OpGet(prefix, clientv3.WithRange(end), clientv3.WithLimit(page)),
	).Commit()
	if err != nil {
		return confo.Snapshot{}, b.opError(ctx, "load "+prefix, err)
	}
	rev := resp.Header.Revision
	marker := resp.Responses[0].GetResponseRange()
	rng := resp.Responses[1].GetResponseRange()
	if len(marker.Kvs) == 0 && rng.Count == 0 {
		return confo.Snapshot{}, fmt.Errorf("etcd: load namespace %q: %w (no key %s)", ns, confo.ErrNamespaceNotFound, b.NamespaceKey(ns))
	}

	snap := confo.Snapshot{Entries: make(map[string]confo.Entry, rng.Count), Revision: rev}
	kvs, more := rng.Kvs, rng.More
	for {
		for _, kv := range kvs {
			b.addEntry(snap.Entries, prefix, kv)
		}
		if !more || len(kvs) == 0 {
			return snap, nil
		}
		next := string(kvs[len(kvs)-1].Key) + "\x00"
		resp, err := b.cli.Get(ctx, next, clientv3.WithRange(end), clientv3.WithLimit(page), clientv3.WithRev(rev))
		if err != nil {
			return confo.Snapshot{}, b.opError(ctx, "load "+prefix, err)
		}
		kvs, more = resp.Kvs, resp.More
	}
}

// addEntry adds kv, a key of the namespace at prefix, to entries. A name
// that is not a valid configuration name ("<prefix>/<ns>/a/b") is passed
// up as it is: the Manager reports it.
func (b *Backend) addEntry(entries map[string]confo.Entry, prefix string, kv *mvccpb.KeyValue) {
	name := string(kv.Key[len(prefix):])
	value := kv.Value
	if value == nil {
		value = []byte{}
	}
	entries[name] = confo.Entry{Value: value, Revision: kv.ModRevision}
}
