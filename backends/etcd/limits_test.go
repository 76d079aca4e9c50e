package etcd_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework/integration"
	"google.golang.org/grpc"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// countingManager returns a manager whose active backend is a counting
// backend on c under prefix, with namespace ns created and in use.
func countingManager(t *testing.T, c *integration.Cluster, prefix, ns string, limits etcd.Config) (*confo.Manager, *rpcCounter) {
	t.Helper()
	rc := &rpcCounter{}
	cfg := limits
	cfg.Endpoints, cfg.Prefix = c.Endpoints(), prefix
	cfg.DialOptions = append(cfg.DialOptions, grpc.WithChainUnaryInterceptor(rc.intercept))
	b, err := etcd.New(t.Context(), cfg)
	require.NoError(t, err)
	m := managerOf(t, b, ns)
	rc.txn.Store(0)
	rc.rng.Store(0)
	return m, rc
}

// TestLimits checks the etcd request limits: what cannot fit is refused
// before anything is sent, what fits several transactions is split.
func TestLimits(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)
	ctx := t.Context()

	t.Run("ValueTooLarge", func(t *testing.T) {
		m, rc := countingManager(t, c, uniquePrefix("large"), "app", etcd.Config{})
		require.NoError(t, m.Set("small", map[string]any{"a": 1}))
		big := strings.Repeat("x", etcd.DefaultMaxRequestBytes) // 1.5 MiB of field alone
		require.NoError(t, m.Set("blob", map[string]any{"data": big}))

		err := m.Persist(ctx)
		require.ErrorIs(t, err, confo.ErrValueTooLarge)
		assert.Contains(t, err.Error(), `"blob"`)
		assert.Contains(t, err.Error(), `"app"`)
		assert.NotContains(t, err.Error(), "xxxxxxxx", "the value is not in the message")
		assert.Zero(t, rc.txn.Load()+rc.rng.Load(), "nothing was sent")
		t.Log(err)

		// The refusal keeps the change; removing it lets the rest through.
		_, err = m.Get("blob")
		require.NoError(t, err)
		require.NoError(t, m.Delete("blob"))
		require.NoError(t, m.Persist(ctx))
		assert.EqualValues(t, 1, rc.txn.Load())
	})

	t.Run("JustUnderTheLimit", func(t *testing.T) {
		prefix := uniquePrefix("fits")
		m, _ := countingManager(t, c, prefix, "app", etcd.Config{})
		b, err := m.Backend("etcd")
		require.NoError(t, err)
		limit := b.(confo.BatchLimiter).BatchLimits().MaxBytes
		// {"data":"..."} is 11 bytes around the string, plus the name.
		data := strings.Repeat("y", limit-len(`{"data":""}`)-len("edge"))
		require.NoError(t, m.Set("edge", map[string]any{"data": data}))
		require.NoError(t, m.Persist(ctx), "a configuration of exactly MaxBytes (%d) is sent and accepted", limit)
		stored, ok := etcdValue(t, raw, prefix+"/app/edge")
		require.True(t, ok)
		assert.Len(t, stored, limit-len("edge"))
	})

	t.Run("ManyConfigurationsSeveralTransactions", func(t *testing.T) {
		prefix := uniquePrefix("many")
		const n = 300
		m, rc := countingManager(t, c, prefix, "app", etcd.Config{})
		for i := range n {
			require.NoError(t, m.Set(fmt.Sprintf("c%03d", i), map[string]any{"i": i}))
		}
		require.NoError(t, m.Persist(ctx))
		want := (n + etcd.DefaultMaxTxnOps - 1) / etcd.DefaultMaxTxnOps
		assert.EqualValues(t, want, rc.txn.Load(), "%d configurations in ceil(%d/%d) transactions", n, n, etcd.DefaultMaxTxnOps)
		resp, err := raw.Get(ctx, prefix+"/app/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		assert.EqualValues(t, n, resp.Count)

		other := newNamespaceManager(t, c, "other", prefix, "app")
		all, err := other.GetAll()
		require.NoError(t, err)
		require.Len(t, all, n)
		assert.Equal(t, map[string]any{"i": int64(299)}, all["c299"])
	})

	t.Run("ManyLargeConfigurationsSplitByBytes", func(t *testing.T) {
		prefix := uniquePrefix("bytes")
		m, rc := countingManager(t, c, prefix, "app", etcd.Config{})
		const n, size = 7, 400 << 10 // 2.8 MiB in all, 400 KiB each
		for i := range n {
			require.NoError(t, m.Set(fmt.Sprintf("c%02d", i), map[string]any{"data": strings.Repeat(string(rune('a'+i)), size)}))
		}
		require.NoError(t, m.Persist(ctx))
		assert.GreaterOrEqual(t, rc.txn.Load(), int64(3), "at most 3 fit one 1.5 MiB request")
		t.Logf("%d configurations of %d KiB: %d transactions", n, size>>10, rc.txn.Load())
		for i := range n {
			stored, ok := etcdValue(t, raw, fmt.Sprintf("%s/app/c%02d", prefix, i))
			require.True(t, ok)
			assert.Len(t, stored, size+len(`{"data":""}`))
		}
	})

	t.Run("TxnCount", func(t *testing.T) {
		ctx := t.Context()
		prefix := uniquePrefix("txn")
		b, rc := countingBackend(t, c, prefix)
		m := managerOf(t, b, "big")

		const n = 1000
		for i := range n {
			require.NoError(t, m.Set(fmt.Sprintf("config-%04d", i), map[string]any{"i": i, "host": "db.example"}))
		}
		rc.txn.Store(0)
		rc.rng.Store(0)
		require.NoError(t, m.Persist(ctx))
		wantTxns := (n + etcd.DefaultMaxTxnOps - 1) / etcd.DefaultMaxTxnOps
		assert.EqualValues(t, wantTxns, rc.txn.Load(), "transactions for %d configurations", n)
		assert.Zero(t, rc.rng.Load())
		t.Logf("persist of %d configurations: %d Txn RPCs", n, rc.txn.Load())

		resp, err := raw.Get(ctx, prefix+"/big/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		assert.EqualValues(t, n, resp.Count)

		rc.txn.Store(0)
		for i := range 10 {
			require.NoError(t, m.SetField(fmt.Sprintf("config-%04d", i*97), "changed", true))
		}
		require.NoError(t, m.Persist(ctx))
		assert.EqualValues(t, 1, rc.txn.Load(), "10 changed configurations")

		rc.txn.Store(0)
		require.NoError(t, m.Persist(ctx))
		assert.Zero(t, rc.txn.Load(), "nothing changed")

		// Reading the namespace back: one transaction, no further page.
		rc.txn.Store(0)
		rc.rng.Store(0)
		require.NoError(t, m.Reload(ctx))
		assert.EqualValues(t, 1, rc.txn.Load())
		assert.Zero(t, rc.rng.Load())
		count, err := m.ConfigCount()
		require.NoError(t, err)
		assert.Equal(t, n, count)

		// With pages of 300 keys: the transaction and three more pages, all
		// at the transaction's revision.
		paged, prc := countingBackend(t, c, prefix)
		t.Cleanup(func() { paged.Close() })
		paged2 := etcd.NewFromClient(paged.Client(), etcd.Config{Prefix: prefix, PageSize: 300})
		snap, err := paged2.Load(ctx, "big")
		require.NoError(t, err)
		assert.Len(t, snap.Entries, n)
		assert.EqualValues(t, 1, prc.txn.Load())
		assert.EqualValues(t, 3, prc.rng.Load())
		for name, e := range snap.Entries {
			assert.LessOrEqual(t, e.Revision, snap.Revision, name)
		}
	})

	t.Run("BatchBytes", func(t *testing.T) {
		// Values big enough that the byte limit, not the op limit, splits
		// the batches: every batch must still be accepted by etcd.
		ctx := t.Context()
		prefix := uniquePrefix("bytes")
		b, rc := countingBackend(t, c, prefix)
		m := managerOf(t, b, "big")
		blob := strings.Repeat("x", 300_000)
		for i := range 10 {
			require.NoError(t, m.Set(fmt.Sprintf("blob-%02d", i), map[string]any{"data": blob}))
		}
		rc.txn.Store(0)
		require.NoError(t, m.Persist(ctx))
		assert.Greater(t, rc.txn.Load(), int64(1))
		t.Logf("persist of 10 x 300 kB: %d Txn RPCs, limits %+v", rc.txn.Load(), b.BatchLimits())

		// One value over the limit is refused before anything is sent.
		rc.txn.Store(0)
		require.NoError(t, m.Set("huge", map[string]any{"data": strings.Repeat("x", etcd.DefaultMaxRequestBytes)}))
		require.ErrorIs(t, m.Persist(ctx), confo.ErrValueTooLarge)
		assert.Zero(t, rc.txn.Load())
	})

	t.Run("BatchLimits", func(t *testing.T) {
		limits := etcd.NewFromClient(raw, etcd.Config{}).BatchLimits()
		assert.Equal(t, etcd.DefaultMaxTxnOps, limits.MaxOps)
		assert.Greater(t, limits.MaxBytes, etcd.DefaultMaxRequestBytes*8/10)
		assert.Less(t, limits.MaxBytes, etcd.DefaultMaxRequestBytes)

		// A small --max-request-bytes lowers the op count, not the bytes
		// of one value below half the request.
		small := etcd.NewFromClient(raw, etcd.Config{MaxRequestBytes: 64 << 10}).BatchLimits()
		assert.Less(t, small.MaxOps, etcd.DefaultMaxTxnOps)
		assert.Positive(t, small.MaxOps)
		assert.GreaterOrEqual(t, small.MaxBytes, 28<<10)
		t.Logf("default %+v, 64 KiB requests %+v", limits, small)
	})
}

// TestReloadHundredThousand loads a namespace of 100,000 configurations and
// checks that it is read in pages (one transaction for the first, one range
// per further page) at one revision. It logs the heap it took; the figure
// is reported, not asserted.
func TestReloadHundredThousand(t *testing.T) {
	c := newCluster(t)
	raw := rawClient(t, c)
	ctx := t.Context()
	prefix := uniquePrefix("100k")
	const n = 100_000

	// Written as another tool would, 128 keys per transaction, 4 writers.
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	const batch = 128
	for range 4 {
		wg.Go(func() {
			for {
				first := int(next.Add(batch)) - batch
				if first >= n {
					return
				}
				var ops []clientv3.Op
				for i := first; i < min(first+batch, n); i++ {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s/big/c%06d", prefix, i), fmt.Sprintf(`{"i":%d,"host":"h%d.example.com","port":5432}`, i, i)))
				}
				_, err := raw.Txn(ctx).Then(ops...).Commit()
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	_, err := raw.Put(ctx, prefix+"//big", "")
	require.NoError(t, err)
	t.Logf("wrote %d configurations in %v", n, time.Since(start).Round(time.Millisecond))

	const page = 1000
	m, rc := countingManager(t, c, prefix, "setup", etcd.Config{PageSize: page})

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // rough peak: sample the heap while loading
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start = time.Now()
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = m.UseNamespace(lctx, "big")
	elapsed := time.Since(start)
	close(done)
	<-sampled
	require.NoError(t, err)

	count, err := m.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, n, count)
	v, err := m.Get("c099999")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"i": int64(99999), "host": "h99999.example.com", "port": int64(5432)}, v)

	pages := (n + page - 1) / page
	assert.EqualValues(t, 1, rc.txn.Load(), "the first page comes with the marker in one transaction")
	assert.EqualValues(t, pages-1, rc.rng.Load(), "one range request per further page of %d", page)

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rawBytes := n * len(`{"i":99999,"host":"h99999.example.com","port":5432}`)
	t.Logf("loaded %d configurations (~%.1f MiB of values) in %v: %d range requests of %d keys after the first transaction; heap in use before %.1f MiB, peak while loading %.1f MiB (+%.1f MiB), after %.1f MiB",
		n, float64(rawBytes)/(1<<20), elapsed.Round(time.Millisecond), rc.rng.Load(), page,
		float64(base.HeapInuse)/(1<<20), float64(peak.Load())/(1<<20), float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), float64(after.HeapInuse)/(1<<20))
}

// TestSmallRequestLimit persists worst-case batches (the longest namespace
// and configuration names) to a cluster whose --max-request-bytes is 64 KiB:
// the batch limits must keep every transaction within it.
func TestSmallRequestLimit(t *testing.T) {
	const limit = 64 << 10
	integration.BeforeTestExternal(t)
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 1, UseTCP: true, MaxRequestBytes: limit})
	t.Cleanup(func() { c.Terminate(t) })
	ctx := t.Context()

	m := confo.New()
	t.Cleanup(func() { m.Close() })
	creds := credsFor(c, "/small")
	creds["max_request_bytes"] = limit
	require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds))
	require.NoError(t, m.ActivateBackend("etcd"))
	ns := strings.Repeat("n", confo.MaxNameLen)
	require.NoError(t, m.CreateNamespace(ctx, ns))
	require.NoError(t, m.UseNamespace(ctx, ns))

	for i := range 300 {
		name := fmt.Sprintf("%03d%s", i, strings.Repeat("c", confo.MaxNameLen-3))
		require.NoError(t, m.Set(name, map[string]any{"v": strings.Repeat("x", 100+i)}))
	}
	require.NoError(t, m.Set("big", map[string]any{"v": strings.Repeat("x", 30_000)}))
	require.NoError(t, m.Persist(ctx))

	fresh := confo.New()
	t.Cleanup(func() { fresh.Close() })
	require.NoError(t, fresh.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds))
	require.NoError(t, fresh.ActivateBackend("etcd"))
	require.NoError(t, fresh.UseNamespace(ctx, ns))
	count, err := fresh.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, 301, count)
}
