package confo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// TestManagerConcurrent runs 16 goroutines mixing every call of the Manager
// on two backends and two namespaces, with a watch running on each backend.
// Run it with -race. The only errors
// allowed are those the interleaving explains (a configuration another
// goroutine deleted, say); Persist never conflicts, since this manager is
// the only writer. At the end, after one more Persist, every view equals
// what its store holds.
func TestManagerConcurrent(t *testing.T) {
	const (
		goroutines = 16
		rounds     = 150
	)
	ctx := t.Context()
	stores := map[string]*memory.Backend{"a": memory.New(), "b": memory.New()}
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	for name, store := range stores {
		require.NoError(t, m.AddBackend(name, store)) // a Watcher: watches run throughout
		require.NoError(t, m.ActivateBackend(name))
		require.NoError(t, m.CreateNamespace(ctx, "sales"))
		seed(t, m) // database in use
		stop, err := m.OnChange(ctx, "database", func(confo.Event) {})
		require.NoError(t, err)
		t.Cleanup(stop)
	}

	// expected tells whether err is one the interleaving explains.
	expected := func(err error) bool {
		return err == nil ||
			errors.Is(err, confo.ErrConfigNotFound) ||
			errors.Is(err, confo.ErrFieldNotFound)
	}

	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds)
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				name := fmt.Sprintf("c%d", (g+i)%8)
				var err error
				switch (g*7 + i) % 22 {
				case 0:
					err = m.Set(name, map[string]any{"g": g, "i": i, "list": []any{i, "x"}})
				case 1:
					err = m.SetField(name, "i", i)
				case 2:
					_, err = m.Get(name)
				case 3:
					_, err = m.GetField(name, "i")
				case 4:
					_, err = m.GetAll()
				case 5:
					var out map[string]any
					err = m.Decode(name, &out)
				case 6:
					err = m.Delete(name)
				case 7:
					_, err = m.ConfigCount()
				case 8:
					err = m.Persist(ctx)
				case 9:
					err = m.PersistNamespace(ctx, "database")
				case 10:
					err = m.PersistConfig(ctx, "database", name)
				case 11:
					err = m.Reload(ctx)
				case 12:
					_, err = m.GetNamespaces(ctx)
				case 13:
					_, err = m.GetCount(ctx)
				case 14:
					err = m.CreateNamespace(ctx, "sales")
				case 15:
					err = m.UseNamespace(ctx, []string{"database", "sales"}[i%2])
				case 16:
					err = m.ActivateBackend([]string{"a", "b"}[i%2])
				case 17:
					_ = m.GetBackends()
					_ = m.Namespace()
				case 18:
					_, err = m.Backend("a")
					if err == nil && i%5 == 0 {
						err = m.LoadBackend(ctx, fmt.Sprintf("extra-%d-%d", g, i), confo.MemoryBackend, nil)
					}
					if err == nil && i%5 == 1 {
						wctx, cancel := context.WithCancel(ctx)
						_, err = m.Watch(wctx, []string{"database", "sales"}[i%2])
						cancel()
					}
				case 19:
					err = m.SetField(name, "nested", map[string]any{"g": g})
				case 20:
					err = m.Persist(ctx)
				default:
					err = m.Set(name, nil)
				}
				if !expected(err) {
					errs <- fmt.Errorf("goroutine %d round %d: %w", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NotErrorIs(t, err, confo.ErrConflict, "concurrent persists never conflict")
		assert.NoError(t, err)
	}

	for name, store := range stores {
		require.NoError(t, m.ActivateBackend(name))
		require.NoError(t, m.Persist(ctx))
		for _, ns := range []string{"database", "sales"} {
			require.NoError(t, m.UseNamespace(ctx, ns))
			assert.Equal(t, mustGetAll(t, m), storeView(t, store, ns), "backend %s namespace %s", name, ns)
		}
	}
}

// TestManagerConcurrentPersist has 16 goroutines change configurations of
// one namespace, some shared, and persist as they go: no Persist conflicts
// with another, and nothing is lost.
func TestManagerConcurrentPersist(t *testing.T) {
	const goroutines = 16
	ctx := t.Context()
	m, rec := newTestManager(t)

	var wg sync.WaitGroup
	errs := make(chan error, goroutines*100)
	for g := range goroutines {
		wg.Go(func() {
			for i := range 30 {
				own := fmt.Sprintf("g%02d", g)
				if err := m.Set(own, map[string]any{"i": i}); err != nil {
					errs <- err
				}
				if err := m.SetField("shared", fmt.Sprintf("g%02d", g), i); err != nil {
					errs <- err
				}
				var err error
				switch i % 3 {
				case 0:
					err = m.Persist(ctx)
				case 1:
					err = m.PersistNamespace(ctx, "database")
				case 2:
					err = m.PersistConfig(ctx, "database", own)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NotErrorIs(t, err, confo.ErrConflict)
		assert.NoError(t, err)
	}
	require.NoError(t, m.Persist(ctx))

	want := map[string]map[string]any{"mysql": mysqlRead(), "shared": {}}
	for g := range goroutines {
		want[fmt.Sprintf("g%02d", g)] = map[string]any{"i": int64(29)}
		want["shared"][fmt.Sprintf("g%02d", g)] = int64(29)
	}
	assert.Equal(t, want, mustGetAll(t, m))
	assert.Equal(t, want, storeView(t, rec.store, "database"))
}

// TestManagerConcurrentReaders checks that readers never see a partial
// configuration while writers replace it whole.
func TestManagerConcurrentReaders(t *testing.T) {
	ctx := t.Context()
	m, _ := newTestManager(t)
	require.NoError(t, m.Set("pair", map[string]any{"a": 0, "b": 0}))

	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := w*1_000_000 + i
				if err := m.Set("pair", map[string]any{"a": n, "b": n}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := m.Persist(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 8 {
		readers.Go(func() {
			for range 2000 {
				got, err := m.Get("pair")
				if err != nil {
					t.Error(err)
					return
				}
				if got["a"] != got["b"] {
					t.Errorf("torn read: %v", got)
					return
				}
				got["a"] = "mine" // a copy: no effect on others
			}
		})
	}
	readers.Wait()
	close(stop)
	writers.Wait()
}

// TestManagerConcurrentGrowth has writers add and delete many
// configurations while readers look them up: a configuration whose Set
// returned before a read began is always seen, by Get, GetAll and
// ConfigCount alike, however the view reorganizes itself as it grows.
func TestManagerConcurrentGrowth(t *testing.T) {
	const (
		writers = 4
		perW    = 600
	)
	m, _ := newTestManager(t)
	var done [writers]atomic.Int64 // configurations of each writer set so far

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perW {
				name := fmt.Sprintf("w%d-%04d", w, i)
				if err := m.Set(name, map[string]any{"w": w, "i": i}); err != nil {
					t.Error(err)
					return
				}
				// churn: a short-lived configuration of the same writer
				tmp := fmt.Sprintf("tmp%d-%04d", w, i)
				if err := m.Set(tmp, nil); err != nil {
					t.Error(err)
					return
				}
				if err := m.Delete(tmp); err != nil {
					t.Error(err)
					return
				}
				done[w].Store(int64(i + 1))
			}
		})
	}
	for r := range 8 {
		wg.Go(func() {
			for k := 0; ; k++ {
				var seen [writers]int64
				total := int64(0)
				for w := range writers {
					seen[w] = done[w].Load()
					total += seen[w]
				}
				w := (r + k) % writers
				if seen[w] > 0 {
					name := fmt.Sprintf("w%d-%04d", w, (int64(k*7919) % seen[w]))
					if _, err := m.Get(name); err != nil {
						t.Errorf("Get of %s, set before the read: %v", name, err)
						return
					}
				}
				if k%10 == 0 {
					all, err := m.GetAll()
					if err != nil {
						t.Error(err)
						return
					}
					for w := range writers {
						for i := range seen[w] {
							if _, ok := all[fmt.Sprintf("w%d-%04d", w, i)]; !ok {
								t.Errorf("GetAll misses w%d-%04d", w, i)
								return
							}
						}
					}
					n, err := m.ConfigCount()
					if err != nil {
						t.Error(err)
						return
					}
					if int64(n) < total+1 { // + mysql
						t.Errorf("ConfigCount %d, want at least %d", n, total+1)
						return
					}
				}
				if total == writers*perW {
					return
				}
			}
		})
	}
	wg.Wait()

	n, err := m.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, writers*perW+1, n)
	all := mustGetAll(t, m)
	assert.Len(t, all, writers*perW+1)
	require.NoError(t, m.Persist(t.Context()))
	require.NoError(t, m.Reload(t.Context()))
	assert.Equal(t, all, mustGetAll(t, m))
}

// TestManagerCloseConcurrent closes a manager while 16 goroutines use it:
// no panic, no race, and every call either works or reports ErrClosed (or
// an error the interleaving explains); after Close every call is ErrClosed.
func TestManagerCloseConcurrent(t *testing.T) {
	ctx := t.Context()
	for range 20 {
		m, _ := newTestManager(t)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 16 {
			wg.Go(func() {
				<-start
				for i := range 50 {
					calls := configCalls([]string{"database", "sales"}[i%2], fmt.Sprintf("c%d", g%4))
					c := calls[(g+i)%len(calls)]
					err := c.do(ctx, m)
					if err != nil &&
						!errors.Is(err, confo.ErrClosed) &&
						!errors.Is(err, confo.ErrConfigNotFound) &&
						!errors.Is(err, confo.ErrFieldNotFound) && // SetField made {"port": 1}, GetField asks "host"
						!errors.Is(err, confo.ErrNamespaceNotFound) &&
						!errors.Is(err, confo.ErrNamespaceNotLoaded) &&
						!errors.Is(err, errors.ErrUnsupported) { // the recorder does not watch
						t.Errorf("%s: %v", c.name, err)
					}
				}
			})
		}
		close(start)
		require.NoError(t, m.Close())
		wg.Wait()
		for _, c := range configCalls("database", "mysql") {
			require.ErrorIs(t, c.do(ctx, m), confo.ErrClosed, c.name)
		}
	}
}
