// Package changelog records who changed what in a namespace and why: a
// [confo.Layer] that adds to every Commit of the Manager a change record
// (author, time, message, and the configurations written with the revision
// each replaced and a digest of its new value), written in the same atomic
// commit as the configurations, in the namespace's metadata
// ([confo.MetaStore], key "changes/<time-ordered ID>"):
//
//	m := confo.New(confo.WithLayers(changelog.Layer()), confo.WithAuthor("billing@host1"))
//	ctx = confo.WithChangeInfo(ctx, confo.ChangeInfo{Author: "alice", Message: "raise the pool"})
//	err := m.Persist(ctx)
//
// The author and message come from the Commit's context
// ([confo.ChangeInfoFrom]: the context of Persist, or the manager's
// [confo.WithAuthor]); a commit without either is recorded with an empty
// author. [Records] lists a namespace's records, newest first, and [Match]
// finds the one that wrote a version listed by Manager.History.
//
// # Retention
//
// A namespace keeps at most [DefaultMaxRecords] records (1000) no older
// than [DefaultMaxAge] (90 days), or the bounds given with [Options]: each
// commit also deletes, in the same transaction, up to [PrunePerCommit] of
// the oldest records beyond them. The layer lists the records of a
// namespace at its first commit there and again every [RelistInterval], so
// records that other managers wrote meanwhile may keep the count above the
// bound until then; a namespace nobody writes keeps its records.
//
// Each commit carries 1 + PrunePerCommit more metadata ops, so the layer
// reports that many fewer ops in BatchLimits, and less bytes for the record.
// An author longer than 256 bytes or a message longer than 4 KiB is cut,
// ending in "…".
package changelog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/forward"
)

// Retention defaults and costs.
const (
	DefaultMaxRecords = 1000
	DefaultMaxAge     = 90 * 24 * time.Hour
	PrunePerCommit    = 4
	RelistInterval    = 5 * time.Minute
	maxAuthor         = 256
	maxMessage        = 4096
)

// Options bound the records kept; zero fields mean the defaults.
type Options struct {
	MaxRecords int
	MaxAge     time.Duration
	// Now is the clock (time.Now when nil), for tests.
	Now func() time.Time
}

// Backend is a store's Backend that records changes. It is safe for
// concurrent use. Beside the methods below (History and Version add to
// each version the author, message and time of its record), it forwards
// unchanged Namespaces, CreateNamespace, Load, Close, Unwrap
// ([confo.Unwrapper]), Watch ([confo.Watcher]), LoadMeta ([confo.MetaStore]) and CheckValue ([confo.Checker]: the
// wrapped Checker's stamp is the layer's, as its Commit passes ops on
// unchanged; every value passes when the wrapped Backend does not check);
// an optional interface the wrapped Backend lacks (Watch, History, Version,
// DeleteNamespace, LoadMeta, CommitMeta) returns an error wrapping
// [errors.ErrUnsupported] naming the layer, the call and the wrapped type.
type Backend struct {
	wrapped // forwards what the layer does not change
	opts    Options

	mu  sync.Mutex
	nss map[string]*kept
}

// wrapped is embedded under an unexported name, so that its fields stay
// unexported and its methods are promoted.
type wrapped = forward.Backend

// kept is what the layer knows of a namespace's records.
type kept struct {
	listed time.Time
	keys   []string // sorted, oldest first
}

// Backend is a confo.Backend, Watcher, Historian, BatchLimiter,
// NamespaceDeleter, MetaStore, Checker and Unwrapper.
var _ forward.All = (*Backend)(nil)

// Layer returns the change-record layer with default retention, for
// [confo.WithLayers].
func Layer() confo.Layer { return LayerWith(Options{}) }

// LayerWith returns the change-record layer with retention opts.
func LayerWith(opts Options) confo.Layer {
	return func(b confo.Backend) confo.Backend { return Wrap(b, opts) }
}

// Wrap wraps b in change records.
func Wrap(b confo.Backend, opts Options) *Backend {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultMaxRecords
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Backend{wrapped: forward.New("changelog", b), opts: opts, nss: make(map[string]*kept)}
}

// Commit commits ops with a change record, in one atomic step; on a store
// without metadata it commits ops alone.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	if !forward.Capable[confo.MetaStore](b.wrapped) || len(ops) == 0 {
		return b.wrapped.Commit(ctx, ns, ops)
	}
	return b.CommitMeta(ctx, ns, ops, nil)
}

// CommitMeta is Commit with metadata ops in the same atomic step. A commit
// without configuration ops is not recorded.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	ms, err := forward.As[confo.MetaStore](b.wrapped, "commit metadata", ns)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return ms.CommitMeta(ctx, ns, ops, meta)
	}
	now := b.opts.Now()
	key, value, err := b.record(ctx, now, ops)
	if err != nil {
		return nil, err
	}
	prune := b.prunable(ctx, ms, ns, now)
	all := slices.Clip(meta)
	all = append(all, confo.MetaOp{Key: key, Value: value, Revision: 0})
	for _, k := range prune {
		all = append(all, confo.MetaOp{Key: k, Revision: confo.AnyRevision})
	}
	revs, err := ms.CommitMeta(ctx, ns, ops, all)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if k := b.nss[ns]; k != nil {
		k.keys = slices.DeleteFunc(k.keys, func(s string) bool { return slices.Contains(prune, s) })
		i, _ := slices.BinarySearch(k.keys, key)
		k.keys = slices.Insert(k.keys, i, key)
	}
	b.mu.Unlock()
	return revs, nil
}

// record returns the key and encoded record of a commit of ops at now.
func (b *Backend) record(ctx context.Context, now time.Time, ops []confo.Op) (string, []byte, error) {
	info, _ := confo.ChangeInfoFrom(ctx)
	r := Record{Author: cut(info.Author, maxAuthor), Message: cut(info.Message, maxMessage), Time: now.UTC()}
	for _, op := range ops {
		w := Written{Name: op.Name, Based: op.Revision, Deleted: op.Value == nil}
		if op.Value != nil {
			w.Digest = Digest(op.Value)
		}
		r.Configurations = append(r.Configurations, w)
	}
	value, err := json.Marshal(r)
	if err != nil {
		return "", nil, fmt.Errorf("changelog: encode record: %w", err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("%s%020d-%s", Prefix, now.UnixNano(), hex.EncodeToString(rnd[:])), value, nil
}

// cut shortens s to at most n bytes, on a rune boundary, ending in "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// prunable returns up to PrunePerCommit keys of records beyond the bounds,
// oldest first, listing the namespace's records when due. A failed listing
// prunes nothing this time.
func (b *Backend) prunable(ctx context.Context, ms confo.MetaStore, ns string, now time.Time) []string {
	b.mu.Lock()
	k := b.nss[ns]
	b.mu.Unlock()
	if k == nil || now.Sub(k.listed) > RelistInterval {
		entries, err := ms.LoadMeta(ctx, ns, Prefix)
		if err != nil {
			return nil
		}
		k = &kept{listed: now}
		for key := range entries {
			k.keys = append(k.keys, key)
		}
		slices.Sort(k.keys)
		b.mu.Lock()
		b.nss[ns] = k
		b.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	oldest := fmt.Sprintf("%s%020d", Prefix, now.Add(-b.opts.MaxAge).UnixNano())
	var out []string
	for i, key := range k.keys {
		// One more than the kept count goes in with this commit.
		if len(out) == PrunePerCommit || len(k.keys)-i < b.opts.MaxRecords && key >= oldest {
			break
		}
		out = append(out, key)
	}
	return out
}

// Records lists the change records of namespace ns, newest first; with
// name set, only those that wrote that configuration.
func (b *Backend) Records(ctx context.Context, ns, name string) ([]Record, error) {
	ms, err := forward.As[confo.MetaStore](b.wrapped, "records", ns)
	if err != nil {
		return nil, err
	}
	return Records(ctx, ms, ns, name)
}

// BatchLimits returns the wrapped Backend's limits less the record's ops
// and bytes.
func (b *Backend) BatchLimits() confo.BatchLimits {
	lim := b.wrapped.BatchLimits() // zero, no limits, when it has none
	if lim.MaxOps > 0 {
		lim.MaxOps = max(1, lim.MaxOps-1-PrunePerCommit)
	}
	if lim.MaxBytes > 0 {
		ops := lim.MaxOps
		if ops == 0 {
			ops = 128
		}
		record := maxAuthor + maxMessage + 256 + ops*(confo.MaxNameLen+96) // JSON of the record
		lim.MaxBytes = max(1024, min(lim.MaxBytes-record, lim.MaxBytes/2+lim.MaxBytes/4))
	}
	return lim
}

// DeleteNamespace deletes namespace ns, with its records.
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	return forward.DeleteNamespace(ctx, b.wrapped, ns, &b.mu, b.nss)
}
