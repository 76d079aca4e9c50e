// Package backendtest is the conformance suite of confo backends: what
// every [confo.Backend] must do, checked on the backend itself and through a
// [confo.Manager]. Each backend of this module runs it once from its tests,
// and so can a backend written outside it:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			Open:   func(t testing.TB, store string) confo.Backend { ... },
//			PutRaw: func(t testing.TB, store, ns, name string, raw []byte) { ... },
//		})
//	}
//
// The suite covers namespaces (creation, listing, names as given, the
// not-found error), round trips of puts and deletes, revisions and the guard
// ([confo.ErrConflict], a failed Commit writing nothing of its batch, the
// error naming the configuration), values of every JSON type read back with
// the same Go types by a second manager, Persist and Reload semantics,
// [confo.ErrCorruptValue] leaving the view unchanged, cancelled contexts,
// concurrent use by 16 goroutines (run it with -race), among them two
// clients creating one configuration at once (exactly one wins), Close, for
// a backend that implements [confo.NamespaceDeleter], deleting a
// namespace, and, for a backend that implements [confo.Watcher], the
// changes another client makes reported by the backend and by
// [confo.Manager.Watch] (for one that does not, Manager.Watch must return
// [errors.ErrUnsupported]), and, for a backend that implements
// [confo.MetaStore], metadata: round trips, prefix listing, guards and
// checks naming the key, atomicity with configurations, and metadata never
// seen as a namespace or configuration. It
// respects a backend's [confo.BatchLimiter] and keeps every value small, so
// it runs in a few seconds against a real server.
package backendtest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/require"
)

// Harness tells [Run] how to reach the backend under test.
//
// Every subtest uses a store of its own, named by a fresh store ID: a
// non-empty string of at most 80 bytes of lower-case ASCII letters, digits
// and '-', unique within the process (so also across Run calls and -count
// runs). A harness maps it to a new directory, a key prefix, a database, and
// so on. The store is empty when first opened.
type Harness struct {
	// Open returns a new connection to the store identified by store. Two
	// calls with the same store in one subtest are two clients of the same
	// store: what one commits, the other loads, and the guard holds between
	// them.
	//
	// Run closes every Backend it opens, directly or through
	// [confo.Manager.Close], and it closes a Backend only once it is done
	// with every Backend of that store (the Close subtests open a store of
	// their own). So Open may return the same Backend for every call with
	// the same store, as in-process stores do, provided that a second Close
	// of it is harmless. Open should fail t (t.Fatal) rather than return
	// nil.
	Open func(t testing.TB, store string) confo.Backend

	// PutRaw writes raw under configuration name of namespace ns of the
	// store as another tool would (etcdctl put, echo > file), bypassing
	// the guard, and gives the configuration a new revision. Run creates
	// ns before calling it. It is used to store values that are not JSON
	// objects, which a Manager refuses to write.
	PutRaw func(t testing.TB, store, ns, name string, raw []byte)

	// PutForeign, when set, is PutRaw for a name that is not a valid
	// configuration name ("a/b", "..", "", a control character, invalid
	// UTF-8, more than 255 bytes), written as another client of the store
	// could. It returns false, writing nothing, for a name the store cannot
	// hold at all (a ZooKeeper node name cannot contain "/"). A store that
	// can hold no such name (a directory of files) leaves it nil, and the
	// ForeignNames subtests do not run.
	PutForeign func(t testing.TB, store, ns, name string, raw []byte) bool

	// RawUnwatched says that the store's watch does not see what PutRaw
	// writes, because it listens for the backend's own notifications
	// (Redis pub/sub, PostgreSQL NOTIFY). The suite then brings such a
	// write to a watching manager by Reload, which reports it to watchers
	// as the watch would.
	RawUnwatched bool
}

var storeSeq atomic.Int64

// newStore returns a fresh store ID for t.
func newStore(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	suffix := fmt.Sprintf("-%d", storeSeq.Add(1))
	if len(name) > 80-len(suffix) {
		name = name[len(name)-(80-len(suffix)):]
		name = strings.TrimLeft(name, "-")
	}
	if name == "" {
		name = "store"
	}
	return name + suffix
}

// Run runs the conformance suite on the backend h opens, as subtests of t.
// The subtests do not call t.Parallel, but they run goroutines that use one
// Backend and one Manager concurrently: run the suite with -race.
func Run(t *testing.T, h Harness) {
	t.Helper()
	require.NotNil(t, h.Open, "backendtest: Harness.Open is required")
	require.NotNil(t, h.PutRaw, "backendtest: Harness.PutRaw is required")
	s := &suite{h: h}

	t.Run("Backend", func(t *testing.T) {
		t.Run("NamespacesEmptyStore", s.testNamespacesEmptyStore)
		t.Run("CreateNamespace", s.testCreateNamespace)
		t.Run("NamespaceNamesAsGiven", s.testNamespaceNames)
		t.Run("NamespacesListNoConfigurations", s.testNamespacesListNoConfigurations)
		t.Run("LoadMissingNamespace", s.testLoadMissingNamespace)
		t.Run("LoadEmptyNamespace", s.testLoadEmptyNamespace)
		t.Run("NamespacesAreDisjoint", s.testNamespacesDisjoint)
		t.Run("RoundTrip", s.testRoundTrip)
		t.Run("TwoClients", s.testTwoClients)
		t.Run("Revisions", s.testRevisions)
		t.Run("Conflicts", s.testConflicts)
		t.Run("FailedCommitWritesNothing", s.testFailedCommitWritesNothing)
		t.Run("ConflictNamesConfiguration", s.testConflictNamesConfiguration)
		t.Run("RawValuesLoadAsStored", s.testRawValues)
		t.Run("CancelledContext", s.testBackendCancelled)
		t.Run("Concurrent", s.testBackendConcurrent)
		t.Run("ConcurrentCreate", s.testBackendConcurrentCreate)
		t.Run("Close", s.testBackendClose)
	})
	t.Run("Manager", func(t *testing.T) {
		t.Run("Namespaces", s.testManagerNamespaces)
		t.Run("UseMissingNamespace", s.testManagerUseMissing)
		t.Run("ValueTypesRoundTrip", s.testManagerValueTypes)
		t.Run("NamesRoundTrip", s.testManagerNames)
		t.Run("PersistWritesOnlyChanges", s.testPersistOnlyDirty)
		t.Run("PersistDeletes", s.testPersistDeletes)
		t.Run("PersistManyBatches", s.testPersistMany)
		t.Run("PersistConfigAndNamespace", s.testPersistConfigAndNamespace)
		t.Run("Conflict", s.testManagerConflict)
		t.Run("ConflictWritesNothingOfBatch", s.testManagerConflictBatch)
		t.Run("ReloadStoreWins", s.testReloadStoreWins)
		t.Run("ReloadDeletedInStore", s.testReloadDeletedInStore)
		t.Run("CorruptValue", s.testCorruptValue)
		t.Run("CorruptValueWatch", s.testCorruptValueWatch)
		t.Run("CancelledContext", s.testManagerCancelled)
		t.Run("Concurrent", s.testManagerConcurrent)
		t.Run("Close", s.testManagerClose)
	})
	t.Run("DeleteNamespace", s.testDeleteNamespace)
	t.Run("Watch", s.testWatch)
	t.Run("Meta", s.testMeta)
	t.Run("Sealed", s.testSealed)
	t.Run("Schema", s.testSchema)
	t.Run("Records", s.testRecords)
	if h.PutForeign != nil {
		t.Run("ForeignNames", s.testForeignNames)
	}
}

// suite holds the harness for the test methods.
type suite struct {
	h Harness
}
