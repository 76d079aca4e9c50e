package testserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// crashWriters is how many managers write during each round of Crash.
const crashWriters = 3

// Crash checks that a server killed (SIGKILL) under guarded writes loses
// no acknowledged commit. In each of rounds rounds, crashWriters managers
// (from newManager, each a client of srv using namespace "crash", which it
// creates) persist, in one batch, their own configuration "w<i>" with a
// sequence number one higher and a shared "counter" one higher than the
// view holds; a conflict is answered by Reload. After a while srv is
// killed, every writer's next Persist fails, srv is restarted on its data,
// and a fresh manager reads the store. Every acknowledged sequence number
// must be there (or the next, from a commit whose reply was lost), and the
// counter must count every acknowledged increment, plus at most the
// commits that failed at the kill; a failed commit that was applied must
// have been reported with ErrOutcomeUnknown.
func Crash(t *testing.T, srv *Server, rounds int, newManager func(t testing.TB) *confo.Manager) {
	t.Helper()
	ctx := t.Context()
	acked := make([]int64, crashWriters)
	lastUnknown := make([]bool, crashWriters) // the writer's failed commit of this round was ErrOutcomeUnknown
	var (
		totalAcked, conflicts, failed, unknown, applied int64
		maxCounter, lostCommits, lostIncrements         int64
	)
	read := func() (counter int64, seqs []int64) {
		t.Helper()
		m := newManager(t)
		defer m.Close()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		require.NoError(t, m.Reload(rctx))
		counter = intField(t, m, "counter", "n")
		for w := range crashWriters {
			seqs = append(seqs, intField(t, m, fmt.Sprintf("w%d", w), "seq"))
		}
		return counter, seqs
	}

	for round := range rounds {
		managers := make([]*confo.Manager, crashWriters)
		for w := range managers {
			managers[w] = newManager(t)
		}
		stop := make(chan struct{})
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w, m := range managers {
			wg.Go(func() {
				name := fmt.Sprintf("w%d", w)
				for {
					select {
					case <-stop:
						return
					default:
					}
					seq, err := int64Field(m, name, "seq")
					if err != nil {
						t.Error(err)
						return
					}
					n, err := int64Field(m, "counter", "n")
					if err != nil {
						t.Error(err)
						return
					}
					if err := errors.Join(m.Set(name, map[string]any{"seq": seq + 1}), m.Set("counter", map[string]any{"n": n + 1})); err != nil {
						t.Error(err)
						return
					}
					pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					err = m.Persist(pctx)
					cancel()
					mu.Lock()
					switch {
					case err == nil:
						acked[w] = seq + 1
						totalAcked++
					case errors.Is(err, confo.ErrConflict):
						conflicts++
					default:
						failed++
						t.Logf("round %d: writer %d: %v", round, w, err)
						if errors.Is(err, confo.ErrOutcomeUnknown) {
							unknown++
							lastUnknown[w] = true
						}
					}
					mu.Unlock()
					if err != nil && !errors.Is(err, confo.ErrConflict) {
						return // the server is gone
					}
					if err != nil {
						rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
						err := m.Reload(rctx)
						cancel()
						if err != nil {
							return
						}
					}
				}
			})
		}
		// Let the writers run, then crash the server under them.
		time.Sleep(time.Duration(500+300*round) * time.Millisecond)
		require.NoError(t, srv.Kill(), "kill the server")
		close(stop)
		wg.Wait()
		for _, m := range managers {
			m.Close()
		}
		require.NoError(t, srv.Restart(), "restart the server on its data")

		counter, seqs := read()
		mu.Lock()
		for w, seq := range seqs {
			assert.GreaterOrEqual(t, seq, acked[w], "round %d: writer %d's acknowledged sequence number lost", round, w)
			assert.LessOrEqual(t, seq, acked[w]+1, "round %d: writer %d", round, w)
			if seq < acked[w] {
				lostCommits += acked[w] - seq
				acked[w] = seq // go on from what the store holds
			}
			if seq > acked[w] {
				applied++ // a commit that failed at the kill was applied
				t.Logf("round %d: writer %d: its failed commit was applied", round, w)
				assert.True(t, lastUnknown[w], "round %d: writer %d: a commit reported failed with a known outcome was applied", round, w)
				acked[w] = seq
			}
		}
		assert.GreaterOrEqual(t, counter, maxCounter, "the counter never goes back")
		assert.GreaterOrEqual(t, counter, totalAcked, "round %d: acknowledged increments lost", round)
		assert.LessOrEqual(t, counter, totalAcked+failed, "round %d: more increments than commits", round)
		if counter < totalAcked {
			lostIncrements += totalAcked - counter
			totalAcked = counter
		}
		maxCounter = counter
		clear(lastUnknown)
		mu.Unlock()
	}
	t.Logf("%d kills: %d commits acknowledged, %d refused by the guard, %d failed at a kill (%d ErrOutcomeUnknown, %d of them applied); counter %d; lost: %d acknowledged commits of own configurations, %d acknowledged increments",
		rounds, totalAcked+lostIncrements, conflicts, failed, unknown, applied, maxCounter, lostCommits, lostIncrements)
}

// intField returns field of configuration name as an int64, 0 if the
// configuration does not exist.
func intField(t testing.TB, m *confo.Manager, name, field string) int64 {
	t.Helper()
	n, err := int64Field(m, name, field)
	require.NoError(t, err)
	return n
}

func int64Field(m *confo.Manager, name, field string) (int64, error) {
	v, err := m.GetField(name, field)
	if errors.Is(err, confo.ErrConfigNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%s.%s is %T, not an int64", name, field, v)
	}
	return n, nil
}
