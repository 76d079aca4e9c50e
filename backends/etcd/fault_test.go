package etcd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"
	"go.uber.org/zap"

	"github.com/confo-go/confo"
)

// The fault test runs a stream of guarded Persists from several managers
// against a 3-member cluster while members are stopped, partitioned and
// quorum is lost, then checks every outcome against the store's complete
// history (a watch from revision 1): an acknowledged Persist is in the
// store, a failed one wrote nothing, an unknown one wrote all or nothing
// and a Reload tells which, no value mixes two writes, and no guarded
// update of the shared configuration was lost.

const (
	faultManagers = 4 // writing managers
	faultOwn      = 4 // configurations each manager alone writes
	faultNS       = "orders"
	faultPrefix   = "/fault"
	faultShared   = "shared" // written by every manager, with the guard
)

// outcome classifies one Persist call.
type outcome int

const (
	outcomeAck      outcome = iota // returned nil
	outcomeConflict                // ErrConflict: the guard refused it
	outcomeFailed                  // another error whose outcome is known: nothing written
	outcomeUnknown                 // the store may or may not have applied it
)

// attempt is one Persist call: the values it carried, by configuration,
// and what came of it.
type attempt struct {
	id      string // "<manager>.<op>.<try>", in every value it wrote
	values  map[string]map[string]any
	outcome outcome
	err     error
	// resolved is, for an unknown outcome, what the Reload after it
	// showed: applied or not.
	resolved, applied bool
}

// unknownOutcome reports whether err leaves the outcome of a Commit unknown:
// the transaction may have been applied although the call failed.
func unknownOutcome(err error) bool {
	return errors.Is(err, confo.ErrOutcomeUnknown)
}

// faultLog collects the attempts of every manager.
type faultLog struct {
	mu       sync.Mutex
	attempts map[string]*attempt
	errs     map[string]int // error texts (endpoints and revisions cut), counted
}

func (l *faultLog) add(a *attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts[a.id] = a
	if a.err != nil {
		l.errs[errorKind(a.err)]++
	}
}

// errorKind shortens an error to what kind it is, for the summary.
func errorKind(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && !errors.Is(err, confo.ErrConflict) {
		s = s[i+2:]
	}
	switch {
	case errors.Is(err, confo.ErrConflict):
		return "conflict"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	}
	return s
}

// ownName is the name of configuration k owned by manager i.
func ownName(i, k int) string { return fmt.Sprintf("own-%d-%d", i, k) }

// faultWriter is one manager writing in a loop.
type faultWriter struct {
	i   int
	m   *confo.Manager
	rnd *rand.Rand
	log *faultLog
	t   *testing.T
}

// reload reloads until it succeeds or ctx ends.
func (w *faultWriter) reload(ctx context.Context) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		err := w.m.Reload(rctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// op writes a random set of the manager's own configurations and, every
// other time, the shared one, trying until the change is acknowledged, or
// known to be applied or refused. It returns false when ctx ended first.
func (w *faultWriter) op(ctx context.Context, seq int) bool {
	own := w.rnd.Perm(faultOwn)[:1+w.rnd.IntN(3)]
	withShared := w.rnd.IntN(2) == 0
	basedOn := "" // the shared value this op is based on
	if cur, err := w.m.Get(faultShared); err == nil {
		basedOn, _ = cur["id"].(string)
	}
	var earlier []*attempt // unknown outcomes of this op, unresolved
	for try := 0; ; try++ {
		if ctx.Err() != nil {
			return false
		}
		a := &attempt{id: fmt.Sprintf("%d.%d.%d", w.i, seq, try), values: make(map[string]map[string]any)}
		for _, k := range own {
			a.values[ownName(w.i, k)] = map[string]any{"writer": int64(w.i), "id": a.id, "a": a.id, "b": a.id, "seq": int64(seq)}
		}
		if withShared {
			a.values[faultShared] = map[string]any{"writer": int64(w.i), "id": a.id, "based_on": basedOn, "x": a.id, "y": a.id}
		}
		for name, v := range a.values {
			require.NoError(w.t, w.m.Set(name, v))
		}
		pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		err := w.m.Persist(pctx)
		cancel()
		a.err = err
		switch {
		case err == nil:
			a.outcome = outcomeAck
		case errors.Is(err, confo.ErrConflict):
			a.outcome = outcomeConflict
		case unknownOutcome(err):
			a.outcome = outcomeUnknown
		default:
			a.outcome = outcomeFailed
		}
		w.log.add(a)

		switch a.outcome {
		case outcomeAck:
			// The guard held: no earlier attempt of this op was applied.
			for _, e := range earlier {
				e.resolved, e.applied = true, false
			}
			return true
		case outcomeFailed:
			time.Sleep(50 * time.Millisecond)
			continue // the changes are still in memory: retry
		}
		// A conflict or an unknown outcome: the store decides. Reload and
		// look at the first own configuration of this op, which only this
		// manager writes.
		earlier = append(earlier, a)
		if err := w.reload(ctx); err != nil {
			return false
		}
		probe := ownName(w.i, own[0])
		var storedID string
		if v, err := w.m.Get(probe); err == nil {
			storedID, _ = v["id"].(string)
		}
		applied := false
		for _, e := range earlier {
			if e.outcome == outcomeUnknown {
				e.resolved, e.applied = true, e.id == storedID
				applied = applied || e.applied
			}
		}
		if applied || a.outcome == outcomeConflict {
			return true // done, or refused by the guard: next op on the reloaded view
		}
		// Not applied: the reload discarded the changes; set them again.
		if cur, err := w.m.Get(faultShared); err == nil {
			basedOn, _ = cur["id"].(string)
		} else {
			basedOn = ""
		}
	}
}

// TestFaultsThreeMemberCluster is the fault test described above. It logs
// the figures RELIABILITY.md reports.
func TestFaultsThreeMemberCluster(t *testing.T) {
	integration.BeforeTestExternal(t)
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 3, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	ctx := t.Context()
	creds := confo.Credentials{"endpoints": c.Endpoints(), "prefix": faultPrefix, "dial_timeout": "2s"}

	newManager := func() *confo.Manager {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.CreateNamespace(ctx, faultNS))
		require.NoError(t, m.UseNamespace(ctx, faultNS))
		return m
	}

	// An observer watches the namespace throughout, when the backend can.
	observer := newManager()
	b, err := observer.Backend("etcd")
	require.NoError(t, err)
	var watchDone chan struct{}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if _, ok := b.(confo.Watcher); ok {
		events, err := observer.Watch(watchCtx, faultNS)
		require.NoError(t, err)
		watchDone = make(chan struct{})
		go func() {
			defer close(watchDone)
			for range events {
			}
		}()
	} else {
		t.Log("the etcd backend does not implement confo.Watcher: watcher part skipped")
	}

	log := &faultLog{attempts: make(map[string]*attempt), errs: make(map[string]int)}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	writers := make([]*faultWriter, faultManagers)
	var wg sync.WaitGroup
	var stopping atomic.Bool
	ops := make([]int, faultManagers)
	for i := range writers {
		writers[i] = &faultWriter{i: i, m: newManager(), rnd: rand.New(rand.NewPCG(uint64(i), 1)), log: log, t: t}
		wg.Go(func() {
			for seq := 0; !stopping.Load() && writers[i].op(workCtx, seq); seq++ {
				ops[i]++
			}
		})
	}

	// The faults, one after the other, with time to recover between them.
	start := time.Now()
	var faults []string
	fault := func(what string) {
		faults = append(faults, what)
		t.Logf("%5.1fs fault: %s", time.Since(start).Seconds(), what)
	}
	time.Sleep(3 * time.Second)

	lead := c.WaitLeader(t)
	fault(fmt.Sprintf("stop the leader (member %d)", lead))
	c.Members[lead].Stop(t)
	time.Sleep(3 * time.Second)
	require.NoError(t, c.Members[lead].Restart(t))
	c.WaitLeader(t)
	time.Sleep(2 * time.Second)

	lead = c.WaitLeader(t)
	others := slices.DeleteFunc(slices.Clone(c.Members), func(m *integration.Member) bool { return m == c.Members[lead] })
	fault(fmt.Sprintf("isolate the leader (member %d) from its peers", lead))
	c.Members[lead].InjectPartition(t, others...)
	time.Sleep(4 * time.Second)
	c.Members[lead].RecoverPartition(t, others...)
	c.WaitLeader(t)
	time.Sleep(2 * time.Second)

	lead = c.WaitLeader(t)
	follower := (lead + 1) % 3
	fault(fmt.Sprintf("isolate a follower (member %d)", follower))
	others = slices.DeleteFunc(slices.Clone(c.Members), func(m *integration.Member) bool { return m == c.Members[follower] })
	c.Members[follower].InjectPartition(t, others...)
	time.Sleep(3 * time.Second)
	c.Members[follower].RecoverPartition(t, others...)
	c.WaitLeader(t)
	time.Sleep(2 * time.Second)

	lead = c.WaitLeader(t)
	down := []int{lead, (lead + 1) % 3}
	fault(fmt.Sprintf("lose quorum: stop members %d (leader) and %d", down[0], down[1]))
	for _, i := range down {
		c.Members[i].Stop(t)
	}
	time.Sleep(3 * time.Second)
	for _, i := range down {
		require.NoError(t, c.Members[i].Restart(t))
	}
	c.WaitLeader(t)
	t.Logf("%5.1fs healthy again", time.Since(start).Seconds())
	time.Sleep(4 * time.Second) // work on the healed cluster

	// Stop: each writer finishes its current op, whose retries now
	// succeed, within a bound.
	stopAt := time.Now()
	stopping.Store(true)
	overrun := time.AfterFunc(20*time.Second, stopWork)
	wg.Wait()
	overrun.Stop()
	require.NoError(t, workCtx.Err(), "writers did not finish their ops within 20s of recovery")
	t.Logf("%5.1fs writers stopped (%.1fs to finish their ops)", time.Since(start).Seconds(), time.Since(stopAt).Seconds())

	// Retries after recovery succeed: every writer reloads and persists a
	// change on the first try.
	for i, w := range writers {
		require.NoError(t, w.reload(ctx))
		for k := range faultOwn {
			require.NoError(t, w.m.SetField(ownName(i, k), "final", true))
		}
		require.NoError(t, w.m.Persist(ctx), "persist after recovery, manager %d", i)
	}

	// The store's complete history.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	history := storeHistory(t, cli, faultPrefix+"/"+faultNS+"/")

	// Check every attempt against the history.
	var tried, acked, conflicts, failed, unknown, unknownApplied, unresolved, lost int
	putsOf := make(map[string][]historyPut) // attempt id -> its puts
	for _, p := range history {
		if id, ok := p.value["id"].(string); ok && p.value["final"] == nil {
			putsOf[id] = append(putsOf[id], p)
		}
	}
	for id, a := range log.attempts {
		tried++
		puts := putsOf[id]
		// No value mixes two writes: each put is exactly a value of its
		// attempt, and the attempt wrote all of its values at one
		// revision, or none.
		for _, p := range puts {
			want, ok := a.values[p.name]
			if assert.True(t, ok, "attempt %s did not write %s", id, p.name) {
				assert.Equal(t, want, p.value, "%s at revision %d is attempt %s's value", p.name, p.rev, id)
			}
			assert.Equal(t, puts[0].rev, p.rev, "attempt %s wrote at two revisions", id)
		}
		applied := len(puts) > 0
		if applied {
			assert.Len(t, puts, len(a.values), "attempt %s wrote part of its batch", id)
		}
		switch a.outcome {
		case outcomeAck:
			acked++
			if !applied {
				lost++
				t.Errorf("LOST: attempt %s was acknowledged but is not in the store's history", id)
			}
		case outcomeConflict:
			conflicts++
			assert.False(t, applied, "attempt %s failed with a conflict but wrote: %v", id, a.err)
		case outcomeFailed:
			failed++
			assert.False(t, applied, "attempt %s failed (%v) but wrote", id, a.err)
		case outcomeUnknown:
			unknown++
			if applied {
				unknownApplied++
			}
			if !a.resolved {
				unresolved++
				continue
			}
			assert.Equal(t, applied, a.applied, "the reload after attempt %s (%v) showed applied=%v, history says %v", id, a.err, a.applied, applied)
		}
	}

	// The guard: every write of the shared configuration was based on the
	// value just before it, so no acknowledged update was overwritten
	// unseen.
	prev := ""
	sharedWrites := 0
	for _, p := range history {
		if p.name != faultShared {
			continue
		}
		sharedWrites++
		assert.Equal(t, prev, p.value["based_on"], "shared write %s at revision %d is based on %q, not on the value before it", p.value["id"], p.rev, p.value["based_on"])
		prev, _ = p.value["id"].(string)
	}

	// The store ends with each manager's last applied write of each own
	// configuration, and every manager's view equals the store.
	last := make(map[string]map[string]any)
	for _, p := range history {
		last[p.name] = p.value
	}
	for i, w := range writers {
		all, err := w.m.GetAll()
		require.NoError(t, err)
		for k := range faultOwn {
			name := ownName(i, k)
			assert.Equal(t, last[name], all[name], "manager %d's view of %s", i, name)
		}
	}
	resp, err := cli.Get(ctx, faultPrefix+"/"+faultNS+"/", clientv3.WithPrefix())
	require.NoError(t, err)
	stored := make(map[string]map[string]any)
	for _, kv := range resp.Kvs {
		var v map[string]any
		require.NoError(t, json.Unmarshal(kv.Value, &v), "value of %s", kv.Key)
		stored[strings.TrimPrefix(string(kv.Key), faultPrefix+"/"+faultNS+"/")] = normalizeJSON(v)
	}
	assert.Equal(t, last, stored, "the store holds the last write of each configuration")

	// Watchers converge: the observer's view reaches the store's content.
	if watchDone != nil {
		assert.Eventually(t, func() bool {
			all, err := observer.GetAll()
			return err == nil && maps.EqualFunc(all, stored, func(a, b map[string]any) bool { return assert.ObjectsAreEqual(a, b) })
		}, 15*time.Second, 100*time.Millisecond, "the watching manager's view converges to the store")
		stopWatch()
		<-watchDone
	}

	var opsDone int
	for _, n := range ops {
		opsDone += n
	}
	t.Logf("faults injected: %d (%s)", len(faults), strings.Join(faults, "; "))
	t.Logf("ops completed %d; Persist calls tried %d: acknowledged %d, conflicts %d (guard), failed %d (known not written), unknown %d (applied %d, not applied %d, unresolved %d); lost %d",
		opsDone, tried, acked, conflicts, failed, unknown, unknownApplied, unknown-unknownApplied-unresolved, unresolved, lost)
	t.Logf("shared configuration writes in history: %d, every one based on the value before it", sharedWrites)
	kinds := slices.Sorted(maps.Keys(log.errs))
	for _, k := range kinds {
		t.Logf("  error %4d x %s", log.errs[k], k)
	}
	assert.Zero(t, lost, "acknowledged writes lost")
	assert.Positive(t, acked)
}

// historyPut is one put of a configuration in the store's history.
type historyPut struct {
	name  string
	rev   int64
	value map[string]any
}

// storeHistory returns every put under prefix since revision 1, in order.
func storeHistory(t *testing.T, cli *clientv3.Client, prefix string) []historyPut {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	newest, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(1))
	require.NoError(t, err)
	require.NotEmpty(t, newest.Kvs)
	end := newest.Kvs[0].ModRevision
	var puts []historyPut
	for wr := range cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(1)) {
		require.NoError(t, wr.Err())
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				var v map[string]any
				require.NoError(t, json.Unmarshal(ev.Kv.Value, &v), "value of %s at revision %d", ev.Kv.Key, ev.Kv.ModRevision)
				puts = append(puts, historyPut{name: strings.TrimPrefix(string(ev.Kv.Key), prefix), rev: ev.Kv.ModRevision, value: normalizeJSON(v)})
			}
		}
		if n := len(wr.Events); n > 0 && wr.Events[n-1].Kv.ModRevision >= end {
			return puts // a revision's events come in one response
		}
	}
	t.Fatalf("the history watch ended before revision %d", end)
	return puts
}

// normalizeJSON turns encoding/json's float64 numbers into the int64 the
// Manager reads back, for the whole numbers this test writes.
func normalizeJSON(v map[string]any) map[string]any {
	for k, x := range v {
		if f, ok := x.(float64); ok && f == float64(int64(f)) {
			v[k] = int64(f)
		}
	}
	return v
}
