package confo

import "errors"

// Sentinel errors. Every error returned by this package and by the backends in
// this module wraps one of these with the offending name, so callers match them
// with [errors.Is] and read the name from the message.
var (
	// ErrBackendNotActive means no backend has been activated with
	// [Manager.ActivateBackend]. It is the original's BackendsActivationException.
	ErrBackendNotActive = errors.New("confo: no active backend")

	// ErrBackendNotFound means no backend is registered under the given name.
	ErrBackendNotFound = errors.New("confo: backend not found")

	// ErrBackendExists means a backend is already registered under the given name.
	ErrBackendExists = errors.New("confo: backend already exists")

	// ErrUnknownBackendType means no store package registered the BackendType:
	// the package that implements it is not linked into the program.
	ErrUnknownBackendType = errors.New("confo: unknown backend type")

	// ErrNamespaceNotLoaded means no namespace is in use (see [Manager.UseNamespace]),
	// or the namespace named in a call has not been loaded by this manager.
	ErrNamespaceNotLoaded = errors.New("confo: namespace not loaded")

	// ErrNamespaceNotFound means the namespace does not exist in the store.
	ErrNamespaceNotFound = errors.New("confo: namespace not found")

	// ErrConfigNotFound means the named configuration does not exist in the namespace.
	ErrConfigNotFound = errors.New("confo: configuration not found")

	// ErrFieldNotFound means the configuration has no such field.
	ErrFieldNotFound = errors.New("confo: field not found")

	// ErrInvalidName means a namespace, configuration or field name breaks the
	// naming rules (see [ValidateName]).
	ErrInvalidName = errors.New("confo: invalid name")

	// ErrInvalidValue means a value cannot be stored as JSON (a channel, a
	// function, NaN, a cycle, ...), or that a configuration does not fit the
	// type [Manager.Decode] decodes it into.
	ErrInvalidValue = errors.New("confo: invalid value")

	// ErrValueTooLarge means an encoded configuration exceeds what the store
	// accepts in one request. It is reported before anything is sent.
	ErrValueTooLarge = errors.New("confo: value too large")

	// ErrInvalidCredentials means a credential is missing, ill-typed or
	// malformed; the message names the key, never its value.
	ErrInvalidCredentials = errors.New("confo: invalid credentials")

	// ErrConflict means a configuration was changed in the store by someone
	// else since this manager read it. Nothing of the failed batch was written.
	ErrConflict = errors.New("confo: conflict")

	// ErrOutcomeUnknown means a write was sent but no answer came back (the
	// connection was lost, or the context ended, while the store was
	// committing it): it may or may not have been applied. Reload shows
	// which. A retry is safe: the guard makes the retry of a write that was
	// applied fail with ErrConflict instead of applying it twice.
	ErrOutcomeUnknown = errors.New("confo: outcome unknown")

	// ErrCorruptValue means a value in the store is not a JSON object.
	ErrCorruptValue = errors.New("confo: corrupt value")

	// ErrCompacted means a watch asked for changes the store no longer
	// keeps (etcd compacted them). [Manager.Watch] handles it by reloading
	// the namespace; backends return it from [Watcher.Watch].
	ErrCompacted = errors.New("confo: revision compacted")

	// ErrRevisionNotFound means the store keeps no version of the
	// configuration at the given revision: the revision was compacted away
	// (etcd), fell out of the kept history (memory), or never was one of
	// the configuration's versions. See [Manager.History].
	ErrRevisionNotFound = errors.New("confo: revision not found")

	// ErrStale means the manager serves a namespace from its mirror (see
	// [WithMirror]) because the store did not answer: reads work, writes
	// are refused until the manager has caught up with the store. The
	// error is a [*StaleError] saying since when.
	ErrStale = errors.New("confo: stale view")

	// ErrClosed means the manager or backend has been closed.
	ErrClosed = errors.New("confo: closed")
)
