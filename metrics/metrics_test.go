package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/tests/v3/framework/integration"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/backends/file"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/metrics"
)

// newCluster starts a one-member etcd in process on loopback TCP.
func newCluster(t *testing.T) *integration.Cluster {
	t.Helper()
	integration.BeforeTestExternal(t) // the package promises outsiders no compatibility: pinned
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 1, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	return c
}

// newRecorder returns a Recorder on an SDK provider read by hand.
func newRecorder(t testing.TB) (*metrics.Recorder, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	rec, err := metrics.New(provider)
	require.NoError(t, err)
	return rec, reader
}

// etcdManager returns a manager with rec's layer over the etcd cluster c,
// namespace ns created and in use.
func etcdManager(t *testing.T, c *integration.Cluster, rec *metrics.Recorder, ns string) *confo.Manager {
	t.Helper()
	m := confo.New(confo.WithLayers(rec.Layer))
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.LoadBackend(t.Context(), "etcd", confo.EtcdBackend,
		confo.Credentials{"endpoints": c.Endpoints(), "dial_timeout": "5s"}))
	require.NoError(t, m.ActivateBackend("etcd"))
	require.NoError(t, m.CreateNamespace(t.Context(), ns))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// collect reads every metric of reader, by name.
func collect(t testing.TB, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	out := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs builds an attribute set of namespace ns and, if given, outcome.
func attrs(ns, outcome string) attribute.Set {
	if outcome == "" {
		return attribute.NewSet(metrics.AttrNamespace.String(ns))
	}
	return attribute.NewSet(metrics.AttrNamespace.String(ns), metrics.AttrOutcome.String(outcome))
}

// histCount returns how many values histogram name recorded with set.
func histCount(t testing.TB, all map[string]metricdata.Metrics, name string, set attribute.Set) uint64 {
	t.Helper()
	m, ok := all[name]
	require.True(t, ok, "no metric %s", name)
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is %T", name, m.Data)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Count
		}
	}
	return 0
}

// sum returns the value of counter name with set.
func sum(t testing.TB, all map[string]metricdata.Metrics, name string, set attribute.Set) int64 {
	t.Helper()
	m, ok := all[name]
	require.True(t, ok, "no metric %s", name)
	s, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is %T", name, m.Data)
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Value
		}
	}
	return 0
}

// gauge returns the value of gauge name with set, and whether it was
// observed.
func gauge(t testing.TB, all map[string]metricdata.Metrics, name string, set attribute.Set) (int64, bool) {
	t.Helper()
	m, ok := all[name]
	if !ok {
		return 0, false
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok, "%s is %T", name, m.Data)
	for _, dp := range g.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Value, true
		}
	}
	return 0, false
}

func TestLayerRecordsLoadsCommitsConflictsAndWatches(t *testing.T) {
	c := newCluster(t)
	rec, reader := newRecorder(t)
	m := etcdManager(t, c, rec, "db")
	ctx := t.Context()

	require.NoError(t, m.Set("mysql", map[string]any{"host": "a"}))
	require.NoError(t, m.Persist(ctx))
	written := len(`{"host":"a"}`)

	// Another writer changes mysql: this manager's next Persist conflicts.
	raw := c.Client(0)
	_, err := raw.Put(ctx, "/confo/db/mysql", `{"host":"b"}`)
	require.NoError(t, err)
	require.NoError(t, m.Set("mysql", map[string]any{"host": "c"}))
	require.ErrorIs(t, m.Persist(ctx), confo.ErrConflict)
	require.NoError(t, m.Reload(ctx))

	// A watch sees another writer's change.
	events, err := m.Watch(ctx, "db")
	require.NoError(t, err)
	_, err = raw.Put(ctx, "/confo/db/redis", `{"port":6379}`)
	require.NoError(t, err)
	select {
	case ev := <-events:
		require.Equal(t, "redis", ev.Name)
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event in 30 s")
	}

	all := collect(t, reader)
	assert.Equal(t, uint64(1), histCount(t, all, "confo.commit.duration", attrs("db", "ok")))
	assert.Equal(t, uint64(1), histCount(t, all, "confo.commit.duration", attrs("db", "conflict")))
	assert.Equal(t, uint64(2), histCount(t, all, "confo.load.duration", attrs("db", "ok")), "UseNamespace and Reload")
	assert.Equal(t, int64(1), sum(t, all, "confo.conflicts", attrs("db", "")))
	assert.Equal(t, int64(written), sum(t, all, "confo.written", attrs("db", "")))
	assert.Equal(t, int64(1), sum(t, all, "confo.watch.events", attrs("db", "")))
	// Read: the empty namespace, mysql as b on Reload, then redis by watch.
	assert.Equal(t, int64(len(`{"host":"b"}`)+len(`{"port":6379}`)), sum(t, all, "confo.read", attrs("db", "")))
}

func TestLoadOfMissingNamespaceIsNotFound(t *testing.T) {
	rec, reader := newRecorder(t)
	m := confo.New(confo.WithLayers(rec.Layer))
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", memory.New()))
	require.NoError(t, m.ActivateBackend("mem"))
	require.ErrorIs(t, m.UseNamespace(t.Context(), "nope"), confo.ErrNamespaceNotFound)
	assert.Equal(t, uint64(1), histCount(t, collect(t, reader), "confo.load.duration", attrs("nope", "not_found")))
}

func TestObserveManagerLagAndQuarantine(t *testing.T) {
	c := newCluster(t)
	rec, reader := newRecorder(t)
	m := etcdManager(t, c, rec, "db")
	ctx := t.Context()
	instance := attribute.String("instance", "web-1")
	reg, err := rec.ObserveManager(m, instance)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Unregister() })

	events, err := m.Watch(ctx, "db")
	require.NoError(t, err)
	_, err = c.Client(0).Put(ctx, "/confo/db/mysql", `{"host":"a"}`)
	require.NoError(t, err)
	select {
	case <-events:
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event in 30 s")
	}

	all := collect(t, reader)
	set := attribute.NewSet(instance, metrics.AttrNamespace.String("db"))
	lag, ok := gauge(t, all, "confo.watch.lag", set)
	require.True(t, ok, "no watch lag observed for db")
	assert.Zero(t, lag, "the manager applied the change it reported")
	q, ok := gauge(t, all, "confo.quarantined", set)
	require.True(t, ok)
	assert.Equal(t, int64(len(m.Problems("db"))), q)
	stale, ok := gauge(t, all, "confo.namespaces.stale", attribute.NewSet(instance))
	require.True(t, ok)
	assert.Zero(t, stale)

	st, err := m.Status("db")
	require.NoError(t, err)
	assert.Positive(t, st.Applied)
}

func TestNilProviderCostsNothing(t *testing.T) {
	rec, err := metrics.New(nil)
	require.NoError(t, err)
	b := memory.New()
	assert.Same(t, b, rec.Layer(b).(*memory.Backend), "a nil provider must not wrap")
	m := confo.New(confo.WithLayers(rec.Layer))
	t.Cleanup(func() { m.Close() })
	reg, err := rec.ObserveManager(m)
	require.NoError(t, err)
	require.NoError(t, reg.Unregister())
}

func TestLayerForwardsOptionalInterfaces(t *testing.T) {
	c := newCluster(t)
	rec, _ := newRecorder(t)
	ctx := t.Context()
	inner := etcd.NewFromClient(c.Client(0), etcd.Config{})
	b := rec.Layer(inner)

	assert.Same(t, inner, b.(confo.Unwrapper).Unwrap())
	assert.Equal(t, inner.BatchLimits(), b.(confo.BatchLimiter).BatchLimits())
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	_, err := b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"v":1}`)}})
	require.NoError(t, err)
	versions, err := b.(confo.Historian).History(ctx, "db", "mysql", 10)
	require.NoError(t, err)
	assert.Len(t, versions, 1)
	_, err = b.(confo.MetaStore).CommitMeta(ctx, "db", nil, []confo.MetaOp{{Key: "note", Value: []byte("hi")}})
	require.NoError(t, err)
	meta, err := b.(confo.MetaStore).LoadMeta(ctx, "db", "")
	require.NoError(t, err)
	assert.Equal(t, []byte("hi"), meta["note"].Value)
	require.NoError(t, b.(confo.NamespaceDeleter).DeleteNamespace(ctx, "db"))
	stamp, err := b.(confo.Checker).CheckValue("db", "mysql", map[string]any{})
	assert.NoError(t, err)
	assert.Nil(t, stamp, "no Checker beneath: no stamp")

	// What the wrapped backend lacks is errors.ErrUnsupported, naming it.
	fb, err := file.New(t.TempDir())
	require.NoError(t, err)
	wrapped := rec.Layer(fb)
	t.Cleanup(func() { wrapped.Close() })
	_, err = wrapped.(confo.Historian).History(ctx, "db", "mysql", 1)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorContains(t, err, "*file.Backend")
	assert.Equal(t, confo.BatchLimits{}, wrapped.(confo.BatchLimiter).BatchLimits())
}

// The watch goroutine of the layer ends with the caller's context, after
// the wrapped watch.
func TestWatchEndsWithContext(t *testing.T) {
	rec, _ := newRecorder(t)
	mb := memory.New()
	t.Cleanup(func() { mb.Close() })
	b := rec.Layer(mb)
	require.NoError(t, b.CreateNamespace(t.Context(), "db"))
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := b.(confo.Watcher).Watch(ctx, "db", 0)
	require.NoError(t, err)
	cancel()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the watch channel was not closed 30 s after its context ended")
		}
	}
}
