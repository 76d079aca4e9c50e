package seal_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// metaMemory is the memory backend with metadata kept beside it under one
// lock, standing in for memory's own MetaStore until it lands.
type metaMemory struct {
	*memory.Backend
	mu   sync.Mutex
	rev  int64
	meta map[string]map[string]confo.Entry
}

var _ confo.MetaStore = (*metaMemory)(nil)

func newMetaMemory() *metaMemory {
	return &metaMemory{Backend: memory.New(), meta: make(map[string]map[string]confo.Entry)}
}

func (b *metaMemory) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	if _, err := b.Backend.Load(ctx, ns); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]confo.Entry)
	for k, e := range b.meta[ns] {
		if strings.HasPrefix(k, prefix) {
			out[k] = e
		}
	}
	return out, nil
}

func (b *metaMemory) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.CommitMeta(ctx, ns, ops, nil)
}

func (b *metaMemory) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range meta {
		if m.Revision != confo.AnyRevision && b.meta[ns][m.Key].Revision != m.Revision {
			return nil, fmt.Errorf("metadata %q: %w", m.Key, confo.ErrConflict)
		}
	}
	revs := make([]int64, len(ops))
	if len(ops) > 0 {
		var err error
		if revs, err = b.Backend.Commit(ctx, ns, ops); err != nil {
			return nil, err
		}
	}
	if b.meta[ns] == nil {
		b.meta[ns] = make(map[string]confo.Entry)
	}
	for _, m := range meta {
		if m.Check {
			continue
		}
		b.rev++
		if m.Value == nil {
			delete(b.meta[ns], m.Key)
		} else {
			b.meta[ns][m.Key] = confo.Entry{Value: m.Value, Revision: b.rev}
		}
	}
	return revs, nil
}
