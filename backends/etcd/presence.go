package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/presenceloop"
	"github.com/confo-go/confo/presence"
)

var _ presence.Backend = (*Backend)(nil)

// PresenceKey returns the key of the presence record of instance id in
// namespace ns: "<prefix>//<ns>/presence/<id>", among the namespace's
// metadata, outside the range its configurations are read and watched in.
func (b *Backend) PresenceKey(ns, id string) string { return b.presencePrefix(ns) + id }

func (b *Backend) presencePrefix(ns string) string { return b.NamespaceKey(ns) + "/presence/" }

// OpenPresence grants a lease of ttl (rounded up to whole seconds) and keeps
// it alive until the session is closed; the records put through the
// session are attached to it, so etcd deletes them when the lease expires
// (the process died or lost the cluster for ttl) or is revoked (Close). If
// the lease expires while the process lives, the session grants a new one
// and writes its records again.
func (b *Backend) OpenPresence(ctx context.Context, ttl time.Duration) (presence.Session, error) {
	if err := b.check("open presence session"); err != nil {
		return nil, err
	}
	s := &presenceSession{b: b, ttl: max(1, int64(math.Ceil(ttl.Seconds()))), recs: presenceloop.New[string](ctx)}
	if err := s.grant(ctx); err != nil {
		s.recs.Close()
		return nil, err
	}
	return s, nil
}

// presenceSession is one lease and the records put under it.
type presenceSession struct {
	b    *Backend
	ttl  int64                         // seconds
	recs *presenceloop.Session[string] // key -> record, to write again under a new lease

	mu    sync.Mutex
	lease clientv3.LeaseID
}

// grant grants a new lease and starts keeping it alive.
func (s *presenceSession) grant(ctx context.Context) error {
	resp, err := s.b.cli.Grant(ctx, s.ttl)
	if err != nil {
		return s.b.opError(ctx, fmt.Sprintf("grant presence lease of %d s", s.ttl), err)
	}
	ka, err := s.b.cli.KeepAlive(s.recs.Context(), resp.ID)
	if err != nil {
		return s.b.opError(ctx, "keep presence lease alive", err)
	}
	s.mu.Lock()
	s.lease = resp.ID
	s.mu.Unlock()
	s.recs.Go(func() { s.keepAlive(resp.ID, ka) })
	return nil
}

// keepAlive drains the keep-alive responses of lease; when they stop while
// the session is open (the lease expired), it grants a new lease and writes
// the records again, retrying with backoff.
func (s *presenceSession) keepAlive(lease clientv3.LeaseID, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	for range ka {
	}
	sctx := s.recs.Context()
	backoff := 100 * time.Millisecond
	for sctx.Err() == nil {
		s.mu.Lock()
		current := s.lease
		s.mu.Unlock()
		if current != lease {
			return // Put already renewed it
		}
		ctx, cancel := context.WithTimeout(sctx, s.b.cfg.DialTimeout)
		err := s.renew(ctx, lease)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-sctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// renew replaces lease, if it is still the session's, by a new one and
// writes every record again under it.
func (s *presenceSession) renew(ctx context.Context, lease clientv3.LeaseID) error {
	s.mu.Lock()
	stale := s.lease == lease
	s.mu.Unlock()
	if !stale {
		return nil
	}
	if err := s.grant(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	now := s.lease
	s.mu.Unlock()
	for key, rec := range s.recs.Records() {
		if _, err := s.b.cli.Put(ctx, key, string(rec), clientv3.WithLease(now)); err != nil {
			return s.b.opError(ctx, "put presence record "+key, err)
		}
	}
	return nil
}

// Put writes record at the key of instance id in namespace ns under the
// session's lease, granting a new lease first if etcd no longer has it.
func (s *presenceSession) Put(ctx context.Context, ns, id string, record []byte) error {
	if err := presenceloop.CheckNames("etcd", ns, id); err != nil {
		return err
	}
	key := s.b.PresenceKey(ns, id)
	// The record is kept before the lease is read: a renew that replaces
	// this lease meanwhile writes it again.
	if !s.recs.Put(key, record) {
		return fmt.Errorf("etcd: put presence record %s: %w", key, confo.ErrClosed)
	}
	s.mu.Lock()
	lease := s.lease
	s.mu.Unlock()
	_, err := s.b.cli.Put(ctx, key, string(record), clientv3.WithLease(lease))
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		if err := s.renew(ctx, lease); err != nil {
			return err
		}
		return nil // renew wrote every record, this one included
	}
	if err != nil {
		return s.b.opError(ctx, "put presence record "+key, err)
	}
	return nil
}

// Close revokes the lease, which deletes every record of the session.
func (s *presenceSession) Close(ctx context.Context) error {
	if _, first := s.recs.Close(); !first {
		return nil
	}
	s.mu.Lock()
	lease := s.lease
	s.mu.Unlock()
	if _, err := s.b.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.b.opError(ctx, "revoke presence lease", err)
	}
	return nil
}

// ListPresence reads, in one transaction, the presence records of
// namespace ns and the ModRevision of its most recently changed key.
func (b *Backend) ListPresence(ctx context.Context, ns string) (map[string][]byte, int64, error) {
	if err := b.check("list presence of " + ns); err != nil {
		return nil, 0, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, 0, fmt.Errorf("etcd: list presence: %w", err)
	}
	prefix := b.presencePrefix(ns)
	resp, err := b.cli.Txn(ctx).Then(
		clientv3.OpGet(prefix, clientv3.WithPrefix()),
		clientv3.OpGet(b.nsPrefix(ns), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(1)),
	).Commit()
	if err != nil {
		return nil, 0, b.opError(ctx, "list presence under "+prefix, err)
	}
	records := make(map[string][]byte)
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		id := string(kv.Key[len(prefix):])
		if strings.Contains(id, "/") {
			continue
		}
		records[id] = kv.Value
	}
	var rev int64
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		rev = kvs[0].ModRevision
	}
	return records, rev, nil
}
