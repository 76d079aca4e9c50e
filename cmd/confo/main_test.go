package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/embedetcd"
)

// The tests drive the built binary, as a person or a script would, against
// an in-process etcd and against the file backend.
var (
	bin           string // the confo binary built by TestMain
	etcdEndpoints string // of the in-process etcd TestMain starts
	prefixes      atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "confo-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	// The binary is built without the race detector, even when the tests
	// run with it: its concurrency is the library's, tested under -race in
	// its own packages, and a race-enabled binary starts several times
	// slower, which the ~150 runs here would pay each time.
	bin = filepath.Join(dir, "confo")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build of the confo command failed:", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := embedetcd.Start(ctx, filepath.Join(dir, "etcd"))
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "in-process etcd:", err)
		return 1
	}
	defer srv.Close()
	etcdEndpoints = strings.Join(srv.Endpoints(), ",")
	return m.Run()
}

// target is one store the tests run commands against.
type target struct {
	t     testing.TB
	kind  string
	flags []string // selecting the store
	env   []string // added to the child's environment
}

// etcdStore is a fresh prefix of the in-process etcd.
func etcdStore(t testing.TB) *target {
	prefix := fmt.Sprintf("/cli%d", prefixes.Add(1))
	return &target{t: t, kind: "etcd", flags: []string{"--backend", "etcd", "--endpoints", etcdEndpoints, "--prefix", prefix}}
}

// fileStore is a fresh directory.
func fileStore(t testing.TB) *target {
	return &target{t: t, kind: "file", flags: []string{"--backend", "file", "--config-path", t.TempDir()}}
}

// stores runs test on both kinds of store, in parallel.
func stores(t *testing.T, test func(t *testing.T, s *target)) {
	for _, open := range []func(testing.TB) *target{etcdStore, fileStore} {
		s := open(t)
		t.Run(s.kind, func(t *testing.T) {
			t.Parallel()
			s.t = t
			test(t, s)
		})
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// childEnv is the test's environment without the variables that select a
// store, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONFO_") && !strings.HasPrefix(kv, "EDITOR=") && !strings.HasPrefix(kv, "VISUAL=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// exec runs the binary with args (no store flags), stdin and env.
func execConfo(t testing.TB, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run confo %q: %v", args, err)
		code = ee.ExitCode()
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// run runs confo against s with args and empty stdin.
func (s *target) run(args ...string) result {
	s.t.Helper()
	return s.runIn("", args...)
}

// runIn runs confo against s with args and stdin.
func (s *target) runIn(stdin string, args ...string) result {
	s.t.Helper()
	return execConfo(s.t, stdin, s.env, append(append([]string{}, s.flags...), args...)...)
}

// ok runs confo against s, requires exit 0 and returns stdout.
func (s *target) ok(args ...string) string {
	s.t.Helper()
	r := s.run(args...)
	require.Equal(s.t, 0, r.code, "confo %q: stderr:\n%s", args, r.stderr)
	return r.stdout
}

// fails runs confo against s, requires exit code and the message on
// stderr, and returns stderr.
func (s *target) fails(code int, message string, args ...string) string {
	s.t.Helper()
	r := s.run(args...)
	require.Equal(s.t, code, r.code, "confo %q: stdout:\n%s\nstderr:\n%s", args, r.stdout, r.stderr)
	require.Contains(s.t, r.stderr, message, "confo %q", args)
	require.True(s.t, strings.HasPrefix(r.stderr, "confo: "), "stderr starts with \"confo: \": %q", r.stderr)
	return r.stderr
}
