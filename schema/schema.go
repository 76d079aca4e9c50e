// Package schema enforces JSON Schemas (draft 2020-12) on Confo
// configurations. A schema is kept in the store beside its namespace, in the
// namespace's metadata ([confo.MetaStore]): under the key "schema/<name>"
// for configuration <name>, or "schema" for the namespace's default, which
// applies to every configuration without a schema of its own. So every
// manager, the confo command and the console enforce the same rule.
//
// Validation is a [confo.Layer]:
//
//	m := confo.New(confo.WithLayers(schema.Layer()))
//
// With it:
//
//   - Set, SetField and Update refuse a value that fails its schema, as the
//     layer has it cached, with [confo.ErrInvalidValue] wrapping a
//     [*ValidationError] that lists each failure with its JSON pointer and
//     message; nothing changes in the view ([confo.Checker]).
//   - Every Commit (Persist) validates each configuration it writes (but
//     one that CheckValue accepted under the schema still in force: see
//     below) and puts in the same atomic commit a guard on the revision of
//     [VersionKey]
//     (a [confo.MetaOp] Check), which every schema change rewrites, so a
//     schema changed concurrently fails the commit with [confo.ErrConflict]
//     naming the schemas that changed, and never lets in a value that the
//     schema in force at that revision refuses. After such a conflict the
//     layer reads the schemas again: the next Persist validates against
//     them. A schema written into the store by other means than Set and
//     Remove (etcdctl) is enforced once read, but is not covered by the
//     guard.
//   - Values read by Load, Reload and Watch that fail their schema carry
//     Entry.Err or Change.Err: the Manager quarantines them as it does a
//     value that is not a JSON object (the view keeps the last valid value,
//     Manager.Problems lists it, watchers are told).
//
// Schemas are read when a namespace is loaded, after a conflict, and while
// watching at most once per [RefreshInterval] when changes arrive. A schema
// changed by another process is enforced by Persist at once (the guard)
// and by Set, SetField and Update once read.
//
// [Backend.Set], [Backend.Get], [Backend.Remove] and [Backend.Check] manage
// schemas: Set is guarded and refuses a schema that a current value fails,
// listing those values, unless forced. Every commit of configurations
// through the layer also rewrites [ValuesKey], whose revision guards Set:
// a value committed while Set checks the current ones makes it check again,
// so that a schema set without force is never in force over a value that
// fails it (a value written by other means than a schema layer, such as
// etcdctl, is not covered; [Backend.Check] finds it).
//
// A value that CheckValue accepted is not validated again when it is
// committed under the same schema: CheckValue stamps it with that schema
// (see [confo.Checker]) and Commit validates only the puts whose stamp
// names another schema than the one in force, or none. Validation itself
// takes a fast path for schemas of common keywords (types, properties,
// required, additionalProperties, items, lengths, patterns, formats,
// numeric bounds): a value it is sure of is accepted without the
// validator's allocations; anything else, and every error message, is the
// validator's.
//
// A schema cannot fetch anything: "$ref" to anything but the schema itself
// and the drafts' meta-schemas is [ErrInvalidSchema]. "format" is asserted.
//
// The guard and the write of ValuesKey cost two ops per commit, and etcd
// one more for a commit with metadata: the layer reports three ops fewer
// than the wrapped Backend (etcd: 125 configurations per transaction
// instead of 128). Put the layer before a sealing layer in WithLayers
// (outermost) so that it validates plaintext.
package schema

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/forward"
)

// DefaultKey is the metadata key of a namespace's default schema.
const DefaultKey = "schema"

// VersionKey is the metadata key that [Backend.Set] and [Backend.Remove]
// rewrite, in the same commit, with every schema they change: every commit
// of configurations is guarded by its revision, so one guard covers every
// schema of the namespace.
const VersionKey = "schemas"

// ValuesKey is the metadata key that every commit of configurations
// through the layer rewrites, unguarded, in the same atomic step:
// [Backend.Set] guards a new schema by the revision of ValuesKey it read
// before checking the current values, so that a value committed between
// that check and Set's write makes Set check again.
const ValuesKey = "schemas.values"

// Key returns the metadata key of the schema of configuration name, or
// DefaultKey when name is "".
func Key(name string) string {
	if name == "" {
		return DefaultKey
	}
	return DefaultKey + "/" + name
}

// RefreshInterval is the shortest time between two reads of a namespace's
// schemas while watching it.
const RefreshInterval = time.Second

// Backend is a store's Backend wrapped in schema validation. It is safe
// for concurrent use. Beside the methods below, it forwards unchanged
// Namespaces, CreateNamespace, Close, Unwrap ([confo.Unwrapper]), History
// and Version ([confo.Historian]) and LoadMeta ([confo.MetaStore]); an
// optional interface the wrapped Backend lacks (Watch, History, Version,
// DeleteNamespace, LoadMeta, CommitMeta) returns an error wrapping
// [errors.ErrUnsupported] naming the layer, the call and the wrapped type.
type Backend struct {
	wrapped // forwards what the layer does not change

	mu    sync.Mutex
	cache map[string]*nsSchemas
}

// wrapped is embedded under an unexported name, so that its fields stay
// unexported and its methods are promoted.
type wrapped = forward.Backend

// nsSchemas is the schemas of one namespace as last read.
type nsSchemas struct {
	read    time.Time
	version int64                // revision of VersionKey, 0 if absent
	values  int64                // revision of ValuesKey, 0 if absent
	schemas map[string]*compiled // by key
	broken  map[string]error     // keys whose stored document does not compile
}

// Backend is a confo.Backend, Watcher, Historian, BatchLimiter,
// NamespaceDeleter, MetaStore, Checker and Unwrapper.
var _ forward.All = (*Backend)(nil)

// Layer returns the schema layer, for [confo.WithLayers].
func Layer() confo.Layer {
	return func(b confo.Backend) confo.Backend { return Wrap(b) }
}

// Wrap wraps b in schema validation, for use without a Manager (the confo
// command's schema commands do).
func Wrap(b confo.Backend) *Backend {
	return &Backend{wrapped: forward.New("schema", b), cache: make(map[string]*nsSchemas)}
}

// Of returns the schema layer among the layers of b, a Manager's backend
// (see confo.Manager.Backend's wrapping), or nil.
func Of(b confo.Backend) *Backend {
	for b != nil {
		if s, ok := b.(*Backend); ok {
			return s
		}
		u, ok := b.(confo.Unwrapper)
		if !ok {
			return nil
		}
		b = u.Unwrap()
	}
	return nil
}

// metaStore returns the wrapped MetaStore, or an error wrapping
// errors.ErrUnsupported for a store that keeps no metadata.
func (b *Backend) metaStore(ns string) (confo.MetaStore, error) {
	return forward.As[confo.MetaStore](b.wrapped, "schemas", ns)
}

// hasMeta reports whether the store keeps metadata, through the layers
// beneath this one.
func (b *Backend) hasMeta() bool { return forward.Capable[confo.MetaStore](b.wrapped) }

// refresh reads the schemas of ns from the store into the cache and
// returns them. A stored schema that does not compile is kept aside: the
// configurations it would apply to are refused until it is fixed.
func (b *Backend) refresh(ctx context.Context, ns string) (*nsSchemas, error) {
	if !b.hasMeta() {
		return &nsSchemas{}, nil
	}
	entries, err := b.wrapped.LoadMeta(ctx, ns, DefaultKey)
	if err != nil {
		return nil, err
	}
	s := &nsSchemas{read: time.Now(), schemas: make(map[string]*compiled), broken: make(map[string]error)}
	b.mu.Lock()
	old := b.cache[ns]
	b.mu.Unlock()
	for key, e := range entries {
		switch key {
		case VersionKey:
			s.version = e.Revision
			continue
		case ValuesKey:
			s.values = e.Revision
			continue
		}
		if key != DefaultKey && !strings.HasPrefix(key, DefaultKey+"/") {
			continue // "schemas-x" and the like
		}
		if old != nil {
			if c := old.schemas[key]; c != nil && c.rev == e.Revision {
				s.schemas[key] = c // unchanged: no need to compile again
				continue
			}
		}
		sch, err := compile(ns, key, e.Value)
		if err != nil {
			s.broken[key] = fmt.Errorf("%w (revision %d)", err, e.Revision)
			s.schemas[key] = &compiled{key: key, rev: e.Revision, raw: e.Value}
			continue
		}
		s.schemas[key] = &compiled{key: key, rev: e.Revision, raw: e.Value, sch: sch}
	}
	b.mu.Lock()
	b.cache[ns] = s
	b.mu.Unlock()
	return s, nil
}

// cached returns the cached schemas of ns, reading them if there are none.
func (b *Backend) cached(ctx context.Context, ns string) (*nsSchemas, error) {
	b.mu.Lock()
	s := b.cache[ns]
	b.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return b.refresh(ctx, ns)
}

// forName returns the schema that applies to configuration name, or nil.
func (s *nsSchemas) forName(name string) *compiled {
	if c := s.schemas[Key(name)]; c != nil {
		return c
	}
	return s.schemas[DefaultKey]
}

// validate checks raw, the stored bytes of configuration name, against its
// schema in s. A value that is not a JSON object is left to the Manager.
func (s *nsSchemas) validate(ns, name string, raw []byte) error {
	c := s.forName(name)
	if c == nil {
		return nil
	}
	v, err := decode(raw)
	if err != nil {
		return nil // not a JSON object: the Manager reports ErrCorruptValue
	}
	return s.check(ns, name, c, v)
}

// check validates v with c, or refuses it if c's document does not compile.
func (s *nsSchemas) check(ns, name string, c *compiled, v any) error {
	if c.sch == nil {
		return fmt.Errorf("%w: configuration %q of namespace %q: %w", confo.ErrInvalidValue, name, ns, s.broken[c.key])
	}
	return c.validate(ns, name, v)
}

// stamp is what CheckValue returns for a value it accepted under a
// schema: the schema (as compiled from one revision) and the wrapped
// Checker's stamp. Commit skips validating again a value stamped with the
// schema that applies to it at commit time.
type stamp struct {
	c     *compiled
	inner any
}

// CheckValue validates a local edit of configuration name against its
// schema as the layer has it cached, without I/O; a namespace whose schemas
// were never read is not checked here (Persist checks it). A delete is not
// checked. It then asks the wrapped Backend, if it is a [confo.Checker].
// The stamp of a value a schema accepted names that schema (see
// [confo.Checker]).
func (b *Backend) CheckValue(ns, name string, value map[string]any) (any, error) {
	var by *compiled
	if value != nil {
		b.mu.Lock()
		s := b.cache[ns]
		b.mu.Unlock()
		if s != nil {
			if c := s.forName(name); c != nil {
				if err := s.check(ns, name, c, value); err != nil {
					return nil, err
				}
				by = c
			}
		}
	}
	inner, err := b.wrapped.CheckValue(ns, name, value) // nil, nil if it does not check
	if err != nil {
		return nil, err
	}
	if by == nil && inner == nil {
		return nil, nil
	}
	return &stamp{c: by, inner: inner}, nil
}

// Load reads namespace ns and its schemas, and sets Entry.Err on each
// configuration that fails its schema.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	snap, err := b.wrapped.Load(ctx, ns)
	if err != nil {
		return snap, err
	}
	s, err := b.refresh(ctx, ns)
	if err != nil {
		return confo.Snapshot{}, err
	}
	for name, e := range snap.Entries {
		if e.Err != nil {
			continue
		}
		if e.Err = s.validate(ns, name, e.Value); e.Err != nil {
			snap.Entries[name] = e
		}
	}
	return snap, nil
}

// Watch reports the changes of ns, with Change.Err set on each put that
// fails its schema. When a batch with puts arrives and the schemas were
// read more than RefreshInterval ago, it reads them again first.
func (b *Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	return forward.Watch(ctx, b.wrapped, ns, afterRev, func(batch confo.WatchBatch) confo.WatchBatch {
		return b.checkBatch(ctx, ns, batch)
	})
}

// checkBatch validates the puts of a watch batch.
func (b *Backend) checkBatch(ctx context.Context, ns string, batch confo.WatchBatch) confo.WatchBatch {
	puts := false
	for _, c := range batch.Changes {
		puts = puts || c.Value != nil && c.Err == nil
	}
	if !puts {
		return batch
	}
	s, err := b.cached(ctx, ns)
	if err == nil && time.Since(s.read) > RefreshInterval {
		if fresh, err := b.refresh(ctx, ns); err == nil {
			s = fresh
		}
	}
	if s == nil {
		return batch // no schemas could be read: nothing to check against
	}
	changes := make([]confo.Change, len(batch.Changes))
	for i, c := range batch.Changes {
		if c.Value != nil && c.Err == nil {
			c.Err = s.validate(ns, c.Name, c.Value)
		}
		changes[i] = c
	}
	batch.Changes = changes
	return batch
}

// BatchLimits returns the wrapped Backend's limits with room for the
// layer's metadata ops: three ops fewer (the guard on the schemas'
// version, the write of ValuesKey, and the namespace's check that etcd
// adds to a commit with metadata) and metaBytes bytes fewer.
func (b *Backend) BatchLimits() confo.BatchLimits {
	lim := b.wrapped.BatchLimits() // zero, no limits, when it has none
	if lim.MaxOps > 0 {
		lim.MaxOps = max(1, lim.MaxOps-3)
	}
	if lim.MaxBytes > 0 {
		lim.MaxBytes = max(1, lim.MaxBytes-metaBytes)
	}
	return lim
}

// DeleteNamespace deletes namespace ns, with its schemas.
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	return forward.DeleteNamespace(ctx, b.wrapped, ns, &b.mu, b.cache)
}
