package etcd_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/changelog"
	"github.com/confo-go/confo/schema"
)

// The schema and change-record layers on a real etcd.

const portSchema = `{"type":"object","properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535}},"required":["host","port"]}`

// layeredManager returns a manager on c under prefix, with the schema and
// change-record layers, using namespace ns.
func layeredManager(t *testing.T, c *integration.Cluster, prefix, ns string, opts ...confo.Option) (*confo.Manager, *schema.Backend) {
	t.Helper()
	m := confo.New(append([]confo.Option{confo.WithLayers(schema.Layer(), changelog.Layer())}, opts...)...)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, credsFor(c, prefix)))
	require.NoError(t, m.ActivateBackend("etcd"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	b, err := m.Layered("etcd")
	require.NoError(t, err)
	s := schema.Of(b)
	require.NotNil(t, s)
	return m, s
}

func TestSchemaOnEtcd(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)

	t.Run("SetRefusedWithTheFieldsLocation", func(t *testing.T) {
		prefix := uniquePrefix("schema-set")
		m, s := layeredManager(t, c, prefix, "db")
		_, err := s.Set(t.Context(), "db", "mysql", []byte(portSchema))
		require.NoError(t, err)
		err = m.Set("mysql", map[string]any{"host": "db1", "port": "80a"})
		require.ErrorIs(t, err, confo.ErrInvalidValue)
		var ve *schema.ValidationError
		require.True(t, errors.As(err, &ve), "%v", err)
		require.Len(t, ve.Failures, 1)
		assert.Equal(t, "/port", ve.Failures[0].Pointer)
		assert.Equal(t, "got string, want integer", ve.Failures[0].Message)
		_, err = m.Get("mysql")
		require.ErrorIs(t, err, confo.ErrConfigNotFound, "nothing changed in the view")
	})

	t.Run("RawWriteQuarantined", func(t *testing.T) {
		prefix := uniquePrefix("schema-raw")
		running, s := layeredManager(t, c, prefix, "db")
		_, err := s.Set(t.Context(), "db", "mysql", []byte(portSchema))
		require.NoError(t, err)
		require.NoError(t, running.Set("mysql", map[string]any{"host": "db1", "port": 3306}))
		require.NoError(t, running.Persist(t.Context()))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		events, err := running.Watch(ctx, "db")
		require.NoError(t, err)

		key := etcd.NewFromClient(raw, etcd.Config{Prefix: prefix}).Key("db", "mysql")
		_, err = raw.Put(t.Context(), key, `{"host":"db1","port":"80a"}`) // as etcdctl would
		require.NoError(t, err)

		// The running service: told, keeps its last valid value.
		timeout := time.After(10 * time.Second)
		for got := false; !got; {
			select {
			case ev := <-events:
				if ev.Type == confo.EventProblem {
					require.ErrorIs(t, ev.Err, confo.ErrInvalidValue)
					assert.Contains(t, ev.Err.Error(), `"/port"`)
					got = true
				}
			case <-timeout:
				require.FailNow(t, "no EventProblem for the invalid value")
			}
		}
		v, err := running.Get("mysql")
		require.NoError(t, err)
		assert.EqualValues(t, 3306, v["port"], "the last valid value stays")
		require.Len(t, running.Problems("db"), 1)

		// A starting service: quarantined at load.
		starting, _ := layeredManager(t, c, prefix, "db")
		_, err = starting.Get("mysql")
		require.ErrorIs(t, err, confo.ErrInvalidValue, "no valid value to serve: the schema's error")
		problems := starting.Problems("db")
		require.Len(t, problems, 1)
		assert.Equal(t, "mysql", problems[0].Name)
		require.ErrorIs(t, problems[0].Err, confo.ErrInvalidValue)
	})

	t.Run("RecordsAuthorAndMessage", func(t *testing.T) {
		prefix := uniquePrefix("changelog")
		m, _ := layeredManager(t, c, prefix, "db", confo.WithAuthor("billing@host1"))
		require.NoError(t, m.Set("mysql", map[string]any{"host": "db1", "port": 3306}))
		require.NoError(t, m.Persist(confo.WithChangeInfo(t.Context(), confo.ChangeInfo{Author: "alice", Message: "first"})))
		require.NoError(t, m.Set("mysql", map[string]any{"host": "db1", "port": 3307}))
		require.NoError(t, m.Persist(t.Context()))

		b := etcd.NewFromClient(raw, etcd.Config{Prefix: prefix})
		records, err := changelog.Records(t.Context(), b, "db", "mysql")
		require.NoError(t, err)
		history, err := m.History(t.Context(), "db", "mysql")
		require.NoError(t, err)
		require.Len(t, history, 2)
		for i, want := range []struct{ author, message string }{{"billing@host1", ""}, {"alice", "first"}} {
			r, ok := changelog.MatchRevision(records, "mysql", history[i].Revision)
			require.True(t, ok, "a record for revision %d", history[i].Revision)
			assert.Equal(t, want.author, r.Author)
			assert.Equal(t, want.message, r.Message)
		}
		// The record is in the same transaction: one revision for both.
		resp, err := raw.Get(t.Context(), b.MetaKey("db", records[0].Key))
		require.NoError(t, err)
		assert.Equal(t, history[0].Revision, resp.Kvs[0].ModRevision)
	})
}

// TestSchemaRacesPersist changes a schema back and forth between two that
// accept disjoint ports while two managers on a 3-member cluster persist
// random ports, and then replays the store's history: no value ever entered
// the store that the schema in force at that revision refuses.
func TestSchemaRacesPersist(t *testing.T) {
	integration.BeforeTestExternal(t)
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 3, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	prefix := uniquePrefix("race")
	low := `{"type":"object","properties":{"port":{"type":"integer","maximum":999}}}`
	high := `{"type":"object","properties":{"port":{"type":"integer","minimum":1000}}}`

	newManager := func(member int) (*confo.Manager, *schema.Backend) { return schemaManager(t, c, member, prefix) }
	_, admin := newManager(0)
	_, err := admin.Set(t.Context(), "db", "mysql", []byte(low))
	require.NoError(t, err)
	start := storeRev(t, c)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var persisted, refused, conflicts, unknown atomic.Int64
	for w := range 2 {
		m, _ := newManager(1 + w)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; i < 60 && ctx.Err() == nil; i++ {
				port := 1 + rng.IntN(1998) // either side of 1000
				if err := m.Set("mysql", map[string]any{"port": port}); err != nil {
					refused.Add(1)
					continue
				}
				err, ok := persistRacing(ctx, t, m)
				switch {
				case !ok:
					return
				case err == nil:
					persisted.Add(1)
				case errors.Is(err, confo.ErrConflict):
					conflicts.Add(1)
				case transient(err):
					unknown.Add(1) // may have been applied
				}
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(7, 7))
		for i := 0; i < 40 && ctx.Err() == nil; i++ {
			doc := low
			if i%2 == 0 {
				doc = high
			}
			op, cancel := opContext(ctx)
			_, err := admin.Set(op, "db", "mysql", []byte(doc), schema.Force())
			cancel()
			if err != nil && !errors.Is(err, confo.ErrConflict) && !transient(err) {
				t.Errorf("schema set: %v", err)
				return
			}
			time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
		}
	})
	wg.Wait()
	t.Logf("persisted %d, refused by Set %d, conflicts %d", persisted.Load(), refused.Load(), conflicts.Load())
	require.Positive(t, persisted.Load(), "the race wrote something")

	// Replay the store's history of the schema and the configuration.
	b := etcd.NewFromClient(c.Client(0), etcd.Config{Prefix: prefix})
	schemaKey, configKey := b.MetaKey("db", schema.Key("mysql")), b.Key("db", "mysql")
	resp, err := c.Client(0).Get(t.Context(), configKey, clientv3.WithRev(start))
	require.NoError(t, err)
	require.Empty(t, resp.Kvs, "no configuration before the race")
	minimum := 0 // the schema in force: low (maximum 999) first
	checked := 0
	replayPuts(t, c, prefix, start, func(key string, value []byte, rev int64) {
		switch key {
		case schemaKey:
			minimum = 0
			if string(value) == high {
				minimum = 1000
			}
		case configKey:
			var v struct{ Port int }
			require.NoError(t, json.Unmarshal(value, &v))
			if minimum == 1000 {
				require.GreaterOrEqual(t, v.Port, 1000, "revision %d: port %d entered under the schema minimum 1000", rev, v.Port)
			} else {
				require.LessOrEqual(t, v.Port, 999, "revision %d: port %d entered under the schema maximum 999", rev, v.Port)
			}
			checked++
		}
	})
	assert.GreaterOrEqual(t, int64(checked), persisted.Load(), "every persisted value replayed")
	assert.LessOrEqual(t, int64(checked), persisted.Load()+unknown.Load(), "no value replayed that was not persisted (or timed out)")
}

// schemaManager returns a manager with the schema layer, connected to
// member of c only, using namespace "db" under prefix, and its layer.
func schemaManager(t *testing.T, c *integration.Cluster, member int, prefix string) (*confo.Manager, *schema.Backend) {
	t.Helper()
	m := memberManager(t, c, member, prefix, "db", confo.WithLayers(schema.Layer()))
	b, err := m.Layered("etcd")
	require.NoError(t, err)
	return m, schema.Of(b)
}

// persistRacing persists m in a race test. It returns nil when m wrote,
// or the error of a Persist the race refused (ErrConflict,
// ErrInvalidValue) or a loaded cluster failed (see transient) after
// reloading m, so that the store says what it holds; ok is false when the
// test must stop (another error, reported, or a store that does not
// answer a Reload). Persist and Reload run in opContext: the test's own
// deadline never cuts them short.
func persistRacing(ctx context.Context, t *testing.T, m *confo.Manager) (err error, ok bool) {
	op, cancel := opContext(ctx)
	defer cancel()
	switch err := m.Persist(op); {
	case err == nil:
		return nil, true
	case errors.Is(err, confo.ErrConflict), errors.Is(err, confo.ErrInvalidValue), transient(err):
		for {
			rerr := m.Reload(op)
			switch {
			case rerr == nil:
				return err, true
			case !transient(rerr):
				t.Errorf("reload: %v", rerr)
				return err, false
			case op.Err() != nil:
				t.Errorf("reload: the store did not answer: %v", rerr)
				return err, false
			}
			time.Sleep(10 * time.Millisecond)
		}
	default:
		t.Errorf("persist: %v", err)
		return err, false
	}
}

// opContext returns the context of one store operation of a race test: not
// ended by the test's deadline (an operation cut short may or may not have
// been applied, and the replay would count what the test could not), but
// bounded.
func opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}

// transient reports an error of a 3-member cluster on a loaded machine
// (a leader election, a request timed out) that a race test rides out:
// the invariants it checks are on the store's history.
func transient(err error) bool {
	for _, e := range []error{
		confo.ErrOutcomeUnknown, context.DeadlineExceeded, rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTimeout,
		rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTooManyRequests,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// replayPuts calls put for every put under prefix after revision start, in
// order, up to the cluster's current revision.
func replayPuts(t *testing.T, c *integration.Cluster, prefix string, start int64, put func(key string, value []byte, rev int64)) {
	t.Helper()
	end := storeRev(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for wr := range c.Client(0).Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(start+1)) {
		require.NoError(t, wr.Err())
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.PUT {
				put(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
			}
		}
		// The header says where the store is, not how far the events
		// reached: history comes in several responses.
		if n := len(wr.Events); n > 0 && wr.Events[n-1].Kv.ModRevision >= end {
			return
		}
	}
	t.Fatalf("the replay ended before revision %d: %v", end, ctx.Err())
}

// storeRev returns the cluster's current revision.
func storeRev(t *testing.T, c *integration.Cluster) int64 {
	t.Helper()
	resp, err := c.Client(0).Get(t.Context(), "/")
	require.NoError(t, err)
	return resp.Header.Revision
}
