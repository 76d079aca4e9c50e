package zookeeper_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/testserver"
)

// TestLoadUnderSteadyWrites runs writers that commit to one namespace
// without pause while another manager reloads it and a third watches it:
// every Reload succeeds within its context (never ErrConflict), and the
// watcher ends with the store's state.
func TestLoadUnderSteadyWrites(t *testing.T) {
	const writers = 4
	creds := credentials(t)
	ctx := t.Context()
	manager := func() *confo.Manager { return testserver.ManagerOn(t, open(t, creds), "ns") }
	seed := manager()
	for i := range 20 {
		require.NoError(t, seed.Set(fmt.Sprintf("c%02d", i), map[string]any{"v": 0}))
	}
	require.NoError(t, seed.Persist(ctx))

	watcher := manager()
	events, err := watcher.Watch(ctx, "ns")
	require.NoError(t, err)
	go func() {
		for range events {
		}
	}()

	stop := make(chan struct{})
	var commits, conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		m := manager()
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("c%02d", (w*5+i)%20)
				err := m.Set(name, map[string]any{"v": i, "by": w})
				if err == nil {
					err = m.Persist(ctx)
				}
				switch {
				case err == nil:
					commits.Add(1)
				case errors.Is(err, confo.ErrConflict):
					conflicts.Add(1)
					if err := m.Reload(ctx); err != nil {
						t.Errorf("writer %d: reload: %v", w, err)
						return
					}
				case ctx.Err() != nil:
					return // the test failed and ended
				default:
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}

	reader := manager()
	var reloads int
	var slowest time.Duration
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := reader.Reload(rctx)
		cancel()
		require.NoError(t, err, "Reload %d under steady writes", reloads+1)
		slowest = max(slowest, time.Since(start))
		reloads++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d Reloads under %d writers (%d commits, %d conflicts between writers); slowest Reload %s",
		reloads, writers, commits.Load(), conflicts.Load(), slowest.Round(time.Millisecond))
	require.Positive(t, commits.Load())

	require.NoError(t, reader.Reload(ctx))
	want, err := reader.GetAll()
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		got, err := watcher.GetAll()
		return err == nil && assert.ObjectsAreEqual(want, got)
	}, 30*time.Second, 10*time.Millisecond, "the watcher converges to the store")
}
