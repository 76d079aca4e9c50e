package redis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/presenceloop"
	"github.com/confo-go/confo/presence"
)

var _ presence.Backend = (*Backend)(nil)

// PresenceKey returns the key of the presence record of instance id in
// namespace ns: "<prefix>:presence:<ns>/<id>", a string with a time to
// live ("/", which no name contains, keeps namespace "a" from listing the
// records of namespace "a:b").
func (b *Backend) PresenceKey(ns, id string) string { return b.presencePrefix(ns) + id }

func (b *Backend) presencePrefix(ns string) string { return b.keys.prefix + ":presence:" + ns + "/" }

// OpenPresence starts a session whose records are keys with a time to live
// of ttl (SET ... PX), which the session sets again every ttl/3: Redis
// deletes the records of an instance that died within ttl, and Close
// deletes them at once. Each refresh is a write, made whether or not the
// record changed.
func (b *Backend) OpenPresence(ctx context.Context, ttl time.Duration) (presence.Session, error) {
	if err := b.checkOpen("open presence session"); err != nil {
		return nil, err
	}
	s := &presenceSession{b: b, ttl: max(ttl, time.Millisecond), recs: presenceloop.New[string](ctx)}
	s.recs.Refresh(presenceloop.Interval(s.ttl), s.refresh)
	return s, nil
}

// presenceSession is one instance's records, by key.
type presenceSession struct {
	b    *Backend
	ttl  time.Duration
	recs *presenceloop.Session[string]
}

// Put sets the record of instance id in namespace ns with the session's
// time to live.
func (s *presenceSession) Put(ctx context.Context, ns, id string, record []byte) error {
	if err := presenceloop.CheckNames("redis", ns, id); err != nil {
		return err
	}
	key := s.b.PresenceKey(ns, id)
	if !s.recs.Put(key, record) {
		return fmt.Errorf("redis: put presence record %s: %w", key, confo.ErrClosed)
	}
	if err := s.b.client.Set(ctx, key, record, s.ttl).Err(); err != nil {
		return s.b.fail("put presence record "+key, err)
	}
	return nil
}

// refresh sets every record again, in one pipeline.
func (s *presenceSession) refresh(ctx context.Context, recs map[string][]byte) {
	ctx, cancel := context.WithTimeout(ctx, s.ttl/3+time.Second)
	defer cancel()
	pipe := s.b.client.Pipeline()
	for key, rec := range recs {
		pipe.Set(ctx, key, rec, s.ttl)
	}
	pipe.Exec(ctx) // a failure is retried at the next tick
}

// Close stops the refreshes and deletes the session's records.
func (s *presenceSession) Close(ctx context.Context) error {
	recs, first := s.recs.Close()
	if !first || len(recs) == 0 {
		return nil
	}
	if err := s.b.client.Del(ctx, slices.Collect(maps.Keys(recs))...).Err(); err != nil {
		return s.b.fail("delete presence records", err)
	}
	return nil
}

// ListPresence returns the live records of namespace ns (SCAN of its
// presence keys, then MGET) and the highest revision of its
// configurations.
func (b *Backend) ListPresence(ctx context.Context, ns string) (map[string][]byte, int64, error) {
	if err := b.checkOpen("list presence of " + ns); err != nil {
		return nil, 0, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, 0, fmt.Errorf("redis: list presence: %w", err)
	}
	prefix := b.presencePrefix(ns)
	var keys []string
	var cursor uint64
	for {
		page, next, err := b.client.Scan(ctx, cursor, globEscape(prefix)+"*", 1000).Result()
		if err != nil {
			return nil, 0, b.fail("scan presence records "+prefix+"*", err)
		}
		keys = append(keys, page...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	records := make(map[string][]byte, len(keys))
	if len(keys) > 0 {
		vals, err := b.client.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, 0, b.fail("read presence records", err)
		}
		for i, v := range vals {
			id := strings.TrimPrefix(keys[i], prefix)
			if s, ok := v.(string); ok { // nil: expired meanwhile
				records[id] = []byte(s)
			}
		}
	}
	revs, err := b.client.HVals(ctx, b.keys.revisions(ns)).Result()
	if err != nil {
		return nil, 0, b.fail("read revisions of "+ns, err)
	}
	var rev int64
	for _, r := range revs {
		if n, err := strconv.ParseInt(r, 10, 64); err == nil {
			rev = max(rev, n)
		}
	}
	return records, rev, nil
}

// globEscape escapes the characters SCAN's MATCH gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
