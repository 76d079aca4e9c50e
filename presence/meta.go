package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/presenceloop"
)

// metaPrefix is where presence records live among a namespace's metadata.
const metaPrefix = "presence/"

// metaPresence keeps presence records in the metadata of a store without
// leases ([confo.MetaStore]: the file backend, the memory backend, ...).
// Each record carries its expiry: the session rewrites its records every
// TTL/3 to push the expiry on, and List skips the expired records and
// deletes them (a sweep guarded by their revision, so a record rewritten
// meanwhile stays). An instance that dies so disappears from listings
// within the TTL, as on etcd, but the store keeps its record until the next
// List, and expiry compares the writer's clock with the lister's.
type metaPresence struct {
	b  confo.Backend
	ms confo.MetaStore
}

var _ Backend = metaPresence{}

// envelope is a record as kept in metadata.
type envelope struct {
	Expires time.Time       `json:"expires"`
	Record  json.RawMessage `json:"record"`
}

// OpenPresence starts a session that refreshes its records every ttl/3.
func (p metaPresence) OpenPresence(ctx context.Context, ttl time.Duration) (Session, error) {
	s := &metaSession{p: p, ttl: ttl, recs: presenceloop.New[[2]string](ctx)}
	s.recs.Refresh(presenceloop.Interval(ttl), s.refresh)
	return s, nil
}

// metaSession is one instance's records in a MetaStore, by {namespace, id}.
type metaSession struct {
	p    metaPresence
	ttl  time.Duration
	recs *presenceloop.Session[[2]string]
}

// write puts the record of id in ns with an expiry ttl from now (nil
// deletes it).
func (s *metaSession) write(ctx context.Context, ns, id string, record []byte) error {
	op := confo.MetaOp{Key: metaPrefix + id, Revision: confo.AnyRevision}
	if record != nil {
		v, err := json.Marshal(envelope{Expires: time.Now().Add(s.ttl).UTC(), Record: record})
		if err != nil {
			return err
		}
		op.Value = v
	}
	_, err := s.p.ms.CommitMeta(ctx, ns, nil, []confo.MetaOp{op})
	return err
}

// Put writes the record and remembers it for the refreshes.
func (s *metaSession) Put(ctx context.Context, ns, id string, record []byte) error {
	if !s.recs.Put([2]string{ns, id}, record) {
		return fmt.Errorf("put presence record of %q in %q: %w", id, ns, confo.ErrClosed)
	}
	return s.write(ctx, ns, id, record)
}

// refresh rewrites every record, pushing its expiry on.
func (s *metaSession) refresh(sctx context.Context, recs map[[2]string][]byte) {
	for k, rec := range recs {
		ctx, cancel := context.WithTimeout(sctx, s.ttl/3+time.Second)
		s.write(ctx, k[0], k[1], rec) // a failure is retried at the next tick
		cancel()
	}
}

// Close stops the refreshes and deletes the session's records.
func (s *metaSession) Close(ctx context.Context) error {
	recs, _ := s.recs.Close()
	var errs []error
	for k := range recs {
		if err := s.write(ctx, k[0], k[1], nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListPresence returns the records that have not expired, deleting those
// that have, and the highest revision of the namespace's configurations
// (0 when the store has no ordered revisions).
func (p metaPresence) ListPresence(ctx context.Context, ns string) (map[string][]byte, int64, error) {
	entries, err := p.ms.LoadMeta(ctx, ns, metaPrefix)
	if err != nil {
		return nil, 0, err
	}
	now := time.Now()
	records := make(map[string][]byte, len(entries))
	var sweep []confo.MetaOp
	for key, e := range entries {
		id := strings.TrimPrefix(key, metaPrefix)
		var env envelope
		if err := json.Unmarshal(e.Value, &env); err != nil || now.After(env.Expires) {
			sweep = append(sweep, confo.MetaOp{Key: key, Revision: e.Revision})
			continue
		}
		records[id] = env.Record
	}
	for _, op := range sweep { // one at a time: a rewritten record conflicts alone
		if _, err := p.ms.CommitMeta(ctx, ns, nil, []confo.MetaOp{op}); err != nil && !errors.Is(err, confo.ErrConflict) {
			return nil, 0, fmt.Errorf("sweep expired presence record %s: %w", op.Key, err)
		}
	}
	snap, err := p.b.Load(ctx, ns)
	if err != nil {
		return nil, 0, err
	}
	var rev int64
	if snap.Revision != 0 {
		for _, e := range snap.Entries {
			rev = max(rev, e.Revision)
		}
	}
	return records, rev, nil
}
