package presence_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"
	_ "github.com/confo-go/confo/backends/file"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/presence"
)

// wait bounds every wait for something to happen: generous, for a loaded
// machine; a passing test never waits that long.
const wait = 60 * time.Second

// newCluster starts a one-member etcd in process on loopback TCP.
func newCluster(t *testing.T) *integration.Cluster {
	t.Helper()
	integration.BeforeTestExternal(t) // the package promises outsiders no compatibility: pinned
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 1, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	return c
}

// newManager returns a manager on the cluster at endpoints with namespace
// ns created and in use.
func newManager(t testing.TB, endpoints []string, ns string) *confo.Manager {
	t.Helper()
	m, err := openManager(t.Context(), endpoints, ns)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func openManager(ctx context.Context, endpoints []string, ns string) (*confo.Manager, error) {
	m := confo.New()
	err := m.LoadBackend(ctx, "etcd", confo.EtcdBackend, confo.Credentials{"endpoints": endpoints, "dial_timeout": "5s"})
	if err == nil {
		err = m.ActivateBackend("etcd")
	}
	if err == nil {
		err = m.CreateNamespace(ctx, ns)
	}
	if err == nil {
		err = m.UseNamespace(ctx, ns)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// backendOf returns m's active backend.
func backendOf(t testing.TB, m *confo.Manager) confo.Backend {
	t.Helper()
	b, err := m.Backend(m.GetBackends().Active)
	require.NoError(t, err)
	return b
}

// eventually lists ns until ok accepts the listing.
func eventually(t testing.TB, b confo.Backend, ns string, what string, ok func(presence.Listing) bool) presence.Listing {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		l, err := presence.List(t.Context(), b, ns)
		require.NoError(t, err)
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not %s: %+v", wait, what, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ids(l presence.Listing) []string {
	var out []string
	for _, st := range l.Instances {
		out = append(out, st.ID)
	}
	return out
}

func TestInstancesAppearReportRevisionsAndLeave(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	watching := newManager(t, c.Endpoints(), "db")
	idle := newManager(t, c.Endpoints(), "db")
	opts := presence.Options{Interval: 50 * time.Millisecond, TTL: 10 * time.Second}

	repW, err := presence.Start(ctx, watching, presence.Instance{ID: "web-1", Labels: map[string]string{"zone": "a"}}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { repW.Close(context.Background()) })
	repI, err := presence.Start(ctx, idle, presence.Instance{ID: "web-2"}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { repI.Close(context.Background()) })

	b := backendOf(t, watching)
	l, err := presence.List(ctx, b, "db")
	require.NoError(t, err)
	require.Equal(t, []string{"web-1", "web-2"}, ids(l), "both registered before Start returned")
	st, err := watching.Status("db")
	require.NoError(t, err)
	assert.Equal(t, st.Applied, l.Instances[0].Applied)
	assert.Equal(t, map[string]string{"zone": "a"}, l.Instances[0].Labels)
	assert.Zero(t, l.Instances[0].Lag)

	// A change by another writer: the watching instance applies it, the
	// idle one does not.
	events, err := watching.Watch(ctx, "db")
	require.NoError(t, err)
	resp, err := c.Client(0).Put(ctx, "/confo/db/mysql", `{"host":"b"}`)
	require.NoError(t, err)
	rev := resp.Header.Revision
	select {
	case <-events:
	case <-time.After(wait):
		t.Fatal("no watch event")
	}
	l = eventually(t, b, "db", "web-1 at revision "+fmt.Sprint(rev), func(l presence.Listing) bool {
		return len(l.Instances) == 2 && l.Instances[0].Applied >= rev
	})
	assert.Equal(t, rev, l.Revision, "the namespace's latest change")
	assert.Zero(t, l.Instances[0].Lag)
	assert.Equal(t, rev-l.Instances[1].Applied, l.Instances[1].Lag)
	assert.Positive(t, l.Instances[1].Lag)
	assert.Equal(t, 1, l.Applied(rev))

	// Wait: one instance is there, all of them are not.
	got, err := presence.Wait(ctx, b, "db", rev, presence.Goal{Count: 1}, 20*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Applied(rev))
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = presence.Wait(short, b, "db", rev, presence.Goal{Percent: 100}, 20*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "1 of 2 did")

	// The idle instance reloads: 100% then applied rev.
	require.NoError(t, idle.Reload(ctx))
	_, err = presence.Wait(ctx, b, "db", rev, presence.Goal{Percent: 100}, 20*time.Millisecond)
	require.NoError(t, err)

	// Closing a Reporter removes its instance at once.
	require.NoError(t, repI.Close(ctx))
	l, err = presence.List(ctx, b, "db")
	require.NoError(t, err)
	assert.Equal(t, []string{"web-1"}, ids(l))
}

// A quarantined configuration shows as a problem of the instance.
func TestProblemsAreReported(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	m := newManager(t, c.Endpoints(), "db")
	events, err := m.Watch(ctx, "db")
	require.NoError(t, err)
	go func() {
		for range events {
		}
	}()
	rep, err := presence.Start(ctx, m, presence.Instance{ID: "web-1"}, presence.Options{Interval: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { rep.Close(context.Background()) })
	_, err = c.Client(0).Put(ctx, "/confo/db/broken", "not JSON")
	require.NoError(t, err)
	l := eventually(t, backendOf(t, m), "db", "reporting the broken configuration", func(l presence.Listing) bool {
		return len(l.Instances) == 1 && len(l.Instances[0].Problems) == 1
	})
	p := l.Instances[0].Problems[0]
	assert.Equal(t, "broken", p.Name)
	assert.Positive(t, p.Revision)
	assert.NotEmpty(t, p.Error)
}

// A Reporter writes only what changed: nothing while nothing changes, and
// at most one record per namespace per interval while changes stream in.
func TestWritesAreCoalesced(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	m := newManager(t, c.Endpoints(), "db")
	events, err := m.Watch(ctx, "db")
	require.NoError(t, err)
	go func() {
		for range events {
		}
	}()
	const interval = 200 * time.Millisecond
	start := time.Now()
	rep, err := presence.Start(ctx, m, presence.Instance{ID: "web-1"}, presence.Options{Interval: interval})
	require.NoError(t, err)
	t.Cleanup(func() { rep.Close(context.Background()) })
	require.Equal(t, 1, rep.Writes())

	var last int64
	for i := range 100 {
		resp, err := c.Client(0).Put(ctx, "/confo/db/mysql", fmt.Sprintf(`{"n":%d}`, i))
		require.NoError(t, err)
		last = resp.Header.Revision
	}
	eventually(t, backendOf(t, m), "db", "at the last revision", func(l presence.Listing) bool {
		return len(l.Instances) == 1 && l.Instances[0].Applied == last
	})
	elapsed := time.Since(start)
	writes := rep.Writes()
	assert.LessOrEqual(t, writes, 1+int(elapsed/interval)+1, "100 changes in %s", elapsed)
	assert.Less(t, writes, 100)

	// Nothing changes any more: no more writes over a few intervals.
	time.Sleep(4 * interval)
	assert.Equal(t, writes, rep.Writes())
}

// bare hides every optional interface of the backend it holds.
type bare struct{ confo.Backend }

func TestUnsupportedBackend(t *testing.T) {
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", bare{memory.New()}))
	require.NoError(t, m.ActivateBackend("mem"))
	_, err := presence.Start(t.Context(), m, presence.Instance{ID: "web-1"}, presence.Options{})
	require.ErrorIs(t, err, presence.ErrNoPresence)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = presence.List(t.Context(), bare{memory.New()}, "db")
	require.ErrorIs(t, err, errors.ErrUnsupported)

	_, err = presence.Start(t.Context(), m, presence.Instance{ID: "a/b"}, presence.Options{})
	require.ErrorIs(t, err, confo.ErrInvalidName)
}

// On the memory backend (metadata, no leases) records carry an expiry;
// Close removes them at once.
func TestMemoryBackendPresence(t *testing.T) {
	ctx := t.Context()
	mb := memory.New()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", mb))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, mb.CreateNamespace(ctx, "db"))
	_, err := mb.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":3306}`)}})
	require.NoError(t, err)
	require.NoError(t, m.UseNamespace(ctx, "db"))
	rep, err := presence.Start(ctx, m, presence.Instance{ID: "web-1"}, presence.Options{Interval: 20 * time.Millisecond, TTL: time.Second})
	require.NoError(t, err)
	l, err := presence.List(ctx, mb, "db")
	require.NoError(t, err)
	require.Equal(t, []string{"web-1"}, ids(l))
	st, err := m.Status("db")
	require.NoError(t, err)
	assert.Equal(t, st.Applied, l.Instances[0].Applied)
	assert.Zero(t, l.Instances[0].Lag)

	// The record outlives several TTLs while its session refreshes it.
	time.Sleep(1500 * time.Millisecond)
	l, err = presence.List(ctx, mb, "db")
	require.NoError(t, err)
	require.Equal(t, []string{"web-1"}, ids(l), "refreshed every TTL/3")

	require.NoError(t, rep.Close(ctx))
	l, err = presence.List(ctx, mb, "db")
	require.NoError(t, err)
	assert.Empty(t, l.Instances)
}

// childEnv carries the store to the child process of the kill tests:
// "etcd:<endpoints>" or "file:<dir>".
const childEnv = "CONFO_PRESENCE_CHILD"

// TestMain runs the child instance when the test binary is started as one.
func TestMain(m *testing.M) {
	if store := os.Getenv(childEnv); store != "" {
		os.Exit(child(store))
	}
	os.Exit(m.Run())
}

// openStore returns a manager with namespace db in use on store.
func openStore(ctx context.Context, store string) (*confo.Manager, error) {
	kind, where, _ := strings.Cut(store, ":")
	if kind == "etcd" {
		return openManager(ctx, strings.Split(where, ","), "db")
	}
	m := confo.New()
	err := m.LoadBackend(ctx, "file", confo.FileBackend, confo.Credentials{"config_path": where})
	if err == nil {
		err = m.ActivateBackend("file")
	}
	if err == nil {
		err = m.CreateNamespace(ctx, "db")
	}
	if err == nil {
		err = m.UseNamespace(ctx, "db")
	}
	return m, err
}

// child is an instance that registers, says "ready", and runs until killed.
func child(store string) int {
	ctx := context.Background()
	m, err := openStore(ctx, store)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if _, err := presence.Start(ctx, m, presence.Instance{ID: "doomed"}, presence.Options{Interval: 100 * time.Millisecond, TTL: 2 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// killedInstanceVanishes starts a child instance on store, checks that it
// is listed through b, SIGKILLs it and waits until it is not.
func killedInstanceVanishes(t *testing.T, store string, b confo.Backend) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+store)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the child did not start")
	require.Equal(t, "ready\n", line)

	l, err := presence.List(t.Context(), b, "db")
	require.NoError(t, err)
	require.Equal(t, []string{"doomed"}, ids(l))

	require.NoError(t, cmd.Process.Signal(os.Kill))
	killed := time.Now()
	eventually(t, b, "db", "gone after SIGKILL", func(l presence.Listing) bool { return len(l.Instances) == 0 })
	t.Logf("the killed instance vanished after %s (TTL 2 s)", time.Since(killed).Round(10*time.Millisecond))
}

func TestKilledInstanceVanishes(t *testing.T) {
	c := newCluster(t)
	m := newManager(t, c.Endpoints(), "db")
	killedInstanceVanishes(t, "etcd:"+strings.Join(c.Endpoints(), ","), backendOf(t, m))
}

// On the file backend the killed instance's record expires; the List that
// finds it expired deletes it.
func TestKilledInstanceVanishesFile(t *testing.T) {
	dir := t.TempDir()
	m, err := openStore(t.Context(), "file:"+dir)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	b := backendOf(t, m)
	killedInstanceVanishes(t, "file:"+dir, b)
	left, err := b.(confo.MetaStore).LoadMeta(t.Context(), "db", "presence/")
	require.NoError(t, err)
	assert.Empty(t, left, "the expired record was swept")
}
