// Package confo gives a service one small API over its configuration,
// wherever it lives: a folder of JSON files, an etcd cluster, ZooKeeper,
// Redis, PostgreSQL, or memory. It is a Go port of the Python library Confo.
//
// # Model
//
// A [Manager] holds backends, each a connection to a store registered under
// a name; one of them is active. A store package registers its
// [BackendType] when imported, as database/sql drivers do, so a program
// compiles only the stores it uses:
//
//	import _ "github.com/confo-go/confo/backends/etcd"
//
//	m := confo.New()
//	err := m.LoadBackend(ctx, "prod", confo.EtcdBackend, confo.Credentials{"host": "127.0.0.1", "port": 2379})
//	err = m.ActivateBackend("prod")
//
// Credentials are checked before anything is sent: a key a backend does
// not know (a typo such as "endpoint") is [ErrInvalidCredentials] naming
// the nearest valid key, and a network store needs its address ("host" or
// "endpoints"): the library never falls back to a local default.
//
// A store holds namespaces, named groups of configurations; a configuration
// is a named JSON object whose keys are its fields. In etcd, configuration
// mysql of namespace database is the key /confo/database/mysql holding the
// JSON object; in the file backend, the file <config_path>/database/mysql.json.
//
// # The in-memory view
//
// [Manager.UseNamespace] loads a namespace into memory and makes it the one
// Set, Get, GetField, GetAll, Decode and Delete work on. These calls do no
// I/O and take no lock on the read path. [Manager.Persist] writes what
// changed since the last load or persist, in atomic batches guarded by the
// revision each configuration was read at, so a change made in the store by
// someone else is reported as [ErrConflict] instead of being overwritten.
// [Manager.Reload] reads the store again; the store wins.
//
// # Live updates
//
// [Manager.Watch] keeps a loaded namespace current as other writers change
// the store, and reports each change as an [Event] once the view holds it;
// [Manager.OnChange] calls a function instead, and [Bind] keeps one
// configuration decoded into a struct behind an atomic pointer. All the
// watches of a namespace share one backend watch (an etcd watch from the
// revision the namespace was loaded at, file notifications, or the memory
// store's own). Unsaved local changes are never overwritten by the watch:
// their Persist reports [ErrConflict]. A slow receiver gets the latest
// change of each configuration, coalesced, and never holds up the others.
// Backends implement the optional [Watcher] interface to take part.
//
// # History and rollback
//
// [Manager.History] lists the versions of a configuration that the active
// backend's store still keeps, newest first and at most
// [DefaultHistoryLimit] of them (see [WithHistoryLimit]): on etcd, the key's
// revisions back to the cluster's compaction; on the memory backend, its
// last commits. [Manager.Rollback] writes one of those versions back as a
// new revision, guarded like Persist: if another writer changed the
// configuration meanwhile, nothing is written and the error wraps
// [ErrConflict]; a version the store no longer keeps is
// [ErrRevisionNotFound]. Backends implement the optional [Historian]
// interface to take part; on others both calls return an error wrapping
// [errors.ErrUnsupported].
//
// # Last-known-good mirror
//
// With [WithMirror], the manager copies every namespace it loads, persists
// or sees change to a directory, as files the file backend can read. When
// the store does not answer, LoadBackend still registers the backend (its
// error wraps [ErrStale]) and UseNamespace serves the namespace from that
// copy, returning a [*StaleError] that says since when: reads work, writes
// (Set, Delete, Persist, Rollback, ...) return a StaleError too, and a
// background retry swaps the store's view back in as soon as the store
// answers.
//
// # Values
//
// Set copies and normalizes its argument so that a value reads back the
// same, with the same Go types, after Persist and Reload in another process:
//
//	JSON object  map[string]any
//	JSON array   []any
//	string       string
//	true, false  bool
//	null         nil
//	number       int64 when its value is a whole number within int64's range
//	             (5678, 2.0, 1e3); float64 when float64 holds its decimal
//	             value exactly (1.5, 0.1, 1e300); otherwise json.Number, the
//	             digits as written (12345678901234567890, 1e400,
//	             0.1000000000000000055511151231257827)
//
// So a value read from a store is written back exactly as it was unless the
// user changed it: integers beyond int64 and decimals that float64 cannot
// hold keep their digits. Set and SetField accept json.Number too. Set takes
// a map, a struct, or any value that encodes to a JSON object, as
// encoding/json marshals it; use [Manager.Decode] to read a configuration
// back into a struct (it decodes the stored bytes in one pass). Invalid
// UTF-8 in strings is replaced by U+FFFD, as encoding/json does.
//
// # Guards, read-modify-write and quarantine
//
// The manager keeps, per loaded namespace, the store's state apart from
// local edits. Persist sends only the edits that differ from the store's
// state, each guarded by the revision the view held when the edit was
// made; setting a configuration to what the store holds sends nothing.
// Under [Manager.Watch] the view moves between a Get and a Set, so a
// read-modify-write goes through [Manager.Update] (fn runs on the current
// value, guarded by what it saw) or [Manager.GetRevision] and
// [Manager.SetIf] (a form or an editor that writes back later).
//
// A stored value that is not a JSON object, or that a layer refuses (see
// [Layer]), is quarantined, never contagious: loads, reloads and watches
// go on; a configuration keeps its last good value; one that never had one
// reads as [ErrCorruptValue] naming it and its revision; watchers get an
// [EventProblem]; the logger warns; [Manager.Problems] lists it. A name in
// the store that is not a valid configuration name is listed the same way
// and never loaded. Set and Persist over a quarantined configuration repair
// it.
//
// # Layers
//
// Cross-cutting features — the mirror, schemas, sealed fields, change
// records, metrics — are layers around a Backend, given with [WithLayers];
// see [Layer] and ARCHITECTURE.md in the repository.
//
// # Errors
//
// Every error wraps one of the package's sentinel errors (ErrConfigNotFound,
// ErrConflict, ...) with the name it concerns; match them with [errors.Is].
// The package never prints or logs an error it returns, and no error or log
// line contains a credential.
package confo
