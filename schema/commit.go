package schema

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/confo-go/confo"
)

// Commit validates each put of ops against its schema and commits ops with
// a guard on the revision of every schema that applies (see the package
// documentation). A value that fails is [confo.ErrInvalidValue] wrapping a
// [*ValidationError], and nothing is written. On a store without metadata
// it is the wrapped Backend's Commit.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	if !b.hasMeta() {
		ops, _, err := (&nsSchemas{}).guards(ns, ops) // no schemas: the stamps unwrapped
		if err != nil {
			return nil, err
		}
		return b.wrapped.Commit(ctx, ns, ops)
	}
	return b.commit(ctx, ns, ops, nil)
}

// CommitMeta is Commit with metadata ops in the same atomic step.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if _, err := b.metaStore(ns); err != nil {
		return nil, err
	}
	return b.commit(ctx, ns, ops, meta)
}

func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	s, err := b.cached(ctx, ns)
	if err != nil {
		return nil, err
	}
	ops, guards, err := s.guards(ns, ops)
	if err != nil {
		return nil, err
	}
	all := make([]confo.MetaOp, 0, len(meta)+len(guards))
	all = append(append(all, meta...), guards...)
	revs, err := b.wrapped.CommitMeta(ctx, ns, ops, all)
	if errors.Is(err, confo.ErrConflict) {
		// A schema may have changed: the next attempt validates against
		// the store's. A failed read leaves the old cache, which the guard
		// keeps honest.
		if cur, rerr := b.refresh(ctx, ns); rerr == nil && cur.version != s.version {
			err = fmt.Errorf("%w (schemas changed in the store: %s; persist again to validate against them)", err, strings.Join(changed(s, cur), ", "))
		}
	}
	return revs, err
}

// guards validates each put of ops that CheckValue did not accept under
// the schema that applies to it now, and returns ops as the wrapped Backend
// takes them (Checked: the wrapped Checker's stamp) and, if ops put
// anything, the Check on the schemas' version and the write of ValuesKey.
func (s *nsSchemas) guards(ns string, ops []confo.Op) ([]confo.Op, []confo.MetaOp, error) {
	puts := false
	var out []confo.Op // ops with their stamps unwrapped, once one is found
	for i, op := range ops {
		st, stamped := op.Checked.(*stamp)
		if stamped {
			if out == nil {
				out = slices.Clone(ops)
			}
			out[i].Checked = st.inner
		}
		if op.Value == nil {
			continue
		}
		puts = true
		c := s.forName(op.Name)
		if c == nil || stamped && st.c == c {
			continue // no schema, or accepted by this one when it was set
		}
		v, err := decode(op.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: configuration %q of namespace %q: %w", confo.ErrInvalidValue, op.Name, ns, err)
		}
		if err := s.check(ns, op.Name, c, v); err != nil {
			return nil, nil, err
		}
	}
	if out == nil {
		out = ops
	}
	if !puts {
		return out, nil, nil
	}
	return out, []confo.MetaOp{
		{Key: VersionKey, Revision: s.version, Check: true},
		{Key: ValuesKey, Value: mark(""), Revision: confo.AnyRevision},
	}, nil
}

// mark returns what a commit writes in ValuesKey (key "") or a schema
// change in VersionKey (the schema's key): only the revision matters, but
// it must change with every write, and stores whose revisions are hashes
// of the content (the file backend) give the same bytes the same
// revision, so each mark holds a random nonce.
func mark(key string) []byte {
	var n [12]byte
	rand.Read(n[:])
	return fmt.Appendf(nil, `{"key":%q,"nonce":"%x"}`, key, n)
}

// metaBytes bounds the bytes of the layer's metadata ops in a commit.
const metaBytes = len(VersionKey) + len(ValuesKey) + 2 + 64

// changed names the schemas that differ between two readings.
func changed(old, cur *nsSchemas) []string {
	var out []string
	for key, c := range cur.schemas {
		if o := old.schemas[key]; o == nil || o.rev != c.rev {
			out = append(out, strconv.Quote(key))
		}
	}
	for key := range old.schemas {
		if cur.schemas[key] == nil {
			out = append(out, strconv.Quote(key)+" (removed)")
		}
	}
	slices.Sort(out)
	return out
}
