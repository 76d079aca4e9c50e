package backendtest

import (
	"context"
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxBatchBytes is the largest batch, in bytes of names and values, that the
// Backend subtests commit at once.
const maxBatchBytes = 4 << 10

// openUnclosed returns a new client of store that the caller must close,
// itself or through a Manager.
func (s *suite) openUnclosed(t testing.TB, store string) confo.Backend {
	t.Helper()
	b := s.h.Open(t, store)
	require.NotNil(t, b, "Harness.Open(%q) returned nil", store)
	if bl, ok := b.(confo.BatchLimiter); ok {
		l := bl.BatchLimits()
		require.True(t, l.MaxOps == 0 || l.MaxOps >= 1, "BatchLimits().MaxOps = %d", l.MaxOps)
		require.True(t, l.MaxBytes == 0 || l.MaxBytes >= maxBatchBytes,
			"BatchLimits().MaxBytes = %d: the suite needs batches of %d bytes", l.MaxBytes, maxBatchBytes)
	}
	return b
}

// open returns a new client of store, closed when t ends.
func (s *suite) open(t testing.TB, store string) confo.Backend {
	t.Helper()
	b := s.openUnclosed(t, store)
	t.Cleanup(func() { assert.NoError(t, b.Close(), "Close") })
	return b
}

// maxOps is the most ops the suite may pass b in one Commit: the backend's
// limit, or n when it has none or a larger one.
func maxOps(b confo.Backend, n int) int {
	if bl, ok := b.(confo.BatchLimiter); ok {
		if m := bl.BatchLimits().MaxOps; m > 0 && m < n {
			return m
		}
	}
	return n
}

// newManager returns a Manager whose active backend is b, closed when t
// ends.
func newManager(t testing.TB, b confo.Backend) *confo.Manager {
	t.Helper()
	m := confo.New()
	require.NoError(t, m.AddBackend("backendtest", b))
	require.NoError(t, m.ActivateBackend("backendtest"))
	t.Cleanup(func() { assert.NoError(t, m.Close(), "Manager.Close") })
	return m
}

// managerOn returns a Manager on a new client of store, using namespace ns,
// which it creates if needed.
func (s *suite) managerOn(t testing.TB, store, ns string) *confo.Manager {
	t.Helper()
	m := newManager(t, s.openUnclosed(t, store))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

func put(name, value string, rev int64) confo.Op {
	return confo.Op{Name: name, Value: []byte(value), Revision: rev}
}

func del(name string, rev int64) confo.Op {
	return confo.Op{Name: name, Revision: rev}
}

// commit commits ops, which must succeed, in batches within b's limits, and
// returns the new revisions.
func commit(t testing.TB, b confo.Backend, ns string, ops ...confo.Op) []int64 {
	t.Helper()
	var revs []int64
	for n := maxOps(b, len(ops)); len(ops) > 0; ops = ops[min(n, len(ops)):] {
		batch := ops[:min(n, len(ops))]
		r, err := b.Commit(t.Context(), ns, batch)
		require.NoError(t, err, "Commit to %q", ns)
		require.Len(t, r, len(batch), "Commit returns one revision per op")
		for i, op := range batch {
			if op.Value == nil {
				assert.Zero(t, r[i], "revision of delete %q", op.Name)
			} else {
				assert.Positive(t, r[i], "revision of put %q", op.Name)
			}
		}
		revs = append(revs, r...)
	}
	return revs
}

// load returns the entries of namespace ns, which must load.
func load(t testing.TB, b confo.Backend, ns string) map[string]confo.Entry {
	t.Helper()
	snap, err := b.Load(t.Context(), ns)
	require.NoError(t, err, "Load %q", ns)
	for name, e := range snap.Entries {
		assert.Positive(t, e.Revision, "revision of %q", name)
	}
	return snap.Entries
}

// requireEntry checks that entries holds name with a JSON value equal to
// value and, unless rev is 0, revision rev.
func requireEntry(t testing.TB, entries map[string]confo.Entry, name, value string, rev int64) {
	t.Helper()
	e, ok := entries[name]
	require.True(t, ok, "configuration %q missing", name)
	require.JSONEq(t, value, string(e.Value), "value of %q", name)
	if rev != 0 {
		require.Equal(t, rev, e.Revision, "revision of %q", name)
	}
}

// cancelled returns a context that is already cancelled.
func cancelled(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
