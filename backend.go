package confo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// BackendType names a kind of store. A store package registers its type with
// [Register] from its init function; import the package for its side effect
// to make the type available to [Manager.LoadBackend].
type BackendType string

// The backend types of the original library. Each is implemented by the
// package named in its comment, which must be imported for LoadBackend to
// find it.
const (
	FileBackend      BackendType = "file"      // github.com/confo-go/confo/backends/file
	EtcdBackend      BackendType = "etcd"      // github.com/confo-go/confo/backends/etcd
	MemoryBackend    BackendType = "memory"    // github.com/confo-go/confo/backends/memory
	ZookeeperBackend BackendType = "zookeeper" // github.com/confo-go/confo/backends/zookeeper
	RedisBackend     BackendType = "redis"     // github.com/confo-go/confo/backends/redis
	DatabaseBackend  BackendType = "database"  // github.com/confo-go/confo/backends/postgres
)

// importPaths tells users which package to import for a known type.
var importPaths = map[BackendType]string{
	FileBackend:      "github.com/confo-go/confo/backends/file",
	EtcdBackend:      "github.com/confo-go/confo/backends/etcd",
	MemoryBackend:    "github.com/confo-go/confo/backends/memory",
	ZookeeperBackend: "github.com/confo-go/confo/backends/zookeeper",
	RedisBackend:     "github.com/confo-go/confo/backends/redis",
	DatabaseBackend:  "github.com/confo-go/confo/backends/postgres",
}

// Credentials are the settings a backend needs to connect, with the
// original's keys (for etcd: host, port, user, password, ...). Each backend
// documents its keys. Formatting a Credentials value with any fmt verb or
// logging it with slog never shows the values, only the keys.
type Credentials map[string]any

// String returns the keys of c with their values redacted.
func (c Credentials) String() string {
	keys := slices.Sorted(maps.Keys(c))
	s := "confo.Credentials{"
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += k + ":<redacted>"
	}
	return s + "}"
}

// Format implements [fmt.Formatter] so that no verb, %#v included, prints a
// credential value.
func (c Credentials) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue implements [slog.LogValuer]: only the keys are logged.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Entry is one configuration as a backend stores it: its encoded JSON object
// and the revision the store gave it. Revisions are opaque to the Manager; it
// only hands them back in [Op] to guard a change. A zero Revision means the
// configuration does not exist in the store.
type Entry struct {
	Value    []byte
	Revision int64
	// Err, when not nil, quarantines the entry: a layer (see [Layer]) refuses
	// the value (it fails its schema, say). The Manager treats it as it
	// treats a value that is not a JSON object. Backends leave it nil.
	Err error
}

// Snapshot is a namespace as read at one moment of the store.
type Snapshot struct {
	// Entries holds every configuration of the namespace, by name.
	Entries map[string]Entry
	// Revision is the store revision the snapshot was read at, or 0 when the
	// store has no such notion. Watches start after it.
	Revision int64
	// Stale, when not nil, says that the snapshot is not the store's but
	// the last-known-good mirror's (see [WithMirror]), because the store
	// did not answer. Backends leave it nil; a layer passes it on.
	Stale *StaleError
}

// Op is one change in a [Backend.Commit]: a put when Value is non-nil, a
// delete when it is nil. Revision is the revision the change is based on: the
// change must fail with ErrConflict unless the configuration's current
// revision in the store equals it (0: the configuration must not exist).
//
// Checked is what the backend's [Checker] returned when it accepted the
// value that Value encodes (see [Checker]), or nil: the Manager sets it
// on each put of a value a Checker accepted. Backends ignore it.
type Op struct {
	Name     string
	Value    []byte
	Revision int64
	Checked  any
}

// Backend is one connection to a store. Backends move bytes: the Manager
// validates names and encodes and decodes values before calling them.
// Implementations must be safe for concurrent use.
type Backend interface {
	// Namespaces lists the store's namespaces without reading any
	// configuration, in any order.
	Namespaces(ctx context.Context) ([]string, error)

	// CreateNamespace creates namespace ns. Creating one that exists is not
	// an error.
	CreateNamespace(ctx context.Context, ns string) error

	// Load reads every configuration of namespace ns at one moment. It
	// returns ErrNamespaceNotFound when ns does not exist.
	Load(ctx context.Context, ns string) (Snapshot, error)

	// Commit applies ops to namespace ns atomically: all or none. When any
	// op's Revision does not match the store, it writes nothing and returns
	// an error wrapping ErrConflict that names the configurations. On
	// success it returns the new revision of each op, in order (0 for a
	// delete). The Manager never passes more ops or bytes than the backend's
	// [BatchLimiter] allows.
	Commit(ctx context.Context, ns string, ops []Op) ([]int64, error)

	// Close releases the connection. Other calls after Close return
	// ErrClosed; a second Close does nothing and returns nil.
	Close() error
}

// BatchLimits bound one [Backend.Commit].
type BatchLimits struct {
	// MaxOps is the most ops one Commit accepts; 0 means no limit.
	MaxOps int
	// MaxBytes is the most bytes of names and values one Commit accepts;
	// 0 means no limit. A single configuration larger than this fails with
	// ErrValueTooLarge before anything is sent.
	MaxBytes int
}

// BatchLimiter is implemented by backends whose Commit accepts a bounded
// batch, such as etcd's transactions (128 operations, 1.5 MiB by default).
// The Manager splits a Persist into batches within these limits; each batch
// is atomic on its own.
type BatchLimiter interface {
	BatchLimits() BatchLimits
}

// NamespaceDeleter is implemented by backends that can delete a namespace,
// so that it is no longer listed (the confo command's "ns rm" uses it).
type NamespaceDeleter interface {
	// DeleteNamespace deletes namespace ns and every configuration in it,
	// unguarded, in one step where the store allows (etcd: one
	// transaction). It returns ErrNamespaceNotFound when ns does not exist
	// and ErrInvalidName when ns is not a valid name ([ValidateName]).
	// Managers that loaded ns keep their view; their Reload then fails
	// with ErrNamespaceNotFound.
	DeleteNamespace(ctx context.Context, ns string) error
}

// OpenFunc opens a backend from credentials. It is what a store package
// registers with [Register].
type OpenFunc func(ctx context.Context, creds Credentials) (Backend, error)

var registry = struct {
	sync.RWMutex
	open map[BackendType]OpenFunc
}{open: make(map[BackendType]OpenFunc)}

// Register makes a backend type available to [Manager.LoadBackend]. Store
// packages call it from init. It panics if open is nil or kind is taken.
func Register(kind BackendType, open OpenFunc) {
	registry.Lock()
	defer registry.Unlock()
	if open == nil {
		panic("confo: Register of " + string(kind) + " with a nil OpenFunc")
	}
	if _, dup := registry.open[kind]; dup {
		panic("confo: Register called twice for backend type " + string(kind))
	}
	registry.open[kind] = open
}

// BackendTypes returns the registered backend types, sorted.
func BackendTypes() []BackendType {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Sorted(maps.Keys(registry.open))
}

func lookupBackend(kind BackendType) (OpenFunc, error) {
	registry.RLock()
	open, ok := registry.open[kind]
	registry.RUnlock()
	if ok {
		return open, nil
	}
	if path, known := importPaths[kind]; known {
		return nil, fmt.Errorf("%w %q (import %s)", ErrUnknownBackendType, kind, path)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownBackendType, kind)
}

// Backends describes a manager's backends, as the original's get_backends.
type Backends struct {
	// All lists the registered backend names, sorted.
	All []string
	// Active is the active backend's name, or "" when none is active.
	Active string
}
