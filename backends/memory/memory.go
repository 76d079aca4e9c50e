// Package memory is an in-process confo backend: a store that lives as long
// as its Backend, with the same contract as etcd (revisions, the guard,
// atomic commits). Use it in tests of code that uses confo, or for
// configuration that need not outlive the process.
//
// Importing the package registers [confo.MemoryBackend]; each LoadBackend
// opens a new, empty store. The optional credential "namespaces" (a list of
// names) creates namespaces at load; any other key is
// [confo.ErrInvalidCredentials] naming it.
//
// # Test hooks
//
// [Backend.Put], [Backend.Remove] and [Backend.Compact] are not part of the
// confo.Backend contract: they act on the store as another writer or the
// store's operator would (a write that bypasses the guard, a value that is
// not JSON, a compaction of the history), so that tests of code that uses
// confo can stage conflicts, corrupt values and lost history. A program
// that uses the memory store as its configuration store has no use for
// them.
package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

func init() {
	confo.Register(confo.MemoryBackend, func(ctx context.Context, creds confo.Credentials) (confo.Backend, error) {
		names, err := parseCredentials(creds)
		if err != nil {
			return nil, err
		}
		b := New()
		for _, ns := range names {
			if err := b.CreateNamespace(ctx, ns); err != nil {
				return nil, err
			}
		}
		return b, nil
	})
}

// Backend is an in-memory store. The zero value is not usable: call [New].
// It is safe for concurrent use.
type Backend struct {
	mu     sync.Mutex
	rev    int64                             // store revision, bumped by each change
	spaces map[string]map[string]confo.Entry // namespace -> name -> entry
	meta   map[string]map[string]confo.Entry // namespace -> metadata key -> entry (meta.go)
	closed bool
	hist   history // recent changes, for watches (watch.go)
}

var (
	_ confo.Backend = (*Backend)(nil)
)

// New returns an empty in-memory store.
func New() *Backend {
	return &Backend{spaces: make(map[string]map[string]confo.Entry)}
}

func (b *Backend) check(op string) error {
	if b.closed {
		return fmt.Errorf("memory: %s: %w", op, confo.ErrClosed)
	}
	return nil
}

// Namespaces lists the namespaces.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("namespaces"); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(b.spaces)), nil
}

// CreateNamespace creates namespace ns if it does not exist.
func (b *Backend) CreateNamespace(ctx context.Context, ns string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("create namespace " + ns); err != nil {
		return err
	}
	if _, ok := b.spaces[ns]; !ok {
		b.spaces[ns] = make(map[string]confo.Entry)
		b.rev++
	}
	return nil
}

// Load returns a copy of namespace ns, or ErrNamespaceNotFound.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return confo.Snapshot{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("load " + ns); err != nil {
		return confo.Snapshot{}, err
	}
	space, ok := b.spaces[ns]
	if !ok {
		return confo.Snapshot{}, fmt.Errorf("memory: load %q: %w", ns, confo.ErrNamespaceNotFound)
	}
	entries := make(map[string]confo.Entry, len(space))
	for name, e := range space {
		entries[name] = confo.Entry{Value: slices.Clone(e.Value), Revision: e.Revision}
	}
	return confo.Snapshot{Entries: entries, Revision: b.rev}, nil
}

// Commit applies ops atomically if every op's revision matches.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commit(ctx, ns, ops, nil)
}

// commit is Commit and CommitMeta: it applies ops and meta to namespace ns
// at one new revision if every guard holds, and otherwise writes nothing and
// returns ErrConflict naming every configuration and metadata entry that
// differs.
func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := metakey.ValidateOps(meta); err != nil {
		return nil, fmt.Errorf("memory: commit to %q: %w", ns, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check("commit to " + ns); err != nil {
		return nil, err
	}
	space, ok := b.spaces[ns]
	if !ok {
		return nil, fmt.Errorf("memory: commit to %q: %w", ns, confo.ErrNamespaceNotFound)
	}
	var changed, conflicts []string
	for _, op := range ops {
		if space[op.Name].Revision != op.Revision {
			changed = append(changed, op.Name)
		}
	}
	if len(changed) > 0 {
		conflicts = append(conflicts, quoteAll(changed)+" changed in the store")
	}
	entries := b.meta[ns]
	for _, op := range meta {
		if cur := entries[op.Key].Revision; metakey.Guarded(op) && cur != op.Revision {
			conflicts = append(conflicts, metakey.ConflictText(op, cur))
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("memory: commit to %q: %w: %s", ns, confo.ErrConflict, strings.Join(conflicts, ", "))
	}
	b.rev++
	revs := make([]int64, len(ops))
	for i, op := range ops {
		if op.Value == nil {
			delete(space, op.Name)
			continue
		}
		space[op.Name] = confo.Entry{Value: slices.Clone(op.Value), Revision: b.rev}
		revs[i] = b.rev
	}
	b.commitMeta(ns, meta)
	if len(ops) > 0 || len(meta) == 0 { // a commit of metadata alone changes no configuration
		b.record(ns, b.rev, ops)
	}
	return revs, nil
}

// Put writes raw bytes under ns/name as another writer would, bypassing the
// guard: useful in tests of conflicts and corrupt values. It creates the
// namespace if needed and returns the new revision.
func (b *Backend) Put(ns, name string, value []byte) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	space, ok := b.spaces[ns]
	if !ok {
		space = make(map[string]confo.Entry)
		b.spaces[ns] = space
	}
	b.rev++
	space[name] = confo.Entry{Value: slices.Clone(value), Revision: b.rev}
	b.record(ns, b.rev, []confo.Op{{Name: name, Value: append([]byte{}, value...)}}) // non-nil: a put
	return b.rev
}

// Remove deletes ns/name as another writer would, bypassing the guard.
func (b *Backend) Remove(ns, name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if space, ok := b.spaces[ns]; ok {
		delete(space, name)
		b.rev++
		b.record(ns, b.rev, []confo.Op{{Name: name}})
	}
}

// Close makes later calls fail with ErrClosed.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.wake() // running watches see closed and end
	return nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
