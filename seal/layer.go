// Package seal seals fields of Confo configurations with age: a sealed
// field is stored as a JSON string envelope ("confo:sealed:v1:" + base64 of
// an age file) encrypted to the recipients kept beside the namespace, while
// the configuration's keys and its other fields stay as they are.
//
// The envelope is "confo:sealed:v1:" + the fingerprint of the recipients
// (16 hex digits) + ":" + base64 of the age file; see [Prefix].
//
// Sealing is a [confo.Layer]: a Manager made with
//
//	confo.New(confo.WithLayers(seal.Layer(ids...)))
//
// sees plaintext in Get, GetField, Decode, Bind, watch events and History,
// and every write seals again each field that is sealed in the stored
// version, plus each field set to a [Secret]. A manager whose layer has no
// identities (seal.Layer()) sees each sealed field as its envelope string
// ([IsSealed] reports it), reads every other field, keeps sealed fields as
// they are when it writes, can seal new values with [Secret], and cannot
// replace a sealed field with a plain value ([ErrPlaintext]).
//
// # What the envelope authenticates
//
// Inside the age file is a JSON document holding the namespace, the
// configuration's name, the field, the store revision the write was based
// on, the fingerprint of the recipients and the value. age authenticates
// the whole file, so a sealed value moved to another field, configuration
// or namespace fails to open with [ErrWrongPlace] naming both places, and
// a value sealed to other recipients fails with [ErrWrongIdentity]. Both
// quarantine the configuration (confo's Entry.Err): the view keeps its last
// good value and Manager.Problems lists the error.
//
// Replay (an older sealed value written back into the same field) is
// caught on stores with ordered revisions (etcd, memory, ZooKeeper, Redis,
// PostgreSQL; not the file backend, whose revisions are content hashes):
// each value records the store revision its write was based on, which
// grows with every write of the configuration, and a layer refuses
// ([ErrReplayed]) a value older than one it has already seen in that field.
// Not caught: a replay that happened before this layer first read the
// configuration (a freshly started service takes the store's current
// value), and a replay after the layer saw the configuration deleted.
// Sealing gives confidentiality and placement, not authorship: anyone who
// may write the store can seal a fresh value to the public recipients.
//
// # With a schema layer
//
// Put the seal layer outside a schema layer
// (confo.WithLayers(seal.Layer(ids...), schema.Layer())): the schema then
// sees sealed fields as the store holds them (at Set, a field the layer
// will seal shows as Prefix + "pending"), can require them sealed with a
// pattern "^confo:sealed:v1:", and never sees, nor quotes in its errors,
// their plaintext.
//
// # The mirror, and what the layer does not cover
//
// The last-known-good mirror (confo.WithMirror) sits below the layers: it
// holds the sealed form, and a manager served from it while the store is
// down opens it as it would the store's. A manager without the seal layer
// sees envelopes as strings and could write a plain value over one: every
// writer of a namespace with sealed fields should run the layer (the confo
// command always does). Past versions in the store's history stay sealed
// to the recipients of their time.
//
// # Recipients and rotation
//
// Recipients are kept in the namespace's metadata (confo.MetaStore, key
// "recipients", one age recipient a line); every write that seals reads
// them and is guarded by their revision, so no writer seals to recipients
// that a rotation has just replaced. [Backend.Rotate] re-seals every sealed
// field of a namespace to the current recipients in guarded batches,
// recording its progress in the metadata (key "seal/rotation"), and resumes
// after a crash.
package seal

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"filippo.io/age"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/forward"
)

// Backend is a store's Backend wrapped in sealing. Beside the methods
// below, it forwards unchanged Namespaces, CreateNamespace, Close, Unwrap
// ([confo.Unwrapper]) and LoadMeta ([confo.MetaStore]); an optional
// interface the wrapped Backend lacks (Watch, History, Version,
// DeleteNamespace, LoadMeta, CommitMeta) returns an error wrapping
// [errors.ErrUnsupported] naming the layer, the call and the wrapped type.
type Backend struct {
	wrapped // forwards what the layer does not change
	ids     []age.Identity

	mu  sync.Mutex
	nss map[string]*nsState
}

// wrapped is embedded under an unexported name, so that its fields stay
// unexported and its methods are promoted.
type wrapped = forward.Backend

// nsState is what the layer knows of a namespace it has read.
type nsState struct {
	ordered bool  // the store's revisions grow (Snapshot.Revision > 0)
	rev     int64 // the highest store revision seen
	configs map[string]*configState
	high    map[fieldKey]int64 // replay high-water marks, per field
	// rolled holds, per configuration, the sealed fields of the version
	// Version last returned, until the Commit that writes it back.
	rolled map[string]rolledBack
}

type fieldKey struct{ name, field string }

type rolledBack struct {
	value  []byte
	fields map[string]bool
}

// configState is one stored version of a configuration, as the layer
// read or wrote it.
type configState struct {
	rev    int64
	sealed map[string]*sealedField // nil when it has no sealed field
	// raw and opened are the stored bytes and the opened value of a
	// version read with sealed fields, so that reading the same bytes
	// again costs a comparison.
	raw, opened []byte
}

// sealedField is a sealed field of a stored version.
type sealedField struct {
	envelope []byte // the JSON string as stored
	plain    []byte // the value, nil when not opened
	keys     string // the recipients' fingerprint, "" when not opened
}

// Backend is a confo.Backend, Watcher, Historian, BatchLimiter,
// NamespaceDeleter, MetaStore, Checker and Unwrapper.
var _ forward.All = (*Backend)(nil)

// Layer returns the sealing layer, for [confo.WithLayers]. With ids the
// Manager sees and writes plaintext; without, it sees sealed fields as
// envelopes (see the package documentation).
func Layer(ids ...age.Identity) confo.Layer {
	return func(b confo.Backend) confo.Backend { return Wrap(b, ids...) }
}

// Wrap wraps b in sealing with identities ids, for use without a Manager
// (the confo command's seal commands do).
func Wrap(b confo.Backend, ids ...age.Identity) *Backend {
	layers.Add(1)
	return &Backend{wrapped: forward.New("seal", b), ids: ids, nss: make(map[string]*nsState)}
}

// state returns the state of ns, made on first use; b.mu must be held.
func (b *Backend) state(ns string) *nsState {
	s := b.nss[ns]
	if s == nil {
		s = &nsState{configs: make(map[string]*configState), high: make(map[fieldKey]int64), rolled: make(map[string]rolledBack)}
		b.nss[ns] = s
	}
	return s
}

// Load reads namespace ns and opens its sealed fields. A configuration
// whose sealed field does not open is quarantined (Entry.Err, an
// *OpenError), with its stored bytes.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	snap, err := b.wrapped.Load(ctx, ns)
	if err != nil {
		return snap, err
	}
	out := snap // Revision, Stale, and whatever else the snapshot says
	out.Entries = make(map[string]confo.Entry, len(snap.Entries))
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state(ns)
	if snap.Revision > 0 {
		s.ordered = true
		s.rev = max(s.rev, snap.Revision)
	}
	for name := range s.configs {
		if _, ok := snap.Entries[name]; !ok {
			s.forget(name)
		}
	}
	for name, e := range snap.Entries {
		out.Entries[name] = b.openEntry(s, ns, name, e)
	}
	return out, nil
}

// forget drops what the layer knows of configuration name, deleted.
func (s *nsState) forget(name string) {
	delete(s.configs, name)
	delete(s.rolled, name)
	for k := range s.high {
		if k.name == name {
			delete(s.high, k)
		}
	}
}

// openEntry opens the sealed fields of e, configuration name of ns, and
// records its state; b.mu must be held.
func (b *Backend) openEntry(s *nsState, ns, name string, e confo.Entry) confo.Entry {
	if e.Err != nil || e.Value == nil {
		return e
	}
	value, cs, err := b.open(s, ns, name, e.Value, e.Revision)
	s.configs[name] = cs // on an error, the sealed fields without their values: a write over it seals them
	if err != nil {
		e.Err = err
		return e
	}
	e.Value = value
	return e
}

// open opens the sealed fields of raw, stored at rev, checking place and
// replay, and returns the plain value and the version's state (on an
// error too, with its sealed fields unopened); b.mu must be held. Without
// identities it returns raw as it is.
func (b *Backend) open(s *nsState, ns, name string, raw []byte, rev int64) ([]byte, *configState, error) {
	cs := &configState{rev: rev}
	if !containsPrefix(raw) {
		return raw, cs, nil
	}
	prev := s.configs[name]
	if prev != nil && prev.opened != nil && bytes.Equal(prev.raw, raw) {
		return prev.opened, &configState{rev: rev, sealed: prev.sealed, raw: prev.raw, opened: prev.opened}, nil
	}
	ms, err := parseObject(raw)
	if err != nil {
		return raw, cs, nil // not an object: the Manager quarantines it
	}
	cs.sealed = make(map[string]*sealedField)
	changed := false
	for i, m := range ms {
		if !isSealedRaw(m.raw) {
			continue
		}
		sf := &sealedField{envelope: m.raw, keys: hintOf(m.raw)}
		cs.sealed[m.key] = sf
		if len(b.ids) == 0 {
			continue
		}
		if prev != nil && prev.sealed[m.key] != nil && prev.sealed[m.key].plain != nil && bytes.Equal(prev.sealed[m.key].envelope, m.raw) {
			sf.plain, sf.keys = prev.sealed[m.key].plain, prev.sealed[m.key].keys // opened before, checked then
		} else {
			p := Place{ns, name, m.key}
			o, err := openValue(b.ids, p, m.raw)
			if err != nil {
				return nil, unopened(cs, raw), err
			}
			if k := (fieldKey{name, m.key}); s.ordered {
				if o.rev < s.high[k] {
					return nil, unopened(cs, raw), &OpenError{Place: p, Err: fmt.Errorf("%w: sealed on revision %d, a value sealed on revision %d was seen", ErrReplayed, o.rev, s.high[k])}
				}
				s.high[k] = o.rev
			}
			sf.plain, sf.keys = o.value, o.keys
		}
		ms[i].raw = sf.plain
		changed = true
	}
	if !changed {
		return raw, cs, nil
	}
	cs.raw, cs.opened = raw, encodeObject(ms)
	return cs.opened, cs, nil
}

// unopened returns cs with every sealed field of raw and no value opened.
func unopened(cs *configState, raw []byte) *configState {
	cs.sealed = make(map[string]*sealedField)
	ms, _ := parseObject(raw) // parsed once already
	for _, m := range ms {
		if isSealedRaw(m.raw) {
			cs.sealed[m.key] = &sealedField{envelope: m.raw, keys: hintOf(m.raw)}
		}
	}
	return cs
}

// Watch reports the changes of ns with sealed fields opened; a change
// whose sealed field does not open carries Change.Err.
func (b *Backend) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	return forward.Watch(ctx, b.wrapped, ns, afterRev, func(batch confo.WatchBatch) confo.WatchBatch {
		return b.openBatch(ns, batch)
	})
}

// openBatch opens the sealed fields of a watch batch.
func (b *Backend) openBatch(ns string, batch confo.WatchBatch) confo.WatchBatch {
	if len(batch.Changes) == 0 {
		return batch
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state(ns)
	if batch.Revision > 0 {
		s.ordered = true
		s.rev = max(s.rev, batch.Revision)
	}
	if batch.Full {
		in := make(map[string]bool, len(batch.Changes))
		for _, c := range batch.Changes {
			in[c.Name] = true
		}
		for name := range s.configs {
			if !in[name] {
				s.forget(name)
			}
		}
	}
	changes := make([]confo.Change, len(batch.Changes))
	for i, c := range batch.Changes {
		if c.Revision > 0 && s.ordered {
			s.rev = max(s.rev, c.Revision)
		}
		if c.Value == nil {
			s.forget(c.Name)
			changes[i] = c
			continue
		}
		e := b.openEntry(s, ns, c.Name, confo.Entry{Value: c.Value, Revision: c.Revision, Err: c.Err})
		c.Value, c.Err = e.Value, e.Err
		changes[i] = c
	}
	batch.Changes = changes
	return batch
}

// sealOverhead is the bytes a sealed field may add to a configuration
// beyond twice its value: the age header of one hybrid recipient (an
// envelope of a short value is about 2.4 KB with one, 440 bytes with one
// X25519 recipient), the place and revision sealed with it, base64 and the
// prefix.
const sealOverhead = 4096

// BatchLimits returns the wrapped Backend's limits, with room for sealing:
// two ops fewer (the guard on the recipients, and what etcd counts for a
// metadata commit), and bytes for one sealed field per op (sealOverhead)
// with values that may double. A batch whose configurations hold several
// large sealed fields may still exceed the store's limit: the store then
// refuses it and nothing of it is written.
func (b *Backend) BatchLimits() confo.BatchLimits {
	lim := b.wrapped.BatchLimits() // zero, no limits, when it has none
	if lim.MaxOps > 0 {
		lim.MaxOps = max(1, lim.MaxOps-2)
	}
	if lim.MaxBytes > 0 {
		room := lim.MaxBytes / 2
		if lim.MaxOps > 0 {
			room = (lim.MaxBytes - lim.MaxOps*sealOverhead) / 2
		}
		lim.MaxBytes = max(1024, room)
	}
	return lim
}

// DeleteNamespace deletes namespace ns.
func (b *Backend) DeleteNamespace(ctx context.Context, ns string) error {
	return forward.DeleteNamespace(ctx, b.wrapped, ns, &b.mu, b.nss)
}
