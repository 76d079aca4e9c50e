package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/confo-go/confo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Backend subtests call the Backend interface directly.

func (s *suite) testNamespacesEmptyStore(t *testing.T) {
	b := s.open(t, newStore(t))
	names, err := b.Namespaces(t.Context())
	require.NoError(t, err)
	assert.Empty(t, names)
}

func (s *suite) testCreateNamespace(t *testing.T) {
	store := newStore(t)
	b := s.open(t, store)
	for _, ns := range []string{"alpha", "beta", "alpha"} {
		require.NoError(t, b.CreateNamespace(t.Context(), ns), "CreateNamespace %q", ns)
	}
	names, err := b.Namespaces(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"alpha", "beta"}, names, "creating twice is one namespace")

	// An existing namespace keeps its configurations when created again.
	commit(t, b, "alpha", put("mysql", `{"port":3306}`, 0))
	require.NoError(t, b.CreateNamespace(t.Context(), "alpha"))
	requireEntry(t, load(t, b, "alpha"), "mysql", `{"port":3306}`, 0)

	other := s.open(t, store)
	names, err = other.Namespaces(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"alpha", "beta"}, names, "another client lists them")
}

func (s *suite) testNamespaceNames(t *testing.T) {
	b := s.open(t, newStore(t))
	want := []string{
		"database", "données", "日本語", "with space", "a.b", "dash-and_underscore",
		"UPPER", ".hidden", strings.Repeat("n", confo.MaxNameLen),
	}
	for _, ns := range want {
		require.NoError(t, b.CreateNamespace(t.Context(), ns), "CreateNamespace %q", ns)
	}
	names, err := b.Namespaces(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, want, names, "names are listed as given")
	for _, ns := range want {
		entries := load(t, b, ns)
		assert.Empty(t, entries, "Load %q", ns)
	}
}

func (s *suite) testNamespacesListNoConfigurations(t *testing.T) {
	b := s.open(t, newStore(t))
	require.NoError(t, b.CreateNamespace(t.Context(), "app"))
	commit(t, b, "app", put("mysql", `{"port":3306}`, 0), put("postgres", `{"port":5432}`, 0))
	names, err := b.Namespaces(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"app"}, names)
}

func (s *suite) testLoadMissingNamespace(t *testing.T) {
	b := s.open(t, newStore(t))
	_, err := b.Load(t.Context(), "missing")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound, "empty store")

	// Neither a namespace whose name starts with it, nor one it starts
	// with, makes it exist.
	for _, ns := range []string{"missing-not", "miss"} {
		require.NoError(t, b.CreateNamespace(t.Context(), ns))
		commit(t, b, ns, put("x", `{}`, 0))
	}
	_, err = b.Load(t.Context(), "missing")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound, "beside namespaces of similar names")
}

func (s *suite) testLoadEmptyNamespace(t *testing.T) {
	b := s.open(t, newStore(t))
	require.NoError(t, b.CreateNamespace(t.Context(), "empty"))
	assert.Empty(t, load(t, b, "empty"))
}

func (s *suite) testNamespacesDisjoint(t *testing.T) {
	b := s.open(t, newStore(t))
	spaces := []string{"app", "app-2", "ap", "app.x"}
	for _, ns := range spaces {
		require.NoError(t, b.CreateNamespace(t.Context(), ns))
		commit(t, b, ns, put("conf", fmt.Sprintf(`{"ns":%q}`, ns), 0), put("only-"+ns, `{}`, 0))
	}
	for _, ns := range spaces {
		entries := load(t, b, ns)
		assert.Len(t, entries, 2, "namespace %q holds its own configurations only", ns)
		requireEntry(t, entries, "conf", fmt.Sprintf(`{"ns":%q}`, ns), 0)
		requireEntry(t, entries, "only-"+ns, `{}`, 0)
	}
}

func (s *suite) testRoundTrip(t *testing.T) {
	b := s.open(t, newStore(t))
	const ns = "database"
	require.NoError(t, b.CreateNamespace(t.Context(), ns))

	mysql := `{"host":"localhost","port":3306,"tags":["a","b"],"nested":{"x":null}}`
	revs := commit(t, b, ns, put("mysql", mysql, 0), put("postgres", `{"port":5432}`, 0))
	entries := load(t, b, ns)
	require.Len(t, entries, 2)
	requireEntry(t, entries, "mysql", mysql, revs[0])
	requireEntry(t, entries, "postgres", `{"port":5432}`, revs[1])

	// Update one and delete the other in one batch, if the backend takes two ops.
	ops := []confo.Op{put("mysql", `{"port":3307}`, revs[0]), del("postgres", revs[1])}
	got := commit(t, b, ns, ops...)
	entries = load(t, b, ns)
	require.Len(t, entries, 1)
	requireEntry(t, entries, "mysql", `{"port":3307}`, got[0])
	assert.NotContains(t, entries, "postgres")

	// Deleting what does not exist, based on revision 0, is a no-op.
	got = commit(t, b, ns, del("redis", 0))
	assert.Equal(t, []int64{0}, got)

	// A deleted configuration can be created again, from revision 0.
	got = commit(t, b, ns, put("postgres", `{"port":5433}`, 0))
	requireEntry(t, load(t, b, ns), "postgres", `{"port":5433}`, got[0])

	// An empty batch is allowed.
	_, err := b.Commit(t.Context(), ns, nil)
	require.NoError(t, err)
}

func (s *suite) testTwoClients(t *testing.T) {
	store := newStore(t)
	b1, b2 := s.open(t, store), s.open(t, store)
	require.NoError(t, b1.CreateNamespace(t.Context(), "shared"))
	r1 := commit(t, b1, "shared", put("conf", `{"by":1}`, 0))

	names, err := b2.Namespaces(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"shared"}, names)
	requireEntry(t, load(t, b2, "shared"), "conf", `{"by":1}`, r1[0])

	r2 := commit(t, b2, "shared", put("conf", `{"by":2}`, r1[0]))
	requireEntry(t, load(t, b1, "shared"), "conf", `{"by":2}`, r2[0])

	_, err = b1.Commit(t.Context(), "shared", []confo.Op{put("conf", `{"by":1,"again":true}`, r1[0])})
	require.ErrorIs(t, err, confo.ErrConflict, "the guard holds between clients")
}

func (s *suite) testRevisions(t *testing.T) {
	b := s.open(t, newStore(t))
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	r := commit(t, b, "ns", put("a", `{"v":1}`, 0), put("b", `{"v":1}`, 0))
	ra, rb := r[0], r[1]
	entries := load(t, b, "ns")
	assert.Equal(t, ra, entries["a"].Revision)
	assert.Equal(t, rb, entries["b"].Revision)

	ra2 := commit(t, b, "ns", put("a", `{"v":2}`, ra))[0]
	assert.NotEqual(t, ra, ra2, "a change gives a new revision")
	entries = load(t, b, "ns")
	assert.Equal(t, ra2, entries["a"].Revision)
	assert.Equal(t, rb, entries["b"].Revision, "a configuration not changed keeps its revision")
}

// conflictFixture sets up namespace ns with configuration "a" written twice:
// old is its first revision, cur its current one.
func conflictFixture(t testing.TB, b confo.Backend, ns string) (old, cur int64) {
	require.NoError(t, b.CreateNamespace(t.Context(), ns))
	old = commit(t, b, ns, put("a", `{"v":1}`, 0))[0]
	cur = commit(t, b, ns, put("a", `{"v":2}`, old))[0]
	return old, cur
}

func (s *suite) testConflicts(t *testing.T) {
	b := s.open(t, newStore(t))
	old, cur := conflictFixture(t, b, "ns")
	for name, op := range map[string]confo.Op{
		"put with revision 0 on existing":    put("a", `{"v":3}`, 0),
		"put with stale revision":            put("a", `{"v":3}`, old),
		"delete with stale revision":         del("a", old),
		"delete with revision 0 on existing": del("a", 0),
		"put of missing with a revision":     put("absent", `{"v":3}`, cur),
		"delete of missing with a revision":  del("absent", cur),
		"put with a revision never seen":     put("a", `{"v":3}`, cur+1),
	} {
		t.Run(name, func(t *testing.T) {
			revs, err := b.Commit(t.Context(), "ns", []confo.Op{op})
			require.ErrorIs(t, err, confo.ErrConflict)
			assert.Nil(t, revs)
			entries := load(t, b, "ns")
			assert.Len(t, entries, 1, "nothing written")
			requireEntry(t, entries, "a", `{"v":2}`, cur)
		})
	}
}

func (s *suite) testFailedCommitWritesNothing(t *testing.T) {
	for _, staleFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("staleFirst=%t", staleFirst), func(t *testing.T) {
			b := s.open(t, newStore(t))
			const ns = "ns"
			require.NoError(t, b.CreateNamespace(t.Context(), ns))
			r := commit(t, b, ns, put("a", `{"v":1}`, 0), put("b", `{"v":1}`, 0))
			ra, rbOld := r[0], r[1]
			rb := commit(t, b, ns, put("b", `{"v":2}`, rbOld))[0]

			good := []confo.Op{put("a", `{"v":"new"}`, ra), put("c", `{"v":"new"}`, 0)}
			stale := del("b", rbOld)
			ops := append(good[:maxOps(b, 3)-1:maxOps(b, 3)-1], stale)
			if staleFirst {
				ops = append([]confo.Op{stale}, good[:maxOps(b, 3)-1]...)
			}
			revs, err := b.Commit(t.Context(), ns, ops)
			require.ErrorIs(t, err, confo.ErrConflict)
			assert.Nil(t, revs)

			entries := load(t, b, ns)
			assert.Len(t, entries, 2, "nothing of the batch written")
			requireEntry(t, entries, "a", `{"v":1}`, ra)
			requireEntry(t, entries, "b", `{"v":2}`, rb)
		})
	}
}

func (s *suite) testConflictNamesConfiguration(t *testing.T) {
	b := s.open(t, newStore(t))
	const ns = "ns"
	require.NoError(t, b.CreateNamespace(t.Context(), ns))
	r := commit(t, b, ns, put("conflicting-config", `{"v":1}`, 0))
	commit(t, b, ns, put("conflicting-config", `{"v":2}`, r[0]))

	ops := []confo.Op{put("innocent", `{}`, 0), put("conflicting-config", `{"v":3}`, r[0])}
	_, err := b.Commit(t.Context(), ns, ops[len(ops)-maxOps(b, 2):])
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Contains(t, err.Error(), "conflicting-config", "the error names the configuration")
}

func (s *suite) testRawValues(t *testing.T) {
	store := newStore(t)
	b := s.open(t, store)
	const ns = "raw"
	require.NoError(t, b.CreateNamespace(t.Context(), ns))
	raws := map[string][]byte{
		"object":    []byte(`{"a": 1}`),
		"text":      []byte("not json"),
		"array":     []byte("[1]"),
		"empty":     {},
		"bad-utf8":  []byte("{\"a\":\"\xff\"}"),
		"multiline": []byte("{\n  \"a\": 1\n}\n"),
	}
	for name, raw := range raws {
		s.h.PutRaw(t, store, ns, name, raw)
	}
	entries := load(t, b, ns)
	require.Len(t, entries, len(raws), "a Backend loads what it holds, JSON or not")
	for name, raw := range raws {
		assert.Equal(t, string(raw), string(entries[name].Value), "value of %q", name)
	}

	// A value written by another tool changes the revision: the guard sees it.
	r := commit(t, b, ns, put("guarded", `{"v":1}`, 0))[0]
	s.h.PutRaw(t, store, ns, "guarded", []byte(`{"v":"by another tool"}`))
	_, err := b.Commit(t.Context(), ns, []confo.Op{put("guarded", `{"v":2}`, r)})
	require.ErrorIs(t, err, confo.ErrConflict)
	requireEntry(t, load(t, b, ns), "guarded", `{"v":"by another tool"}`, 0)
}

func (s *suite) testBackendCancelled(t *testing.T) {
	b := s.open(t, newStore(t))
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	ctx := cancelled(t)

	_, err := b.Namespaces(ctx)
	assert.ErrorIs(t, err, context.Canceled, "Namespaces")
	assert.ErrorIs(t, b.CreateNamespace(ctx, "new"), context.Canceled, "CreateNamespace")
	_, err = b.Load(ctx, "ns")
	assert.ErrorIs(t, err, context.Canceled, "Load")
	_, err = b.Commit(ctx, "ns", []confo.Op{put("x", `{}`, 0)})
	assert.ErrorIs(t, err, context.Canceled, "Commit")

	names, err := b.Namespaces(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"ns"}, names, "nothing created")
	assert.Empty(t, load(t, b, "ns"), "nothing written")
}

// workers is the number of goroutines of the concurrency subtests.
const workers = 16

func (s *suite) testBackendConcurrent(t *testing.T) {
	b := s.open(t, newStore(t))
	const (
		ns     = "ns"
		rounds = 3 // own configuration writes per worker
		incs   = 2 // increments of the shared counter per worker
	)
	require.NoError(t, b.CreateNamespace(t.Context(), ns))
	commit(t, b, ns, put("counter", `{"n":0}`, 0))

	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			if !assert.NoError(t, b.CreateNamespace(ctx, "created-by-all")) {
				return
			}
			name := fmt.Sprintf("worker-%02d", w)
			var rev int64
			for i := range rounds {
				revs, err := b.Commit(ctx, ns, []confo.Op{put(name, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i), rev)})
				if !assert.NoError(t, err, "%s round %d: nobody else writes it", name, i) {
					return
				}
				rev = revs[0]
				snap, err := b.Load(ctx, ns)
				if !assert.NoError(t, err) || !assert.Equal(t, rev, snap.Entries[name].Revision, name) {
					return
				}
				if _, err := b.Namespaces(ctx); !assert.NoError(t, err) {
					return
				}
			}
			for done, tries := 0, 0; done < incs; tries++ {
				if !assert.Less(t, tries, 100*workers, "%s: no progress on the counter", name) {
					return
				}
				snap, err := b.Load(ctx, ns)
				if !assert.NoError(t, err) {
					return
				}
				e := snap.Entries["counter"]
				var c struct{ N int }
				if !assert.NoError(t, json.Unmarshal(e.Value, &c), "counter %q", e.Value) {
					return
				}
				_, err = b.Commit(ctx, ns, []confo.Op{put("counter", fmt.Sprintf(`{"n":%d}`, c.N+1), e.Revision)})
				if errors.Is(err, confo.ErrConflict) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	entries := load(t, b, ns)
	requireEntry(t, entries, "counter", fmt.Sprintf(`{"n":%d}`, workers*incs), 0)
	for w := range workers {
		requireEntry(t, entries, fmt.Sprintf("worker-%02d", w), fmt.Sprintf(`{"w":%d,"i":%d}`, w, rounds-1), 0)
	}
	names, err := b.Namespaces(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ns, "created-by-all"}, names)
}

func (s *suite) testBackendConcurrentCreate(t *testing.T) {
	store := newStore(t)
	clients := []confo.Backend{s.open(t, store), s.open(t, store)} // as two processes
	const ns = "ns"
	require.NoError(t, clients[0].CreateNamespace(t.Context(), ns))

	ctx := t.Context()
	var wg sync.WaitGroup
	var wins atomic.Int64
	for w := range workers {
		b := clients[w%len(clients)]
		wg.Go(func() {
			// Every worker creates "shared" from revision 0: exactly one wins.
			if _, err := b.Commit(ctx, ns, []confo.Op{put("shared", fmt.Sprintf(`{"w":%d}`, w), 0)}); err == nil {
				wins.Add(1)
			} else {
				assert.ErrorIs(t, err, confo.ErrConflict, "worker %d", w)
			}
			// And one of its own, which always succeeds.
			_, err := b.Commit(ctx, ns, []confo.Op{put(fmt.Sprintf("own-%02d", w), `{}`, 0)})
			assert.NoError(t, err, "worker %d", w)
			_, err = b.Load(ctx, ns)
			assert.NoError(t, err, "worker %d", w)
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), wins.Load(), "creators of one configuration that win")
	assert.Len(t, load(t, clients[1], ns), workers+1)
}

func (s *suite) testBackendClose(t *testing.T) {
	b := s.openUnclosed(t, newStore(t))
	closed := false
	t.Cleanup(func() {
		if !closed {
			b.Close()
		}
	})
	require.NoError(t, b.CreateNamespace(t.Context(), "ns"))
	closed = true
	require.NoError(t, b.Close())

	_, err := b.Namespaces(t.Context())
	assert.ErrorIs(t, err, confo.ErrClosed, "Namespaces")
	assert.ErrorIs(t, b.CreateNamespace(t.Context(), "other"), confo.ErrClosed, "CreateNamespace")
	_, err = b.Load(t.Context(), "ns")
	assert.ErrorIs(t, err, confo.ErrClosed, "Load")
	_, err = b.Commit(t.Context(), "ns", []confo.Op{put("x", `{}`, 0)})
	assert.ErrorIs(t, err, confo.ErrClosed, "Commit")
	assert.NoError(t, b.Close(), "a second Close does nothing")
}
