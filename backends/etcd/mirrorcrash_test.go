package etcd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

// The mirror crash test runs a child process (this test binary again) whose
// manager, with WithMirror, persists changes to an etcd of this process in
// a loop, and kills it (SIGKILL) at a random moment, again and again. After
// every kill the mirror's current generation, read as it lies on disk,
// equals the store's namespace at the one revision the generation records:
// the same names, byte for byte the same values, at the same revisions.
// While the child runs, this process also reads every generation it can
// catch being current and checks it the same way, since a crash at that
// moment would leave it; in half the rounds the child watches while this
// process writes configurations of its own. At the end a manager whose
// store does not answer serves the generation the last kill left.

// mirrorCrashEnv, when set, makes TestMirrorCrash the child; it holds the
// child's mirrorCrashConfig as JSON.
const mirrorCrashEnv = "CONFO_ETCD_MIRROR_CRASH_CHILD"

const (
	mirrorCrashRounds  = 20
	mirrorCrashNS      = "crash"
	mirrorCrashBackend = "etcd"
	mirrorCrashNames   = 12 // configurations the child writes and deletes
)

// mirrorCrashConfig tells the child where the store and the mirror are.
type mirrorCrashConfig struct {
	Endpoints []string
	Prefix    string
	Dir       string // the mirror's directory
	Watch     bool   // the child watches the namespace too
	Seed      uint64
}

// mirrorCrashChild persists random changes in a loop, printing "ACK <n>"
// after each acknowledged Persist, until it is killed (or 30s pass).
func mirrorCrashChild(t *testing.T, raw string) {
	var cfg mirrorCrashConfig
	require.NoError(t, json.Unmarshal([]byte(raw), &cfg))
	ctx := t.Context()
	m := confo.New(confo.WithMirror(cfg.Dir))
	defer m.Close()
	require.NoError(t, m.LoadBackend(ctx, mirrorCrashBackend, confo.EtcdBackend,
		confo.Credentials{"endpoints": cfg.Endpoints, "prefix": cfg.Prefix, "dial_timeout": "5s"}))
	require.NoError(t, m.ActivateBackend(mirrorCrashBackend))
	require.NoError(t, m.UseNamespace(ctx, mirrorCrashNS))
	if cfg.Watch {
		events, err := m.Watch(ctx, mirrorCrashNS)
		require.NoError(t, err)
		go func() {
			for range events {
			}
		}()
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, 7))
	deadline := time.Now().Add(30 * time.Second)
	for n := 1; time.Now().Before(deadline); n++ {
		for range 1 + rnd.IntN(4) {
			name := fmt.Sprintf("c%02d", rnd.IntN(mirrorCrashNames))
			if rnd.IntN(5) == 0 {
				if err := m.Delete(name); !errors.Is(err, confo.ErrConfigNotFound) {
					require.NoError(t, err)
				}
				continue
			}
			require.NoError(t, m.Set(name, map[string]any{
				"seed": int64(cfg.Seed), "n": int64(n),
				"pad": strings.Repeat(string(rune('a'+rnd.IntN(26))), rnd.IntN(8<<10)),
			}))
		}
		require.NoError(t, m.Persist(ctx), "nobody else writes the child's configurations")
		fmt.Printf("ACK %d\n", n)
	}
}

// mirrorGeneration is a generation of the mirror as read from disk.
type mirrorGeneration struct {
	target   string // where the link points
	revision int64
	configs  map[string]int64  // name -> revision, from .confo-mirror
	files    map[string][]byte // name (without .json) -> content
}

// errGenerationGone means the generation was replaced and removed while it
// was being read.
var errGenerationGone = errors.New("generation removed while read")

// readMirrorGeneration reads the current generation of the namespace from
// the mirror directory: the link <dir>/<backend>/<ns>, the .confo-mirror
// metadata of the generation it names and every file beside it. It returns
// fs.ErrNotExist when there is no link yet.
func readMirrorGeneration(dir string) (mirrorGeneration, error) {
	link := filepath.Join(dir, mirrorCrashBackend, mirrorCrashNS)
	target, err := os.Readlink(link)
	if err != nil {
		return mirrorGeneration{}, err
	}
	gen := mirrorGeneration{target: target, files: make(map[string][]byte)}
	genDir := filepath.Join(dir, mirrorCrashBackend, target)
	gone := func(err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return errGenerationGone
		}
		return err
	}
	raw, err := os.ReadFile(filepath.Join(genDir, ".confo-mirror"))
	if err != nil {
		return gen, gone(err)
	}
	var meta struct {
		Revision int64            `json:"revision"`
		Configs  map[string]int64 `json:"configurations"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return gen, fmt.Errorf("%s/.confo-mirror: %w", target, err)
	}
	gen.revision, gen.configs = meta.Revision, meta.Configs
	entries, err := os.ReadDir(genDir)
	if err != nil {
		return gen, gone(err)
	}
	for _, e := range entries {
		if e.Name() == ".confo-mirror" {
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			return gen, fmt.Errorf("%s: unexpected file %q", target, e.Name())
		}
		if gen.files[name], err = os.ReadFile(filepath.Join(genDir, e.Name())); err != nil {
			return gen, gone(err)
		}
	}
	if now, err := os.Readlink(link); err != nil || now != target {
		return gen, errGenerationGone // swapped meanwhile: the files may be of two generations
	}
	return gen, nil
}

// checkGeneration returns what differs between gen and the store's
// namespace at gen's revision, or nil.
func checkGeneration(ctx context.Context, cli *clientv3.Client, prefix string, gen mirrorGeneration) ([]string, error) {
	if gen.revision <= 0 {
		return []string{fmt.Sprintf("generation %s records revision %d", gen.target, gen.revision)}, nil
	}
	nsPrefix := prefix + "/" + mirrorCrashNS + "/"
	resp, err := cli.Get(ctx, nsPrefix, clientv3.WithPrefix(), clientv3.WithRev(gen.revision))
	if err != nil {
		return nil, fmt.Errorf("get %s at revision %d: %w", nsPrefix, gen.revision, err)
	}
	var diffs []string
	stored := make(map[string]bool)
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), nsPrefix)
		stored[name] = true
		file, ok := gen.files[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s (revision %d in the store) has no file", name, kv.ModRevision))
		case !bytes.Equal(file, kv.Value):
			diffs = append(diffs, fmt.Sprintf("%s: file of %d bytes differs from the store's %d bytes at revision %d", name, len(file), len(kv.Value), kv.ModRevision))
		}
		if rev, ok := gen.configs[name]; ok && rev != kv.ModRevision {
			diffs = append(diffs, fmt.Sprintf("%s: .confo-mirror says revision %d, the store %d", name, rev, kv.ModRevision))
		}
	}
	for name := range gen.files {
		if !stored[name] {
			diffs = append(diffs, fmt.Sprintf("%s has a file but is not in the store", name))
		}
	}
	for name := range gen.configs {
		if _, ok := gen.files[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s is in .confo-mirror but has no file", name))
		}
	}
	slices.Sort(diffs)
	return diffs, nil
}

// TestMirrorCrash is the test described above. It logs the figures.
func TestMirrorCrash(t *testing.T) {
	if raw := os.Getenv(mirrorCrashEnv); raw != "" {
		mirrorCrashChild(t, raw)
		return
	}
	c := newCluster(t)
	ctx := t.Context()
	prefix := uniquePrefix("mirror-crash")
	dir := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	cli := rawClient(t, c)

	setup := newNamespaceManager(t, c, mirrorCrashBackend, prefix, mirrorCrashNS)
	for i := range mirrorCrashNames / 2 {
		require.NoError(t, setup.Set(fmt.Sprintf("c%02d", i), map[string]any{"seed": 0, "n": 0}))
	}
	require.NoError(t, setup.Persist(ctx))

	start := time.Now()
	rnd := rand.New(rand.NewPCG(1, 2))
	var acks, watching, noLink, midWrite int
	var sampleChecks, otherWrites atomic.Int64
	revisions := make(map[int64]bool) // distinct revisions left by the kills
	for round := range mirrorCrashRounds {
		cfg := mirrorCrashConfig{Endpoints: c.Endpoints(), Prefix: prefix, Dir: dir, Watch: round%2 == 1, Seed: uint64(round + 1)}
		if cfg.Watch {
			watching++
		}
		raw, err := json.Marshal(cfg)
		require.NoError(t, err)
		child := exec.CommandContext(ctx, exe, "-test.run=^TestMirrorCrash$", "-test.count=1")
		child.Env = append(os.Environ(), mirrorCrashEnv+"="+string(raw))
		stdout, err := child.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		child.Stderr = &stderr
		require.NoError(t, child.Start())
		ackc := make(chan int, 10000)
		go func() {
			defer close(ackc)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var n int
				if _, err := fmt.Sscanf(sc.Text(), "ACK %d", &n); err == nil {
					ackc <- n
				}
			}
		}()

		// While the child runs, check every generation caught current.
		stopSampling := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			checked := make(map[string]bool)
			for {
				select {
				case <-stopSampling:
					return
				default:
				}
				gen, err := readMirrorGeneration(dir)
				switch {
				case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errGenerationGone):
					continue
				case !assert.NoError(t, err, "round %d: reading the mirror", round):
					return
				case checked[gen.target]:
					time.Sleep(time.Millisecond)
					continue
				}
				checked[gen.target] = true
				diffs, err := checkGeneration(ctx, cli, prefix, gen)
				if !assert.NoError(t, err) {
					return
				}
				sampleChecks.Add(1)
				assert.Empty(t, diffs, "round %d: generation %s, caught current while the child ran, is not the store at revision %d", round, gen.target, gen.revision)
			}
		})

		// In the rounds where the child watches, another writer (this
		// process) changes configurations of its own meanwhile, which the
		// mirror follows through the watch.
		stopOther := make(chan struct{})
		var other sync.WaitGroup
		if cfg.Watch {
			pause := rand.New(rand.NewPCG(uint64(round), 3))
			other.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stopOther:
						return
					case <-time.After(time.Duration(1+pause.IntN(5)) * time.Millisecond):
					}
					key := fmt.Sprintf("%s/%s/other%d", prefix, mirrorCrashNS, i%4)
					if _, err := cli.Put(ctx, key, fmt.Sprintf(`{"round":%d,"i":%d}`, round, i)); !assert.NoError(t, err) {
						return
					}
					otherWrites.Add(1)
				}
			})
		}

		// Let it acknowledge a Persist, timing the first ones, then kill
		// it at a random moment of the next few.
		var first time.Time
		select {
		case _, ok := <-ackc:
			require.True(t, ok, "round %d: the child ended before its first Persist:\n%s", round, stderr.String())
			first = time.Now()
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no Persist of the child within 30s:\n%s", round, stderr.String())
		}
		time.Sleep(time.Duration(rnd.Int64N(int64(150 * time.Millisecond))))
		require.NoError(t, child.Process.Kill()) // SIGKILL on Unix
		killedAfter := time.Since(first)
		_ = child.Wait()
		close(stopOther)
		other.Wait()
		close(stopSampling)
		sampler.Wait()
		n := 0
		for range ackc {
			n++
		}
		acks += n + 1

		// The generation the kill left is the store at its revision.
		gen, err := readMirrorGeneration(dir)
		if errors.Is(err, fs.ErrNotExist) && len(revisions) == 0 {
			noLink++ // killed before the first generation was complete
			t.Logf("round %d: killed %v after the first acknowledgement, before any generation", round, killedAfter.Round(time.Millisecond))
			continue
		}
		require.NoError(t, err, "round %d: the mirror after the kill", round)
		diffs, err := checkGeneration(ctx, cli, prefix, gen)
		require.NoError(t, err)
		assert.Empty(t, diffs, "round %d: the generation %s left by the kill is not the store at revision %d", round, gen.target, gen.revision)
		revisions[gen.revision] = true
		// Generations beside the current one: one the kill interrupted,
		// or one complete but not yet swapped in or removed.
		others, err := os.ReadDir(filepath.Join(dir, mirrorCrashBackend, ".confo-generations", mirrorCrashNS))
		require.NoError(t, err)
		if len(others) > 1 {
			midWrite++
		}
		t.Logf("round %d (watch %v): killed %v after the first acknowledgement, %d acknowledged; mirror at revision %d, %d configurations",
			round, cfg.Watch, killedAfter.Round(time.Millisecond), n+1, gen.revision, len(gen.files))
	}

	// A manager whose store does not answer serves what the last kill left.
	last, err := readMirrorGeneration(dir)
	require.NoError(t, err)
	want := make(map[string]map[string]any, len(last.files))
	for name, raw := range last.files {
		var v map[string]any
		require.NoError(t, json.Unmarshal(raw, &v), "%s in the mirror", name)
		want[name] = normalizeJSON(v)
	}
	down := confo.New(confo.WithMirror(dir))
	defer down.Close()
	creds := confo.Credentials{"endpoints": []string{closedAddr(t)}, "prefix": prefix, "dial_timeout": "1s"}
	if err := down.LoadBackend(ctx, mirrorCrashBackend, confo.EtcdBackend, creds); err != nil {
		require.ErrorIs(t, err, confo.ErrStale)
	}
	require.NoError(t, down.ActivateBackend(mirrorCrashBackend))
	require.ErrorIs(t, down.UseNamespace(ctx, mirrorCrashNS), confo.ErrStale)
	all, err := down.GetAll()
	require.NoError(t, err)
	assert.Equal(t, want, all, "the manager serves the generation at revision %d", last.revision)

	t.Logf("%d kills (%d with the child watching while this process wrote %d times meanwhile) in %.1fs: child Persists acknowledged %d; every generation left equals the store at its revision (%d distinct revisions; %d kills left another generation beside the current one, %d came before the first generation); generations checked while the children ran %d",
		mirrorCrashRounds, watching, otherWrites.Load(), time.Since(start).Seconds(), acks, len(revisions), midWrite, noLink, sampleChecks.Load())
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
