package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// nextBatch waits for the next batch on ch.
func nextBatch(t testing.TB, ch <-chan confo.WatchBatch) confo.WatchBatch {
	t.Helper()
	select {
	case b, ok := <-ch:
		require.True(t, ok, "watch channel closed")
		return b
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no batch within 10s")
	}
	return confo.WatchBatch{}
}

// requireClosedAfter reads batches until ch closes.
func requireClosedAfter(t testing.TB, ch <-chan confo.WatchBatch) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			require.FailNow(t, "watch channel not closed within 10s")
		}
	}
}

func newStore(t testing.TB) *memory.Backend {
	t.Helper()
	b := memory.New()
	require.NoError(t, b.CreateNamespace(t.Context(), "database"))
	require.NoError(t, b.CreateNamespace(t.Context(), "sales"))
	return b
}

func TestWatch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := newStore(t)
	snap, err := b.Load(t.Context(), "database")
	require.NoError(t, err)
	r1 := b.Put("database", "mysql", []byte(`{"v":1}`)) // before the watch, after the load
	b.Put("sales", "crm", []byte(`{}`))                 // another namespace

	ctx, cancel := context.WithCancel(t.Context())
	ch, err := b.Watch(ctx, "database", snap.Revision)
	require.NoError(t, err)
	batch := nextBatch(t, ch)
	assert.Equal(t, []confo.Change{{Name: "mysql", Value: []byte(`{"v":1}`), Revision: r1}}, batch.Changes)
	assert.GreaterOrEqual(t, batch.Revision, r1)

	revs, err := b.Commit(t.Context(), "database", []confo.Op{
		{Name: "a", Value: []byte(`{}`)},
		{Name: "mysql", Revision: r1}, // delete
	})
	require.NoError(t, err)
	batch = nextBatch(t, ch)
	assert.Equal(t, []confo.Change{
		{Name: "a", Value: []byte(`{}`), Revision: revs[0]},
		{Name: "mysql", Revision: revs[0]},
	}, batch.Changes, "one commit, one revision; a delete has a nil Value")
	assert.Equal(t, revs[0], batch.Revision)

	b.Remove("database", "a")
	batch = nextBatch(t, ch)
	require.Len(t, batch.Changes, 1)
	assert.Nil(t, batch.Changes[0].Value)

	b.Put("database", "empty", nil) // a put of nothing is still a put
	batch = nextBatch(t, ch)
	require.Len(t, batch.Changes, 1)
	assert.NotNil(t, batch.Changes[0].Value)

	cancel()
	requireClosedAfter(t, ch)
}

func TestWatchErrors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := newStore(t)
	_, err := b.Watch(t.Context(), "missing", 0)
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = b.Watch(ctx, "database", 0)
	require.ErrorIs(t, err, context.Canceled)

	t.Run("compacted before", func(t *testing.T) {
		b := newStore(t)
		rev := b.Put("database", "x", []byte(`{}`))
		b.Put("database", "x", []byte(`{"v":2}`))
		b.Compact(rev + 1)
		_, err := b.Watch(t.Context(), "database", rev-1)
		require.ErrorIs(t, err, confo.ErrCompacted)
		ch, err := b.Watch(t.Context(), "database", rev) // still available
		require.NoError(t, err)
		assert.Len(t, nextBatch(t, ch).Changes, 1)
	})

	t.Run("compacted while behind", func(t *testing.T) {
		b := newStore(t)
		snap, err := b.Load(t.Context(), "database")
		require.NoError(t, err)
		ch, err := b.Watch(t.Context(), "database", snap.Revision)
		require.NoError(t, err)
		var rev int64
		for i := range 3 { // the watch holds what it has read, unsent
			rev = b.Put("database", "x", []byte(fmt.Sprintf(`{"v":%d}`, i)))
		}
		b.Compact(rev + 1)
		// Either the watch had read every change before the compaction and
		// reports them all, or it ends with ErrCompacted: it never skips.
		for {
			batch := nextBatch(t, ch)
			if batch.Err != nil {
				require.ErrorIs(t, batch.Err, confo.ErrCompacted)
				requireClosedAfter(t, ch)
				return
			}
			if last := batch.Changes[len(batch.Changes)-1]; last.Revision == rev {
				return
			}
		}
	})

	t.Run("history is bounded", func(t *testing.T) {
		b := newStore(t)
		snap, err := b.Load(t.Context(), "database")
		require.NoError(t, err)
		for i := range memory.HistoryLen + 1 {
			b.Put("database", fmt.Sprint(i%10), []byte(`{}`))
		}
		_, err = b.Watch(t.Context(), "database", snap.Revision)
		require.ErrorIs(t, err, confo.ErrCompacted)
		_, err = b.Watch(t.Context(), "database", snap.Revision+1)
		require.NoError(t, err)
	})

	t.Run("closed", func(t *testing.T) {
		b := newStore(t)
		ch, err := b.Watch(t.Context(), "database", 0)
		require.NoError(t, err)
		require.NoError(t, b.Close())
		last := nextBatch(t, ch)
		require.ErrorIs(t, last.Err, confo.ErrClosed)
		requireClosedAfter(t, ch)
		_, err = b.Watch(t.Context(), "database", 0)
		require.ErrorIs(t, err, confo.ErrClosed)
	})
}
