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
//	             (5678, 2.0, 1e3), float64 otherwise (1.5, 1e300)
//
// Structs, typed maps and slices are stored as encoding/json marshals them;
// use [Manager.Decode] to read a configuration back into a struct. Invalid
// UTF-8 in strings is replaced by U+FFFD, as encoding/json does.
//
// # Errors
//
// Every error wraps one of the package's sentinel errors (ErrConfigNotFound,
// ErrConflict, ...) with the name it concerns; match them with [errors.Is].
// The package never prints or logs an error it returns, and no error or log
// line contains a credential.
package confo
