package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

var _ confo.MetaStore = (*Backend)(nil)

// LoadMeta returns the metadata entries of namespace ns whose keys start
// with prefix. Metadata is kept beside the namespace's configurations: it is
// never loaded, listed or watched as one, and DeleteNamespace removes it.
func (b *Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := metakey.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("memory: load metadata of %q: %w", ns, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("load metadata of " + ns); err != nil {
		return nil, err
	}
	if _, ok := b.spaces[ns]; !ok {
		return nil, fmt.Errorf("memory: load metadata of %q: %w", ns, confo.ErrNamespaceNotFound)
	}
	out := make(map[string]confo.Entry)
	for key, e := range b.meta[ns] {
		if strings.HasPrefix(key, prefix) {
			out[key] = confo.Entry{Value: slices.Clone(e.Value), Revision: e.Revision}
		}
	}
	return out, nil
}

// CommitMeta applies ops and meta to namespace ns at one new revision, if
// every guard holds; otherwise it writes nothing and returns ErrConflict
// naming every configuration and metadata entry that differs. A commit of
// metadata alone changes no configuration, so watches see nothing of it.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	return b.commit(ctx, ns, ops, meta)
}

// commitMeta writes meta, whose guards hold, to namespace ns at b.rev.
// Call with b.mu held.
func (b *Backend) commitMeta(ns string, meta []confo.MetaOp) {
	entries := b.meta[ns]
	for _, op := range meta {
		switch {
		case op.Check:
		case op.Value == nil:
			delete(entries, op.Key)
		default:
			if entries == nil {
				if b.meta == nil {
					b.meta = make(map[string]map[string]confo.Entry)
				}
				entries = make(map[string]confo.Entry)
				b.meta[ns] = entries
			}
			entries[op.Key] = confo.Entry{Value: slices.Clone(op.Value), Revision: b.rev}
		}
	}
}
