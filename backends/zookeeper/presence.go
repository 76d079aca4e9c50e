package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/presenceloop"
	"github.com/confo-go/confo/presence"
)

var _ presence.Backend = (*Backend)(nil)

// PresencePath returns the znode of the presence record of instance id in
// namespace ns: "<prefix>.presence/<ns>/<id>", an ephemeral znode, outside
// the prefix so that it is never taken for a namespace or a configuration.
func (b *Backend) PresencePath(ns, id string) string { return b.presenceDir(ns) + "/" + id }

func (b *Backend) presenceDir(ns string) string { return b.prefix + ".presence/" + ns }

// OpenPresence starts a session whose records are ephemeral znodes of the
// backend's ZooKeeper session: the ensemble deletes them when that session
// ends (the process died: within session_timeout; Close: at once). ttl only
// sets how often the session checks that its znodes still exist (every
// ttl/3, a read), creating them again after the ZooKeeper session expired
// while the process lived.
func (b *Backend) OpenPresence(ctx context.Context, ttl time.Duration) (presence.Session, error) {
	if err := b.checkOpen("open presence session"); err != nil {
		return nil, err
	}
	s := &presenceSession{b: b, every: presenceloop.Interval(ttl), recs: presenceloop.New[string](ctx)}
	s.recs.Refresh(s.every, s.check)
	return s, nil
}

// presenceSession is one instance's ephemeral znodes, by path.
type presenceSession struct {
	b     *Backend
	every time.Duration
	recs  *presenceloop.Session[string]
}

// write sets the znode at path to record, creating it (ephemeral) and its
// persistent parents when missing.
func (s *presenceSession) write(ctx context.Context, path string, record []byte) error {
	b := s.b
	_, err := do(ctx, func() (*zk.Stat, error) { return b.conn.Set(path, record, -1) })
	if !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	dir := path[:strings.LastIndexByte(path, '/')]
	for _, p := range []string{b.prefix + ".presence", dir} {
		if _, err := do(ctx, func() (string, error) { return b.conn.Create(p, nil, 0, b.acl) }); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err = do(ctx, func() (string, error) { return b.conn.Create(path, record, zk.FlagEphemeral, b.acl) })
	if errors.Is(err, zk.ErrNodeExists) {
		_, err = do(ctx, func() (*zk.Stat, error) { return b.conn.Set(path, record, -1) })
	}
	return err
}

// Put writes the record of instance id in namespace ns.
func (s *presenceSession) Put(ctx context.Context, ns, id string, record []byte) error {
	if err := presenceloop.CheckNames("zookeeper", ns, id); err != nil {
		return err
	}
	path := s.b.PresencePath(ns, id)
	if !s.recs.Put(path, record) {
		return fmt.Errorf("zookeeper: put presence record %s: %w", path, confo.ErrClosed)
	}
	if err := s.write(ctx, path, record); err != nil {
		return s.b.fail("put presence record", path, err)
	}
	return nil
}

// check creates again the znodes that a new ZooKeeper session lost.
func (s *presenceSession) check(sctx context.Context, recs map[string][]byte) {
	for path, rec := range recs {
		ctx, cancel := context.WithTimeout(sctx, s.every+time.Second)
		ok, err := do(ctx, func() (bool, error) { ok, _, err := s.b.conn.Exists(path); return ok, err })
		if err == nil && !ok {
			s.write(ctx, path, rec) // a failure is retried at the next check
		}
		cancel()
	}
}

// Close stops the checks and deletes the session's znodes.
func (s *presenceSession) Close(ctx context.Context) error {
	recs, _ := s.recs.Close()
	var errs []error
	for path := range recs {
		_, err := do(ctx, func() (struct{}, error) { return struct{}{}, s.b.conn.Delete(path, -1) })
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			errs = append(errs, s.b.fail("delete presence record", path, err))
		}
	}
	return errors.Join(errs...)
}

// ListPresence returns the ephemeral records under the namespace's
// presence znode and the highest mzxid of its configurations (their
// revision).
func (b *Backend) ListPresence(ctx context.Context, ns string) (map[string][]byte, int64, error) {
	if err := b.checkOpen("list presence of " + ns); err != nil {
		return nil, 0, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, 0, fmt.Errorf("zookeeper: list presence: %w", err)
	}
	dir := b.presenceDir(ns)
	ids, err := do(ctx, func() ([]string, error) { ids, _, err := b.conn.Children(dir); return ids, err })
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return nil, 0, b.fail("list presence records", dir, err)
	}
	records := make(map[string][]byte, len(ids))
	for _, id := range ids {
		data, err := do(ctx, func() ([]byte, error) { data, _, err := b.conn.Get(dir + "/" + id); return data, err })
		if errors.Is(err, zk.ErrNoNode) {
			continue // its instance left meanwhile
		}
		if err != nil {
			return nil, 0, b.fail("read presence record", dir+"/"+id, err)
		}
		records[id] = data
	}
	var rev int64
	snap, err := b.Load(ctx, ns)
	if err != nil && !errors.Is(err, confo.ErrNamespaceNotFound) {
		return nil, 0, err
	}
	for _, e := range snap.Entries {
		rev = max(rev, e.Revision)
	}
	return records, rev, nil
}
