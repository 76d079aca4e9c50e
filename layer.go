package confo

import (
	"context"
	"errors"
)

// This file is the seam on which cross-cutting features plug in: the
// last-known-good mirror, schema validation, sealed fields, change records,
// metrics and presence. Each is a Layer: a Backend that wraps a Backend, as
// etcd's namespace.NewKV wraps a KV, seeing exactly what passes between the
// namespace owner and the store (loads, commits with their revisions, watch
// batches). Three optional interfaces let a layer say more than a plain
// Backend can:
//
//   - an [Entry] or [Change] whose Err is set is quarantined by the
//     namespace owner exactly as a value that is not a JSON object (the
//     view keeps its last good value, [Manager.Problems] lists it, watchers
//     get an [EventProblem]); a schema layer sets it for a value that fails
//     its schema, a sealing layer for a value it cannot open;
//   - a [Checker] is asked, without I/O, whether a local edit (Set,
//     SetField, Update, ...) may enter the view;
//   - [ChangeInfo], carried by the context of every Commit, says who
//     changes what and why, for a change-record layer.
//
// Layers are given to a Manager with [WithLayers]; the Manager wraps every
// backend it opens or is given in them, the first layer outermost (nearest
// the Manager). A layer forwards the optional interfaces of what it wraps
// ([Watcher], [Historian], [BatchLimiter], [NamespaceDeleter], [MetaStore],
// [Checker]) on purpose, and implements [Unwrapper] so that
// [Manager.Backend] and callers can reach the store's own Backend.

// Layer wraps a Backend in a feature. It is called once per backend, when
// the Manager registers it (LoadBackend, AddBackend).
type Layer func(Backend) Backend

// Unwrapper is implemented by a Layer's Backend: Unwrap returns the Backend
// it wraps.
type Unwrapper interface {
	Unwrap() Backend
}

// Checker is implemented by layers that check a local edit before the
// namespace owner takes it (a schema layer). CheckValue does no I/O; it is
// called with the normalized value, nil for a delete, and its error, which
// should wrap [ErrInvalidValue] (or be a *ValidationError that does), is
// returned by Set, SetField, Update, SetIf and Delete unchanged in meaning:
// nothing changes in the view.
//
// For a value it accepts, CheckValue returns a stamp (nil for none) that
// says what accepted it, such as the schema and its revision. The Manager
// never changes an accepted value and, when it commits it, passes the
// stamp back in the put's [Op.Checked], so that the layer can skip
// checking again what it already checked under the same conditions. A
// layer that forwards CheckValue to the Checker it wraps either returns the
// wrapped one's stamp as its own (when its Commit passes ops on
// unchanged), or puts it inside its own and, in Commit, hands the wrapped
// Backend ops whose Checked is that inner stamp; a layer that changes an
// op's Value sets its Checked to nil.
type Checker interface {
	CheckValue(ns, name string, value map[string]any) (stamp any, err error)
}

// ChangeInfo says who makes a change and why. The Manager puts it in the
// context of every Commit it makes (see [ChangeInfoFrom]), from the
// context given to Persist ([WithChangeInfo]) or else from the manager's
// default author ([WithAuthor]).
type ChangeInfo struct {
	// Author names who made the change ("alice@host", a service's name).
	Author string
	// Message says why; it may be empty.
	Message string
}

type changeInfoKey struct{}

// WithChangeInfo returns a context that carries info to the Commits that
// Persist, PersistNamespace, PersistConfig and Rollback make with it.
func WithChangeInfo(ctx context.Context, info ChangeInfo) context.Context {
	return context.WithValue(ctx, changeInfoKey{}, info)
}

// ChangeInfoFrom returns the ChangeInfo that ctx carries, if any.
func ChangeInfoFrom(ctx context.Context) (ChangeInfo, bool) {
	info, ok := ctx.Value(changeInfoKey{}).(ChangeInfo)
	return info, ok
}

// MetaOp is one change of a namespace's metadata in [MetaStore.CommitMeta].
// Metadata entries live beside the namespace's configurations and are never
// listed or loaded as configurations (etcd: under the namespace's marker
// key, <prefix>//<namespace>/<key>). Keys are slash-separated paths such as
// "schema/mysql", "recipients" or "changes/00000000000000000042"; each
// segment is a valid name ([ValidateName]).
type MetaOp struct {
	// Key names the entry.
	Key string
	// Value is the new content; nil deletes the entry (ignored when Check
	// is set).
	Value []byte
	// Revision guards the op: the commit fails with ErrConflict naming Key
	// unless the entry's current revision equals it (0: the entry must not
	// exist). AnyRevision writes unguarded.
	Revision int64
	// Check makes the op a guard only: it compares Revision and writes
	// nothing.
	Check bool
}

// AnyRevision as a [MetaOp]'s Revision writes the entry whatever its
// current revision.
const AnyRevision int64 = -1

// MetaStore is implemented by backends that keep metadata beside a
// namespace's configurations and can change it in the same atomic step as
// the configurations. Schemas, sealing recipients and change records use it.
type MetaStore interface {
	// LoadMeta returns the metadata entries of namespace ns whose keys
	// start with prefix ("" for all), by key, read at one moment. It
	// returns ErrNamespaceNotFound when ns does not exist.
	LoadMeta(ctx context.Context, ns, prefix string) (map[string]Entry, error)

	// CommitMeta is [Backend.Commit] with metadata ops applied in the same
	// atomic step: all or none. A guard that fails, on a configuration or
	// a metadata entry, is ErrConflict naming it. It returns the new
	// revision of each configuration op, in order, as Commit does; ops may
	// be empty.
	CommitMeta(ctx context.Context, ns string, ops []Op, meta []MetaOp) ([]int64, error)
}

// WithLayers wraps every backend the Manager registers (LoadBackend,
// AddBackend) in layers, the first outermost: WithLayers(a, b) makes the
// Manager call a, which calls b, which calls the store. A layer that
// returns nil makes AddBackend fail.
func WithLayers(layers ...Layer) Option {
	return func(m *Manager) { m.layers = append(m.layers, layers...) }
}

// WithAuthor names the author that the Manager's changes carry (see
// [ChangeInfo]) when the context of Persist carries none.
func WithAuthor(author string) Option {
	return func(m *Manager) { m.author = author }
}

// changeContext returns ctx carrying a ChangeInfo: its own, or one with the
// manager's default author.
func (m *Manager) changeContext(ctx context.Context) context.Context {
	if _, ok := ChangeInfoFrom(ctx); ok || m.author == "" {
		return ctx
	}
	return WithChangeInfo(ctx, ChangeInfo{Author: m.author})
}

// unwrapAll returns the innermost Backend of b.
func unwrapAll(b Backend) Backend {
	for {
		u, ok := b.(Unwrapper)
		if !ok {
			return b
		}
		inner := u.Unwrap()
		if inner == nil {
			return b
		}
		b = inner
	}
}

// capable reports whether the optional interface T is available through b:
// b and every Backend it wraps ([Unwrapper]) implement T. A layer forwards
// an interface by implementing it; the store's own backend decides. A
// backend that has not connected yet (Unwrap returns nil) is taken as
// capable: its calls say otherwise once it has.
func capable[T any](b Backend) bool {
	for b != nil {
		if _, ok := b.(T); !ok {
			return false
		}
		u, ok := b.(Unwrapper)
		if !ok {
			return true
		}
		b = u.Unwrap()
	}
	return true
}

// errLayer is returned when a layer returns a nil Backend.
var errLayer = errors.New("a layer returned a nil Backend")

// Problem is one thing wrong with a loaded namespace that the Manager works
// around instead of failing: a stored value that is not a JSON object or
// that a layer refused (quarantined: the view keeps the last good value, if
// any), or a name in the store that is not a valid configuration name (not
// loaded). [Manager.Problems] lists them.
type Problem struct {
	// Namespace and Name say where; Name is the store's name as found,
	// which may not be a valid name.
	Namespace, Name string
	// Revision is the store revision of the refused value (0 if unknown).
	Revision int64
	// Err says what is wrong: it wraps ErrCorruptValue (with a layer's
	// error, ErrInvalidValue for a schema, when a layer refused the value)
	// or ErrInvalidName.
	Err error
}

// NamespaceStatus is what [Manager.Status] reports of a loaded namespace.
type NamespaceStatus struct {
	// Namespace and Backend name it.
	Namespace, Backend string
	// Applied is the store revision up to which the view holds the store's
	// state (loaded, reloaded, or advanced by a watch); 0 for stores
	// without revisions.
	Applied int64
	// Stale reports that the namespace is served from the mirror (see
	// [WithMirror]).
	Stale bool
	// Problems lists the namespace's current problems.
	Problems []Problem
}
