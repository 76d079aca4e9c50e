package file_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/file"
)

// durabilityEnv, when set to a directory, makes TestDurabilityKilledMidPersist
// the child writer that the parent kills.
const durabilityEnv = "CONFO_FILE_DURABILITY_CHILD_DIR"

const (
	durNS      = "big"
	durConfigs = 6 // large configurations the child rewrites in each Persist
)

// bigValue is configuration i of generation gen: a padding of one digit,
// whose length and digit are recorded beside it so that a truncated or
// mixed file shows.
func bigValue(gen, i int) map[string]any {
	size := (128 << 10) + ((gen*7+i*13)%4)*(128<<10) // 128 KiB to 512 KiB
	return map[string]any{"gen": int64(gen), "size": int64(size), "pad": strings.Repeat(strconv.Itoa(gen%10), size)}
}

// checkBig fails unless raw is a whole configuration written by bigValue,
// and returns its generation.
func checkBig(t *testing.T, name string, raw []byte) int {
	t.Helper()
	var v struct {
		Gen, Size int
		Pad       string
	}
	require.NoError(t, json.Unmarshal(raw, &v), "%s: %d bytes do not decode: truncated or half-written", name, len(raw))
	require.Len(t, v.Pad, v.Size, "%s: padding of generation %d", name, v.Gen)
	require.Equal(t, strings.Repeat(strconv.Itoa(v.Gen%10), v.Size), v.Pad, "%s: padding mixes generations", name)
	return v.Gen
}

// durManager returns a manager on the file backend of dir, using ns.
func durManager(t testing.TB, dir, ns string) *confo.Manager {
	m := confo.New()
	require.NoError(t, m.LoadBackend(t.Context(), "files", confo.FileBackend, confo.Credentials{"config_path": dir, "namespaces": []string{ns}}))
	require.NoError(t, m.ActivateBackend("files"))
	require.NoError(t, m.UseNamespace(t.Context(), ns))
	return m
}

// sharedNS holds the counter both processes increment.
const sharedNS = "shared"

// durChild rewrites every large configuration in one Persist, printing
// "ACK <gen>" when it is acknowledged, then increments the shared counter
// in a Persist of its own, printing "INC <n>", again and again until it is
// killed (or a minute passes).
func durChild(t *testing.T, dir string) {
	m := durManager(t, dir, durNS)
	defer m.Close()
	counter := durManager(t, dir, sharedNS) // a second manager on the directory
	defer counter.Close()
	ctx := t.Context()
	gen := 0
	for i := range durConfigs {
		if v, err := m.Get(fmt.Sprintf("c%d", i)); err == nil {
			gen = max(gen, int(v["gen"].(int64)))
		}
	}
	deadline := time.Now().Add(time.Minute)
	for gen++; time.Now().Before(deadline); gen++ {
		for i := range durConfigs {
			require.NoError(t, m.Set(fmt.Sprintf("c%d", i), bigValue(gen, i)))
		}
		require.NoError(t, m.Persist(ctx), "nobody else writes the large configurations")
		fmt.Printf("ACK %d\n", gen)
		for {
			n, err := counter.GetField("counter", "n")
			require.NoError(t, err)
			require.NoError(t, counter.SetField("counter", "n", n.(int64)+1))
			err = counter.Persist(ctx)
			if err == nil {
				fmt.Printf("INC %d\n", n.(int64)+1)
				break
			}
			require.ErrorIs(t, err, confo.ErrConflict, "only the other process's increments get in the way")
			require.NoError(t, counter.Reload(ctx))
		}
	}
}

// TestDurabilityKilledMidPersist runs a child process that persists large
// configurations and kills it (SIGKILL) at a random moment, several times,
// while a manager of this process increments a counter in the same
// namespace through the guard. After each kill every configuration file
// decodes whole (never truncated or half-written; temporary files are
// ignored), every acknowledged Persist is on disk, and at the end no
// increment of either process is lost.
func TestDurabilityKilledMidPersist(t *testing.T) {
	if dir := os.Getenv(durabilityEnv); dir != "" {
		durChild(t, dir)
		return
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	m := durManager(t, dir, sharedNS)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.Set("counter", map[string]any{"n": 0}))
	require.NoError(t, m.Persist(t.Context()))

	// This process's manager: guarded increments, retried on conflict.
	var ownAcks, conflicts atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		pause := rand.New(rand.NewPCG(3, 4))
		for {
			select { // not so often that the child's long Persists always conflict
			case <-stop:
				return
			case <-time.After(time.Duration(50+pause.IntN(200)) * time.Millisecond):
			}
			v, err := m.GetField("counter", "n")
			if !assert.NoError(t, err) {
				return
			}
			if !assert.NoError(t, m.SetField("counter", "n", v.(int64)+1)) {
				return
			}
			err = m.Persist(t.Context())
			switch {
			case err == nil:
				ownAcks.Add(1)
			case errors.Is(err, confo.ErrConflict):
				conflicts.Add(1)
				if !assert.NoError(t, m.Reload(t.Context())) {
					return
				}
			default:
				assert.NoError(t, err)
				return
			}
		}
	})

	const rounds = 8
	rnd := rand.New(rand.NewPCG(1, 2))
	var childAcks, childIncs, lastGen, writing, midBatch, unacked int
	temps := make(map[string]bool)
	for round := range rounds {
		child := exec.CommandContext(t.Context(), exe, "-test.run=^TestDurabilityKilledMidPersist$", "-test.count=1")
		child.Env = append(os.Environ(), durabilityEnv+"="+dir)
		stdout, err := child.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		child.Stderr = &stderr
		require.NoError(t, child.Start())
		acks := make(chan int, 1000) // generations acknowledged
		var incs atomic.Int64
		go func() {
			defer close(acks)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var n int
				if _, err := fmt.Sscanf(sc.Text(), "ACK %d", &n); err == nil {
					acks <- n
				} else if _, err := fmt.Sscanf(sc.Text(), "INC %d", &n); err == nil {
					incs.Add(1)
				}
			}
		}()
		// Let it acknowledge two Persists, timing its cycle, then kill it
		// at a random moment of the next cycle.
		var acked [2]time.Time
		for i := range acked {
			select {
			case gen, ok := <-acks:
				require.True(t, ok, "the child ended before its Persist:\n%s", stderr.String())
				childAcks++
				lastGen = gen
				acked[i] = time.Now()
			case <-time.After(30 * time.Second):
				t.Fatalf("no Persist of the child within 30s:\n%s", stderr.String())
			}
		}
		cycle := acked[1].Sub(acked[0])
		time.Sleep(time.Duration(rnd.Int64N(int64(cycle))))
		killedAt := time.Since(acked[1])
		require.NoError(t, child.Process.Kill()) // SIGKILL on Unix
		_ = child.Wait()
		for gen := range acks { // acknowledged before the kill
			childAcks++
			lastGen = gen
		}
		childIncs += int(incs.Load())

		// Every configuration file is whole, and at least as new as the
		// last acknowledged Persist.
		entries, err := os.ReadDir(filepath.Join(dir, durNS))
		require.NoError(t, err)
		seen, newer, tempsBefore := 0, 0, len(temps)
		for _, e := range entries {
			name := e.Name()
			switch {
			case strings.HasSuffix(name, ".tmp"):
				temps[name] = true
				continue
			case !strings.HasSuffix(name, ".json"):
				continue
			}
			raw, err := os.ReadFile(filepath.Join(dir, durNS, name))
			require.NoError(t, err)
			gen := checkBig(t, name, raw)
			assert.GreaterOrEqual(t, gen, lastGen, "%s: acknowledged generation %d lost", name, lastGen)
			assert.LessOrEqual(t, gen, lastGen+1, "%s: from the future", name)
			if gen > lastGen {
				newer++
			}
			seen++
		}
		assert.Equal(t, durConfigs, seen)
		switch {
		case len(temps) > tempsBefore:
			writing++
		case newer > 0 && newer < durConfigs:
			midBatch++
		case newer == durConfigs:
			unacked++
		}
		t.Logf("round %d: killed %v after its second acknowledgement (cycle %v), after generation %d; %d of %d files of generation %d; %d temporary files",
			round, killedAt.Round(time.Millisecond), cycle.Round(time.Millisecond), lastGen, newer, durConfigs, lastGen+1, len(temps)-tempsBefore)

		// A new manager loads the namespace, ignoring temporary files.
		fresh := durManager(t, dir, durNS)
		n, err := fresh.ConfigCount()
		require.NoError(t, err)
		assert.Equal(t, durConfigs, n)
		require.NoError(t, fresh.Close())
	}
	close(stop)
	wg.Wait()

	raw, err := os.ReadFile(filepath.Join(dir, sharedNS, "counter.json"))
	require.NoError(t, err)
	var counter struct{ N int64 }
	require.NoError(t, json.Unmarshal(raw, &counter))
	acked := ownAcks.Load() + int64(childIncs)
	assert.GreaterOrEqual(t, counter.N, acked, "no acknowledged increment is lost")
	assert.LessOrEqual(t, counter.N, acked+rounds, "at most the in-flight increment of each killed child")
	t.Logf("%d kills (%d while writing a batch's temporary files, %d in the renames of a batch, leaving it partly applied, every file whole; %d after a Persist completed, before its acknowledgement); child Persists of %d large configurations acknowledged %d; increments acknowledged: child %d, this process %d (conflicts %d); counter %d; temporary files left by kills %d (ignored)",
		rounds, writing, midBatch, unacked, durConfigs, childAcks, childIncs, ownAcks.Load(), conflicts.Load(), counter.N, len(temps))
}
