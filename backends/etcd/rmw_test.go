package etcd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
)

// The read-modify-write test runs several writer managers on a 3-member
// cluster, half of them watching the namespace, each incrementing shared
// counters by read-modify-write (Update, or GetRevision and SetIf) and
// Persist, retrying after Reload when the guard refuses or the outcome is
// unknown. It then checks every attempt against the store's complete
// history: every acknowledged write is there (lost = 0), a refused one is
// not, and each counter's history is a chain of +1 increments, each based
// on the value just before it, so that no write was based on an older
// version. Finally every watching manager's view converges to the store.

const (
	rmwWriters  = 6  // writing managers; the even ones watch
	rmwOps      = 60 // acknowledged increments each writer makes
	rmwCounters = 3  // counters shared by every writer
	rmwNS       = "counters"
)

// rmwCounter is the name of counter k.
func rmwCounter(k int) string { return fmt.Sprintf("counter-%d", k) }

// rmwAttempt is one Persist of an increment.
type rmwAttempt struct {
	id      string // "<writer>.<op>.<try>", the value's "id"
	counter string
	n       int64 // the value written
	outcome outcome
	err     error
	// rev is the revision GetRevision returned after an acknowledged
	// Persist, when the view still held this attempt's value (0 if a
	// newer write was already in the view).
	rev int64
}

// rmwStats counts what the writers saw.
type rmwStats struct {
	mu                                 sync.Mutex
	attempts                           []*rmwAttempt
	viaUpdate, viaSetIf, setIfRefused  int
	acked, conflicts, unknown, failed  int
	watchEvents                        int
	revisionsSeen, revisionsNotVisible int
	reloadRetries                      int
	errs                               map[string]int // error kinds of failed calls, counted
}

func (s *rmwStats) add(a *rmwAttempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, a)
	if a.err != nil && a.outcome != outcomeConflict {
		s.errs[errorKind(a.err)]++
	}
	switch a.outcome {
	case outcomeAck:
		s.acked++
		if a.rev != 0 {
			s.revisionsSeen++
		} else {
			s.revisionsNotVisible++
		}
	case outcomeConflict:
		s.conflicts++
	case outcomeUnknown:
		s.unknown++
	default:
		s.failed++
	}
}

// rmwWriter is one manager incrementing the counters.
type rmwWriter struct {
	i     int
	m     *confo.Manager
	rnd   *rand.Rand
	stats *rmwStats
}

// increment makes the edit of attempt id on counter: n+1, based on the
// value the edit read. It goes through Update, or through GetRevision and
// SetIf (retried at once when the view moved in between).
func (w *rmwWriter) increment(counter, id string) (int64, error) {
	next := func(old map[string]any) map[string]any {
		n, _ := old["n"].(int64)
		based, _ := old["id"].(string)
		return map[string]any{"n": n + 1, "id": id, "based_on": based, "writer": int64(w.i)}
	}
	if w.rnd.IntN(3) > 0 {
		var n int64
		err := w.m.Update(counter, func(old map[string]any) (map[string]any, error) {
			v := next(old)
			n = v["n"].(int64)
			return v, nil
		})
		w.stats.mu.Lock()
		w.stats.viaUpdate++
		w.stats.mu.Unlock()
		return n, err
	}
	for {
		old, rev, err := w.m.GetRevision(counter)
		if err != nil {
			return 0, err
		}
		v := next(old)
		if w.rnd.IntN(2) == 0 { // a form or an editor: time passes between the read and the write
			time.Sleep(time.Duration(w.rnd.IntN(3000)) * time.Microsecond)
		}
		err = w.m.SetIf(counter, v, rev)
		if errors.Is(err, confo.ErrConflict) { // the watch moved the view since GetRevision
			w.stats.mu.Lock()
			w.stats.setIfRefused++
			w.stats.mu.Unlock()
			continue
		}
		w.stats.mu.Lock()
		w.stats.viaSetIf++
		w.stats.mu.Unlock()
		return v["n"].(int64), err
	}
}

// op increments a random counter until an attempt is acknowledged. It
// returns an error that is neither a conflict nor an unknown outcome.
func (w *rmwWriter) op(ctx context.Context, seq int) error {
	counter := rmwCounter(w.rnd.IntN(rmwCounters))
	for try := 0; ; try++ {
		if try > 500 {
			return fmt.Errorf("writer %d: op %d on %s not acknowledged after %d tries", w.i, seq, counter, try)
		}
		a := &rmwAttempt{id: fmt.Sprintf("%d.%d.%d", w.i, seq, try), counter: counter}
		n, err := w.increment(counter, a.id)
		if err != nil {
			return fmt.Errorf("writer %d: increment %s: %w", w.i, counter, err)
		}
		a.n = n
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = w.m.Persist(pctx)
		cancel()
		a.err = err
		switch {
		case err == nil:
			a.outcome = outcomeAck
			if v, rev, err := w.m.GetRevision(counter); err == nil && v["id"] == a.id {
				a.rev = rev
			}
		case errors.Is(err, confo.ErrConflict):
			a.outcome = outcomeConflict
		case errors.Is(err, confo.ErrOutcomeUnknown):
			a.outcome = outcomeUnknown
		default:
			a.outcome = outcomeFailed
		}
		w.stats.add(a)
		if a.outcome == outcomeAck {
			return nil
		}
		// The store decides: drop the edit and read what it holds. A
		// failure whose outcome is known (nothing written, such as a
		// proposal dropped in an election) is retried the same way.
		if err := w.reload(ctx); err != nil {
			return fmt.Errorf("writer %d: reload after %s: %w", w.i, a.id, err)
		}
	}
}

// reload reloads until it succeeds, for at most 20s: the cluster may be
// electing a leader (an election on a loaded machine is not a fault).
func (w *rmwWriter) reload(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.m.Reload(rctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		w.stats.mu.Lock()
		w.stats.reloadRetries++
		w.stats.errs[errorKind(err)]++
		w.stats.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadModifyWriteHistory is the test described above. It logs the
// counts.
func TestReadModifyWriteHistory(t *testing.T) {
	integration.BeforeTestExternal(t)
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 3, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	ctx := t.Context()
	start := time.Now()
	prefix := uniquePrefix("rmw")
	cli := rawClient(t, c)

	setup := newNamespaceManager(t, c, "etcd", prefix, rmwNS)
	for k := range rmwCounters {
		require.NoError(t, setup.Set(rmwCounter(k), map[string]any{"n": 0, "id": "init"}))
	}
	require.NoError(t, setup.Persist(ctx))

	stats := &rmwStats{errs: make(map[string]int)}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var watchers sync.WaitGroup
	writers := make([]*rmwWriter, rmwWriters)
	for i := range writers {
		w := &rmwWriter{i: i, m: newNamespaceManager(t, c, "etcd", prefix, rmwNS), rnd: rand.New(rand.NewPCG(uint64(i), 10)), stats: stats}
		writers[i] = w
		if i%2 == 0 {
			events, err := w.m.Watch(watchCtx, rmwNS)
			require.NoError(t, err)
			watchers.Go(func() {
				for range events {
					stats.mu.Lock()
					stats.watchEvents++
					stats.mu.Unlock()
				}
			})
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, rmwWriters)
	for _, w := range writers {
		wg.Go(func() {
			for seq := range rmwOps {
				if err := w.op(ctx, seq); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	writing := time.Since(start)

	// The store's state now, and its complete history.
	resp, err := cli.Get(ctx, prefix+"/"+rmwNS+"/", clientv3.WithPrefix())
	require.NoError(t, err)
	stored := make(map[string]map[string]any)
	for _, kv := range resp.Kvs {
		var v map[string]any
		require.NoError(t, json.Unmarshal(kv.Value, &v), "value of %s", kv.Key)
		stored[strings.TrimPrefix(string(kv.Key), prefix+"/"+rmwNS+"/")] = normalizeJSON(v)
	}
	history := storeHistory(t, cli, prefix+"/"+rmwNS+"/")

	// Each counter's history is a chain: every write is the value before
	// it plus one, and names that value as its base.
	putOf := make(map[string]historyPut) // attempt id -> its put
	type link struct {
		n  int64
		id string
	}
	last := make(map[string]link)
	for _, p := range history {
		id, _ := p.value["id"].(string)
		n, _ := p.value["n"].(int64)
		if id == "init" {
			assert.Zero(t, n, "%s's first value", p.name)
			last[p.name] = link{0, "init"}
			continue
		}
		_, dup := putOf[id]
		assert.False(t, dup, "attempt %s written twice", id)
		putOf[id] = p
		prev, ok := last[p.name]
		if assert.True(t, ok, "%s written at revision %d before it was created", p.name, p.rev) {
			assert.Equal(t, prev.n+1, n, "%s at revision %d (attempt %s) is not the value before it (%d) plus one", p.name, p.rev, id, prev.n)
			assert.Equal(t, prev.id, p.value["based_on"], "%s at revision %d (attempt %s) is based on %v, not on the value before it (%s)", p.name, p.rev, id, p.value["based_on"], prev.id)
		}
		last[p.name] = link{n, id}
	}

	// Every attempt against the history.
	var lost, ackedPerCounter = 0, make(map[string]int64)
	var unknownApplied int
	for _, a := range stats.attempts {
		p, applied := putOf[a.id]
		switch a.outcome {
		case outcomeAck:
			ackedPerCounter[a.counter]++
			if !applied {
				lost++
				t.Errorf("LOST: attempt %s (%s = %d) was acknowledged but is not in the store's history", a.id, a.counter, a.n)
				continue
			}
			assert.Equal(t, a.counter, p.name, "attempt %s", a.id)
			assert.Equal(t, a.n, p.value["n"], "attempt %s's value in the history", a.id)
			if a.rev != 0 {
				assert.Equal(t, p.rev, a.rev, "GetRevision after attempt %s's Persist", a.id)
			}
		case outcomeConflict, outcomeFailed:
			assert.False(t, applied, "attempt %s failed (%v) but is in the history at revision %d", a.id, a.err, p.rev)
		case outcomeUnknown:
			if applied {
				unknownApplied++
				ackedPerCounter[a.counter]++
			}
		}
	}
	assert.Len(t, putOf, stats.acked+unknownApplied, "every write in the history is an attempt acknowledged or of unknown outcome")
	for k := range rmwCounters {
		name := rmwCounter(k)
		assert.Equal(t, ackedPerCounter[name], stored[name]["n"], "%s ends at the number of increments applied", name)
		assert.Equal(t, last[name].id, stored[name]["id"], "%s ends at the last write of its history", name)
	}

	// Every watching manager's view converges to the store.
	for _, w := range writers {
		if w.i%2 != 0 {
			continue
		}
		assert.Eventually(t, func() bool {
			all, err := w.m.GetAll()
			return err == nil && maps.EqualFunc(all, stored, func(a, b map[string]any) bool { return assert.ObjectsAreEqual(a, b) })
		}, 20*time.Second, 50*time.Millisecond, "writer %d's watched view equals the store", w.i)
	}
	stopWatch()
	watchers.Wait()

	counts := make([]string, 0, rmwCounters)
	for k := range rmwCounters {
		counts = append(counts, fmt.Sprintf("%s=%v", rmwCounter(k), stored[rmwCounter(k)]["n"]))
	}
	sort.Strings(counts)
	t.Logf("%d writers (%d watching) x %d increments on %d counters, 3-member cluster, %.1fs writing, %.1fs in all",
		rmwWriters, (rmwWriters+1)/2, rmwOps, rmwCounters, writing.Seconds(), time.Since(start).Seconds())
	t.Logf("Persist attempts %d: acknowledged %d, conflicts %d, unknown outcomes %d (applied %d), failed %d; lost %d",
		len(stats.attempts), stats.acked, stats.conflicts, stats.unknown, unknownApplied, stats.failed, lost)
	t.Logf("edits via Update %d, via GetRevision+SetIf %d (SetIf refused at once, view moved: %d); acknowledged revisions checked %d (%d already overtaken in the view); watch events %d; history writes %d; final %s",
		stats.viaUpdate, stats.viaSetIf, stats.setIfRefused, stats.revisionsSeen, stats.revisionsNotVisible, stats.watchEvents, len(putOf), strings.Join(counts, " "))
	for _, k := range slices.Sorted(maps.Keys(stats.errs)) {
		t.Logf("  error %4d x %s", stats.errs[k], k)
	}
	if stats.reloadRetries > 0 {
		t.Logf("Reload retried %d times", stats.reloadRetries)
	}
	assert.Zero(t, lost, "acknowledged writes lost")
	assert.Equal(t, int(rmwWriters*rmwOps), stats.acked, "every op acknowledged once")
}
