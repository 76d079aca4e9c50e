package confo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// recorder is a Backend that forwards every call to a real memory store and
// records it, so that a test can prove what reached the store and when.
type recorder struct {
	store *memory.Backend

	mu    sync.Mutex
	calls []string     // one per call: "load database", "commit database", ...
	sent  [][]confo.Op // the ops of each Commit that reached the store
	hook  func(ctx context.Context, ns string, ops []confo.Op) error
}

var _ confo.Backend = (*recorder)(nil)

func newRecorder(store *memory.Backend) *recorder { return &recorder{store: store} }

func (r *recorder) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) Namespaces(ctx context.Context) ([]string, error) {
	r.record("namespaces")
	return r.store.Namespaces(ctx)
}

func (r *recorder) CreateNamespace(ctx context.Context, ns string) error {
	r.record("create " + ns)
	return r.store.CreateNamespace(ctx, ns)
}

func (r *recorder) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	r.record("load " + ns)
	return r.store.Load(ctx, ns)
}

// Commit runs the hook, if any, before the ops reach the store; a hook error
// is returned and nothing is sent.
func (r *recorder) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	r.record("commit " + ns)
	r.mu.Lock()
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, ns, ops); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.sent = append(r.sent, slices.Clone(ops))
	r.mu.Unlock()
	return r.store.Commit(ctx, ns, ops)
}

func (r *recorder) Close() error {
	r.record("close")
	return r.store.Close()
}

// setHook makes every later Commit call h first.
func (r *recorder) setHook(h func(ctx context.Context, ns string, ops []confo.Op) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = h
}

// reset forgets the calls recorded so far.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls, r.sent = nil, nil
}

func (r *recorder) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// commits returns the ops of each Commit that reached the store.
func (r *recorder) commits() [][]confo.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// limited is a recorder that declares batch limits, as etcd does.
type limited struct {
	*recorder
	limits confo.BatchLimits
}

var _ confo.BatchLimiter = limited{}

func (l limited) BatchLimits() confo.BatchLimits { return l.limits }

// shared lets a second manager use a store without closing it.
type shared struct{ confo.Backend }

func (shared) Close() error { return nil }

func mysql() map[string]any {
	return map[string]any{"driver": "mysql", "host": "localhost", "port": 1234}
}

// mysqlRead is mysql() as the manager returns it.
func mysqlRead() map[string]any {
	return map[string]any{"driver": "mysql", "host": "localhost", "port": int64(1234)}
}

// newManager returns a manager whose active backend "test" is b, with
// nothing loaded.
func newManager(t testing.TB, b confo.Backend) *confo.Manager {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	require.NoError(t, m.AddBackend("test", b))
	require.NoError(t, m.ActivateBackend("test"))
	return m
}

// newTestManager returns a manager on a recorder over a fresh memory store,
// with configuration "mysql" persisted in namespace "database", which is in
// use. The recorder has been reset: it holds no calls yet.
func newTestManager(t testing.TB) (*confo.Manager, *recorder) {
	t.Helper()
	rec := newRecorder(memory.New())
	m := newManager(t, rec)
	seed(t, m)
	rec.reset()
	return m, rec
}

// seed creates namespace "database" holding "mysql", persisted, and uses it.
func seed(t testing.TB, m *confo.Manager) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, m.CreateNamespace(ctx, "database"))
	require.NoError(t, m.UseNamespace(ctx, "database"))
	require.NoError(t, m.Set("mysql", mysql()))
	require.NoError(t, m.Persist(ctx))
}

// storeView returns namespace ns of store as a new manager reads it.
func storeView(t testing.TB, store confo.Backend, ns string) map[string]map[string]any {
	t.Helper()
	m := newManager(t, shared{store})
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	all, err := m.GetAll()
	require.NoError(t, err)
	return all
}

// requireError checks that err wraps want and that its message contains
// every one of names.
func requireError(t testing.TB, err, want error, names ...string) {
	t.Helper()
	require.ErrorIs(t, err, want)
	for _, name := range names {
		assert.Contains(t, err.Error(), name)
	}
}

type dbConfig struct {
	Driver string `json:"driver"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
}

// call is one Manager call that may fail.
type call struct {
	name  string
	do    func(ctx context.Context, m *confo.Manager) error
	names []string // what its error message must name
}

// configCalls returns every call that works on the namespace in use, or on
// a named namespace, with the configuration and namespace (quoted) their
// errors must name.
func configCalls(ns, config string) []call {
	qns, qconfig := strconv.Quote(ns), strconv.Quote(config)
	return []call{
		{"CreateNamespace", func(ctx context.Context, m *confo.Manager) error { return m.CreateNamespace(ctx, ns) }, []string{qns}},
		{"UseNamespace", func(ctx context.Context, m *confo.Manager) error { return m.UseNamespace(ctx, ns) }, []string{qns}},
		{"GetNamespaces", func(ctx context.Context, m *confo.Manager) error { _, err := m.GetNamespaces(ctx); return err }, nil},
		{"GetCount", func(ctx context.Context, m *confo.Manager) error { _, err := m.GetCount(ctx); return err }, nil},
		{"ConfigCount", func(ctx context.Context, m *confo.Manager) error { _, err := m.ConfigCount(); return err }, nil},
		{"Set", func(ctx context.Context, m *confo.Manager) error { return m.Set(config, mysql()) }, []string{qconfig}},
		{"SetField", func(ctx context.Context, m *confo.Manager) error { return m.SetField(config, "port", 1) }, []string{qconfig}},
		{"Get", func(ctx context.Context, m *confo.Manager) error { _, err := m.Get(config); return err }, []string{qconfig}},
		{"GetField", func(ctx context.Context, m *confo.Manager) error { _, err := m.GetField(config, "host"); return err }, []string{qconfig}},
		{"GetAll", func(ctx context.Context, m *confo.Manager) error { _, err := m.GetAll(); return err }, nil},
		{"Decode", func(ctx context.Context, m *confo.Manager) error { var c dbConfig; return m.Decode(config, &c) }, []string{qconfig}},
		{"Delete", func(ctx context.Context, m *confo.Manager) error { return m.Delete(config) }, []string{qconfig}},
		{"Persist", func(ctx context.Context, m *confo.Manager) error { return m.Persist(ctx) }, nil},
		{"PersistNamespace", func(ctx context.Context, m *confo.Manager) error { return m.PersistNamespace(ctx, ns) }, []string{qns}},
		{"PersistConfig", func(ctx context.Context, m *confo.Manager) error { return m.PersistConfig(ctx, ns, config) }, []string{qns, qconfig}},
		{"Reload", func(ctx context.Context, m *confo.Manager) error { return m.Reload(ctx) }, nil},
		{"Watch", func(ctx context.Context, m *confo.Manager) error { _, err := m.Watch(ctx, ns); return err }, []string{qns}},
		{"OnChange", func(ctx context.Context, m *confo.Manager) error {
			stop, err := m.OnChange(ctx, ns, func(confo.Event) {})
			if err == nil {
				stop()
			}
			return err
		}, []string{qns}},
	}
}

func TestManagerBackendNotActive(t *testing.T) {
	for _, c := range configCalls("sales", "mysql") {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder(memory.New())
			m := confo.New()
			t.Cleanup(func() { m.Close() })
			require.NoError(t, m.AddBackend("test", rec)) // added, never activated

			err := c.do(t.Context(), m)
			requireError(t, err, confo.ErrBackendNotActive, c.names...)
			assert.Empty(t, rec.recorded(), "no I/O without an active backend")
		})
	}
}

func TestManagerNamespaceNotLoaded(t *testing.T) {
	for _, c := range configCalls("database", "mysql") {
		switch c.name {
		case "CreateNamespace", "UseNamespace", "GetNamespaces", "GetCount", "Watch", "OnChange":
			continue // need no namespace in use
		}
		t.Run(c.name, func(t *testing.T) {
			store := memory.New()
			store.Put("database", "mysql", []byte(`{"host":"localhost"}`))
			m := newManager(t, store) // active, nothing loaded

			err := c.do(t.Context(), m)
			switch c.name {
			case "Persist", "Reload":
				require.NoError(t, err, "nothing loaded: nothing to do")
			default:
				requireError(t, err, confo.ErrNamespaceNotLoaded, c.names...)
			}
		})
	}

	t.Run("PersistNamespace of another", func(t *testing.T) {
		m, rec := newTestManager(t)
		require.NoError(t, m.CreateNamespace(t.Context(), "sales"))
		rec.reset()
		err := m.PersistNamespace(t.Context(), "sales")
		requireError(t, err, confo.ErrNamespaceNotLoaded, `"sales"`)
		err = m.PersistConfig(t.Context(), "sales", "mysql")
		requireError(t, err, confo.ErrNamespaceNotLoaded, `"sales"`, `"mysql"`)
		assert.Empty(t, rec.recorded())
	})
}

func TestManagerClosed(t *testing.T) {
	m, rec := newTestManager(t)
	require.NoError(t, m.Close())
	assert.Contains(t, rec.recorded(), "close", "Close closes every backend")
	require.NoError(t, m.Close(), "closing twice is not an error")

	for _, c := range configCalls("database", "mysql") {
		t.Run(c.name, func(t *testing.T) {
			requireError(t, c.do(t.Context(), m), confo.ErrClosed, c.names...)
		})
	}
	for name, do := range map[string]func() error{
		"ActivateBackend": func() error { return m.ActivateBackend("test") },
		"AddBackend":      func() error { return m.AddBackend("test", memory.New()) },
		"LoadBackend":     func() error { return m.LoadBackend(t.Context(), "test", confo.MemoryBackend, nil) },
		"Backend":         func() error { _, err := m.Backend("test"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			requireError(t, do(), confo.ErrClosed, `"test"`)
		})
	}
	assert.Empty(t, m.GetBackends().All)
	assert.Equal(t, "", m.Namespace())
}

func TestDefault(t *testing.T) {
	old := confo.Default()
	t.Cleanup(func() { confo.SetDefault(old) })
	require.NotNil(t, old)
	assert.Same(t, old, confo.Default(), "the same manager every call")

	m := confo.New()
	t.Cleanup(func() { m.Close() })
	confo.SetDefault(m)
	assert.Same(t, m, confo.Default())
	require.NoError(t, confo.Default().AddBackend("test", memory.New()))
	require.NoError(t, confo.Default().ActivateBackend("test"))
	seed(t, confo.Default())
	got, err := confo.Default().Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, mysqlRead(), got)
	assert.Empty(t, old.GetBackends().All, "the previous default is untouched")
}

func TestCredentialsRedacted(t *testing.T) {
	const password = "s3cr3t-hunter2"
	creds := confo.Credentials{"host": "127.0.0.1", "port": 2379, "user": "root", "password": password}
	type wrapper struct{ Creds confo.Credentials }

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for name, arg := range map[string]any{"value": creds, "pointer": &creds, "field": wrapper{creds}, "slice": []confo.Credentials{creds}} {
			t.Run(verb+" "+name, func(t *testing.T) {
				out := fmt.Sprintf(verb, arg)
				assert.NotContains(t, out, password)
				assert.NotContains(t, out, "127.0.0.1")
				if verb == "%v" && name == "value" {
					assert.Equal(t, "confo.Credentials{host:<redacted>, password:<redacted>, port:<redacted>, user:<redacted>}", out)
				}
			})
		}
	}
	t.Run("slog", func(t *testing.T) {
		var buf bytes.Buffer
		for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
			log := slog.New(h)
			log.Info("load", "creds", creds)
			log.Info("load", slog.Any("creds", creds))
			log.Info("load", slog.Group("backend", "name", "prod", "creds", creds))
			log.With("creds", creds).Info("load")
		}
		out := buf.String()
		assert.NotContains(t, out, password)
		assert.Contains(t, out, "password:<redacted>")
		assert.Equal(t, 8, strings.Count(out, "password:<redacted>"))
	})
	t.Run("errors", func(t *testing.T) {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		bad := confo.Credentials{"namespaces": 7, "password": password}
		err := m.LoadBackend(t.Context(), "mem", confo.MemoryBackend, bad)
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		assert.NotContains(t, err.Error(), password)
		err = m.LoadBackend(t.Context(), "prod", confo.EtcdBackend, bad)
		require.ErrorIs(t, err, confo.ErrUnknownBackendType)
		assert.NotContains(t, err.Error(), password)
	})
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{
		confo.ErrBackendNotActive, confo.ErrBackendNotFound, confo.ErrBackendExists, confo.ErrUnknownBackendType,
		confo.ErrNamespaceNotLoaded, confo.ErrNamespaceNotFound, confo.ErrConfigNotFound, confo.ErrFieldNotFound,
		confo.ErrInvalidName, confo.ErrInvalidValue, confo.ErrValueTooLarge, confo.ErrInvalidCredentials,
		confo.ErrConflict, confo.ErrCorruptValue, confo.ErrClosed,
	}
	for i, a := range all {
		assert.True(t, strings.HasPrefix(a.Error(), "confo: "), a.Error())
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}

// TestManagerNeverPrints runs the walk-through with a debug logger and
// with os.Stdout and os.Stderr captured: the library prints nothing, and its
// log lines hold neither credential values nor configuration values.
func TestManagerNeverPrints(t *testing.T) {
	const (
		password = "pa55-w0rd-xyz"
		secret   = "value-s3cret-abc"
	)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	stdout, stderr := os.Stdout, os.Stderr
	r, w, err := os.Pipe()
	require.NoError(t, err)
	os.Stdout, os.Stderr = w, w
	restored := false
	restore := func() {
		if !restored {
			os.Stdout, os.Stderr = stdout, stderr
			w.Close()
			restored = true
		}
	}
	t.Cleanup(restore)
	captured := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		captured <- b
	}()

	ctx := t.Context()
	m := confo.New(confo.WithLogger(logger))
	creds := confo.Credentials{"namespaces": []string{"database"}}
	require.NoError(t, m.LoadBackend(ctx, "mem", confo.MemoryBackend, creds))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.UseNamespace(ctx, "database"))
	require.NoError(t, m.Set("mysql", map[string]any{"password": secret}))
	require.NoError(t, m.Persist(ctx))
	require.NoError(t, m.Reload(ctx))
	_, err = m.Get("redis")
	require.Error(t, err)
	require.Error(t, m.LoadBackend(ctx, "bad", confo.MemoryBackend, confo.Credentials{"namespaces": 1, "password": password}))
	require.NoError(t, m.Close())

	restore()
	out := <-captured
	assert.Empty(t, string(out), "the library prints nothing")
	assert.NotEmpty(t, logs.String(), "Persist and Reload log at debug level")
	assert.NotContains(t, logs.String(), password)
	assert.NotContains(t, logs.String(), secret)
}
