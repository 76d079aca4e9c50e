package seal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/internal/embedetcd"
	"github.com/confo-go/confo/seal"
)

// Child process modes of the test binary.
const (
	envChild     = "SEAL_TEST_CHILD"
	envEndpoints = "SEAL_TEST_ENDPOINTS"
	envPrefix    = "SEAL_TEST_PREFIX"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "rotate":
		os.Exit(rotateChild())
	case "nolayer":
		_, err := json.Marshal(map[string]any{"p": seal.Secret("x")})
		if errors.Is(err, seal.ErrNoLayer) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "encoding a Secret without a layer:", err)
		os.Exit(1)
	}
	code := m.Run()
	if srv != nil {
		srv.Close()
		os.RemoveAll(srvDir)
	}
	os.Exit(code)
}

var (
	srvOnce  sync.Once
	srv      *embedetcd.Server
	srvDir   string
	srvErr   error
	prefixes atomic.Int64
)

// etcdCreds returns the credentials of a fresh prefix of the in-process
// etcd, started on first use.
func etcdCreds(t testing.TB) confo.Credentials {
	t.Helper()
	srvOnce.Do(func() {
		if srvDir, srvErr = os.MkdirTemp("", "seal-etcd-"); srvErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		srv, srvErr = embedetcd.Start(ctx, srvDir)
	})
	require.NoError(t, srvErr, "in-process etcd")
	return confo.Credentials{"endpoints": srv.Endpoints(), "prefix": fmt.Sprintf("/seal%d", prefixes.Add(1))}
}

// etcdManager returns a manager on etcd with the seal layer holding ids and
// opts, using namespace db, which it creates.
func etcdManager(t testing.TB, creds confo.Credentials, ids []age.Identity, opts ...confo.Option) *confo.Manager {
	t.Helper()
	ctx := context.Background()
	m := confo.New(append([]confo.Option{confo.WithLayers(seal.Layer(ids...))}, opts...)...)
	require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds))
	require.NoError(t, m.ActivateBackend("etcd"))
	require.NoError(t, m.CreateNamespace(ctx, "db"))
	require.NoError(t, m.UseNamespace(ctx, "db"))
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// sealedBackend returns the seal layer of m's etcd backend.
func sealedBackend(t testing.TB, m *confo.Manager) *seal.Backend {
	t.Helper()
	b, err := m.Layered("etcd")
	require.NoError(t, err)
	return b.(*seal.Backend)
}

func TestSecretWithoutLayer(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=nolayer")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "a process without a seal layer refuses to encode a Secret: %s", out)
}

func TestEtcdMirror(t *testing.T) {
	ctx := context.Background()
	creds := etcdCreds(t)
	id, rcpt := newKey(t)
	writer := etcdManager(t, creds, []age.Identity{id})
	require.NoError(t, sealedBackend(t, writer).SetRecipients(ctx, "db", []string{rcpt}, 0))
	require.NoError(t, writer.Set("mysql", map[string]any{"host": "db.internal", "password": seal.Secret(secret)}))
	require.NoError(t, writer.Persist(ctx))

	// The mirror sits below the layers: a service holding the identity
	// sees plaintext and mirrors the sealed form.
	dir := t.TempDir()
	service := etcdManager(t, creds, []age.Identity{id}, confo.WithMirror(dir))
	password, err := service.GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, password)
	require.NoError(t, service.Close()) // waits for the mirror
	found := false
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 { // generations are walked as directories
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, path)
		found = found || strings.Contains(string(b), seal.Prefix)
		return nil
	}))
	assert.True(t, found, "the mirror holds the sealed field")

	// With the store down, a service starts from the mirror and opens the
	// sealed field through the layer.
	down := confo.Credentials{"endpoints": []string{"127.0.0.1:1"}, "prefix": creds["prefix"], "dial_timeout": "300ms"}
	stale := confo.New(confo.WithLayers(seal.Layer(id)), confo.WithMirror(dir))
	t.Cleanup(func() { _ = stale.Close() })
	if err := stale.LoadBackend(ctx, "etcd", confo.EtcdBackend, down); err != nil {
		require.ErrorIs(t, err, confo.ErrStale)
	}
	require.NoError(t, stale.ActivateBackend("etcd"))
	require.ErrorIs(t, stale.UseNamespace(ctx, "db"), confo.ErrStale)
	password, err = stale.GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, password)
}

// rotateChild rotates namespace db of the etcd the environment names, one
// configuration a step, printing each step and pausing after it, until it
// is killed.
func rotateChild() int {
	ids, err := seal.IdentitiesFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	m := confo.New(confo.WithLayers(seal.Layer(ids...)))
	creds := confo.Credentials{"endpoints": strings.Split(os.Getenv(envEndpoints), ","), "prefix": os.Getenv(envPrefix)}
	if err := m.LoadBackend(ctx, "etcd", confo.EtcdBackend, creds); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, _ := m.Layered("etcd")
	_, err = b.(*seal.Backend).Rotate(ctx, "db", seal.RotateOptions{BatchSize: 1, Progress: func(p seal.RotateProgress) {
		fmt.Printf("step %d/%d\n", p.Done, p.Total)
		time.Sleep(200 * time.Millisecond)
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

func TestEtcdRotateKilled(t *testing.T) {
	ctx := context.Background()
	creds := etcdCreds(t)
	oldID, oldR := newKey(t)
	newID, newR := newKey(t)
	writer := etcdManager(t, creds, []age.Identity{oldID})
	sb := sealedBackend(t, writer)
	require.NoError(t, sb.SetRecipients(ctx, "db", []string{oldR}, 0))
	const n = 8
	for i := range n {
		require.NoError(t, writer.Set(fmt.Sprintf("c%d", i), map[string]any{"token": seal.Secret(fmt.Sprintf("%s-%d", secret, i))}))
	}
	require.NoError(t, writer.Persist(ctx))

	// Services keep reading with both identities meanwhile.
	service := etcdManager(t, creds, []age.Identity{oldID, newID})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := service.Watch(wctx, "db")
	require.NoError(t, err)

	require.NoError(t, sb.AddRecipients(ctx, "db", newR))
	require.NoError(t, sb.RemoveRecipients(ctx, "db", oldR))

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envChild+"=rotate", envEndpoints+"="+strings.Join(creds["endpoints"].([]string), ","),
		envPrefix+"="+creds["prefix"].(string), seal.EnvIdentity+"="+oldID.(*age.X25519Identity).String())
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	child.Stderr = &stderr
	require.NoError(t, child.Start())
	lines := bufio.NewScanner(stdout)
	for steps := 0; steps < 3; {
		require.True(t, lines.Scan(), "the child ended early: %s", stderr.String())
		if strings.HasPrefix(lines.Text(), "step ") {
			steps++
		}
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()

	// Interrupted: the progress record is there, some fields re-sealed.
	meta, err := sb.LoadMeta(ctx, "db", seal.MetaRotation)
	require.NoError(t, err)
	require.Contains(t, meta, seal.MetaRotation, "the progress record survives the kill")
	var rec struct{ Done int }
	require.NoError(t, json.Unmarshal(meta[seal.MetaRotation].Value, &rec))
	require.GreaterOrEqual(t, rec.Done, 3)
	require.Less(t, rec.Done, n)

	// Resume.
	resumer := seal.Wrap(sb.Unwrap(), oldID)
	prog, err := resumer.Rotate(ctx, "db", seal.RotateOptions{BatchSize: 2})
	require.NoError(t, err)
	assert.True(t, prog.Resumed)
	assert.Equal(t, n, prog.Total)
	assert.Equal(t, n, prog.Done)

	for _, c := range []struct {
		id   age.Identity
		want error
	}{{newID, nil}, {oldID, seal.ErrWrongIdentity}} {
		snap, err := seal.Wrap(sb.Unwrap(), c.id).Load(ctx, "db")
		require.NoError(t, err)
		require.Len(t, snap.Entries, n)
		for name, e := range snap.Entries {
			if c.want == nil {
				require.NoError(t, e.Err, name)
			} else {
				require.ErrorIs(t, e.Err, c.want, name)
			}
		}
	}
	meta, err = sb.LoadMeta(ctx, "db", seal.MetaRotation)
	require.NoError(t, err)
	assert.Empty(t, meta)
	raw, err := sb.Unwrap().Load(ctx, "db")
	require.NoError(t, err)
	for name, e := range raw.Entries {
		assert.NotContains(t, string(e.Value), secret, "stored bytes of %s", name)
	}

	// The service read every step and holds the values.
	for i := range n {
		v, err := service.GetField(fmt.Sprintf("c%d", i), "token")
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%s-%d", secret, i), v)
	}
	select {
	case <-events:
	default:
		t.Error("the service saw no re-sealed value")
	}
}

// TestEtcdManyHybrid persists more sealed configurations than one etcd
// transaction holds, each with a hybrid post-quantum envelope (about 2.4 KB):
// the batches the Manager makes within the layer's BatchLimits fit etcd's.
func TestEtcdManyHybrid(t *testing.T) {
	ctx := context.Background()
	id, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	m := etcdManager(t, etcdCreds(t), []age.Identity{id})
	require.NoError(t, sealedBackend(t, m).SetRecipients(ctx, "db", []string{id.Recipient().String()}, 0))
	const n = 300
	for i := range n {
		require.NoError(t, m.Set(fmt.Sprintf("c%03d", i), map[string]any{"a": seal.Secret(i), "b": seal.Secret(-i), "note": strings.Repeat("x", 200)}))
	}
	require.NoError(t, m.Persist(ctx))
	b, err := m.Backend("etcd") // the store's own: read it through a new layer

	require.NoError(t, err)
	snap, err := seal.Wrap(b, id).Load(ctx, "db")
	require.NoError(t, err)
	require.Len(t, snap.Entries, n)
	for name, e := range snap.Entries {
		require.NoError(t, e.Err, name)
	}
}
