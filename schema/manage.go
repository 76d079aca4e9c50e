package schema

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/confo-go/confo"
)

// Schema is a schema as the store keeps it.
type Schema struct {
	// Key is its metadata key: "schema/<name>", or "schema" for the
	// namespace's default.
	Key string
	// Document is the JSON Schema document as stored.
	Document []byte
	// Revision is its metadata revision.
	Revision int64
}

// SetOption changes what [Backend.Set] does.
type SetOption func(*setOptions)

type setOptions struct{ force bool }

// Force makes Set store the schema even though current configurations fail
// it; they are then quarantined where they are loaded.
func Force() SetOption { return func(o *setOptions) { o.force = true } }

// RefusedError is returned by [Backend.Set] for a schema that current
// configurations fail. It wraps [confo.ErrInvalidValue].
type RefusedError struct {
	// Namespace and Key name the schema refused.
	Namespace, Key string
	// Failures holds the failure of each configuration, by name.
	Failures map[string]*ValidationError
}

// Error names the schema and, sorted, every configuration that fails it
// with its first failure.
func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema %q of namespace %q refused: %s: %d configurations fail it", e.Key, e.Namespace, confo.ErrInvalidValue, len(e.Failures))
	for i, name := range slices.Sorted(maps.Keys(e.Failures)) {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		f := e.Failures[name].Failures
		fmt.Fprintf(&b, "%s%q", sep, name)
		if len(f) > 0 {
			fmt.Fprintf(&b, " (at %s: %s)", PointerText(f[0].Pointer), f[0].Message)
		}
	}
	b.WriteString(" (set it with force to quarantine them)")
	return b.String()
}

// Unwrap returns [confo.ErrInvalidValue].
func (e *RefusedError) Unwrap() error { return confo.ErrInvalidValue }

// Set stores document as the schema of configuration name of namespace ns
// (name "" sets the namespace's default). The document must compile
// ([ErrInvalidSchema]). Every current configuration it would apply to is
// validated: if any fails, Set returns a [*RefusedError] listing them,
// unless [Force] is given. The write is guarded by the schema's revision as
// Set read it (a schema changed concurrently is [confo.ErrConflict] naming
// its key) and, unless forced, by the revision of [ValuesKey] read before
// the values were: when a configuration was committed through a schema
// layer meanwhile, Set checks the values again (up to setAttempts times in
// all, then ErrConflict). It returns the schema's new revision.
func (b *Backend) Set(ctx context.Context, ns, name string, document []byte, opts ...SetOption) (int64, error) {
	var o setOptions
	for _, opt := range opts {
		opt(&o)
	}
	ms, key, err := b.manage(ns, name)
	if err != nil {
		return 0, err
	}
	sch, err := compile(ns, key, document)
	if err != nil {
		return 0, err
	}
	for attempt := 1; ; attempt++ {
		s, err := b.refresh(ctx, ns)
		if err != nil {
			return 0, err
		}
		var rev int64
		if c := s.schemas[key]; c != nil {
			rev = c.rev
		}
		meta := []confo.MetaOp{{Key: key, Value: document, Revision: rev}, s.bump(key)}
		if !o.force {
			if err := b.refuse(ctx, ns, name, key, sch, s); err != nil {
				return 0, err
			}
			meta = append(meta, confo.MetaOp{Key: ValuesKey, Revision: s.values, Check: true})
		}
		_, err = ms.CommitMeta(ctx, ns, nil, meta)
		if err == nil {
			break
		}
		cur, rerr := b.refresh(ctx, ns)
		if errors.Is(err, confo.ErrConflict) && rerr == nil && attempt < setAttempts &&
			cur.version == s.version && cur.values != s.values {
			continue // only configurations were committed meanwhile: check them again
		}
		if cur != nil && cur.values != s.values && cur.version == s.version {
			err = fmt.Errorf("%w (configurations were committed while it was checked, %d times)", err, attempt)
		}
		return 0, fmt.Errorf("schema: set %q of namespace %q: %w", key, ns, err)
	}
	s, err := b.refresh(ctx, ns)
	if err != nil {
		return 0, err
	}
	if c := s.schemas[key]; c != nil {
		return c.rev, nil
	}
	return 0, fmt.Errorf("schema: set %q of namespace %q: %w: removed again at once", key, ns, confo.ErrConflict)
}

// setAttempts bounds how many times Set checks the values when
// configurations keep being committed while it does.
const setAttempts = 5

// refuse validates the current configurations of ns that schema key (of
// configuration name, or the default when name is "") would apply to, and
// returns a *RefusedError listing those that fail it.
func (b *Backend) refuse(ctx context.Context, ns, name, key string, sch *jsonschema.Schema, s *nsSchemas) error {
	snap, err := b.wrapped.Load(ctx, ns)
	if err != nil {
		return err
	}
	c := &compiled{key: key, sch: sch}
	refused := &RefusedError{Namespace: ns, Key: key, Failures: make(map[string]*ValidationError)}
	for cname, e := range snap.Entries {
		if name != "" && cname != name || name == "" && s.schemas[Key(cname)] != nil {
			continue // another configuration, or one with a schema of its own
		}
		v, err := decode(e.Value)
		if err != nil {
			continue // not a JSON object: quarantined whatever the schema
		}
		var ve *ValidationError
		if errors.As(c.validate(ns, cname, v), &ve) {
			refused.Failures[cname] = ve
		}
	}
	if len(refused.Failures) > 0 {
		return refused
	}
	return nil
}

// Get returns the schema of configuration name of namespace ns (name "":
// the namespace's default) as the store has it, or [ErrNoSchema].
func (b *Backend) Get(ctx context.Context, ns, name string) (Schema, error) {
	ms, key, err := b.manage(ns, name)
	if err != nil {
		return Schema{}, err
	}
	entries, err := ms.LoadMeta(ctx, ns, key)
	if err != nil {
		return Schema{}, err
	}
	e, ok := entries[key]
	if !ok {
		return Schema{}, fmt.Errorf("%w %q in namespace %q", ErrNoSchema, key, ns)
	}
	return Schema{Key: key, Document: e.Value, Revision: e.Revision}, nil
}

// List returns the schemas of namespace ns, by key.
func (b *Backend) List(ctx context.Context, ns string) (map[string]Schema, error) {
	s, err := b.refresh(ctx, ns)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Schema, len(s.schemas))
	for key, c := range s.schemas {
		out[key] = Schema{Key: key, Document: c.raw, Revision: c.rev}
	}
	return out, nil
}

// Remove deletes the schema of configuration name of namespace ns (name
// "": the namespace's default), guarded by the revision it reads:
// [ErrNoSchema] when there is none, [confo.ErrConflict] naming it when it
// changed meanwhile.
func (b *Backend) Remove(ctx context.Context, ns, name string) error {
	ms, key, err := b.manage(ns, name)
	if err != nil {
		return err
	}
	s, err := b.refresh(ctx, ns) // the schema's revision and VersionKey's in one read
	if err != nil {
		return err
	}
	cur := s.schemas[key]
	if cur == nil {
		return fmt.Errorf("%w %q in namespace %q", ErrNoSchema, key, ns)
	}
	_, err = ms.CommitMeta(ctx, ns, nil, []confo.MetaOp{{Key: key, Revision: cur.rev}, s.bump(key)})
	b.refresh(ctx, ns)
	if err != nil {
		return fmt.Errorf("schema: remove %q of namespace %q: %w", key, ns, err)
	}
	return nil
}

// Check validates every configuration of namespace ns against its schema
// as the store has them and returns the failures, sorted by name (none:
// an empty slice). A schema that does not compile fails every
// configuration it applies to.
func (b *Backend) Check(ctx context.Context, ns string) ([]error, error) {
	snap, err := b.wrapped.Load(ctx, ns)
	if err != nil {
		return nil, err
	}
	s, err := b.refresh(ctx, ns)
	if err != nil {
		return nil, err
	}
	out := []error{}
	for _, name := range slices.Sorted(maps.Keys(snap.Entries)) {
		if err := s.validate(ns, name, snap.Entries[name].Value); err != nil {
			out = append(out, err)
		}
	}
	return out, nil
}

// bump returns the op that rewrites VersionKey, guarded by the revision s
// read, for a change of schema key.
func (s *nsSchemas) bump(key string) confo.MetaOp {
	return confo.MetaOp{Key: VersionKey, Value: mark(key), Revision: s.version}
}

// manage checks the names of a management call and that the store keeps
// metadata, and returns the MetaStore and the schema's key.
func (b *Backend) manage(ns, name string) (confo.MetaStore, string, error) {
	if err := confo.ValidateName(ns); err != nil {
		return nil, "", fmt.Errorf("schema: %w", err)
	}
	if name != "" {
		if err := confo.ValidateName(name); err != nil {
			return nil, "", fmt.Errorf("schema: namespace %q: %w", ns, err)
		}
	}
	ms, err := b.metaStore(ns)
	if err == nil && !b.hasMeta() { // a layer beneath is a MetaStore, not the store
		err = fmt.Errorf("schema: schemas of namespace %q: the store beneath %T keeps no metadata: %w", ns, b.Unwrap(), errors.ErrUnsupported)
	}
	return ms, Key(name), err
}
