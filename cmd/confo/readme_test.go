package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/embedetcd"
)

// readmeMarker precedes each console block of README.md that this test
// runs: a shell transcript that claims to be real is produced by running.
const readmeMarker = "<!-- run by cmd/confo TestReadmeTranscripts -->\n```console\n"

// TestReadmeTranscripts runs every marked transcript of README.md, command
// by command, with this build of confo on PATH, in an empty directory,
// against a fresh etcd (so that revisions are those shown), and requires
// the output to be the README's. The README's 127.0.0.1:2379 stands for
// that etcd's endpoint. What differs from run to run is compared in a
// normalized form: age keys (the README's keys stand for those keygen
// makes) and sealed envelopes (their recipients' fingerprint; the README
// shortens the rest to 40 characters and "…").
func TestReadmeTranscripts(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	blocks := strings.Split(string(raw), readmeMarker)[1:]
	require.NotEmpty(t, blocks, "README.md marks its confo transcripts")
	for i, block := range blocks {
		block, _, ok := strings.Cut(block, "```\n")
		require.True(t, ok, "transcript %d ends", i+1)
		t.Run(fmt.Sprintf("transcript%d", i+1), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, normalize(block), normalize(runTranscript(t, block)), "README.md transcript %d, as this build prints it", i+1)
		})
	}
}

var (
	ageKey   = regexp.MustCompile(`age1[0-9a-z]{58}`)
	envelope = regexp.MustCompile(`confo:sealed:v1:([0-9a-f]+):([A-Za-z0-9+/]{40})[A-Za-z0-9+/=]*…?`)
)

// normalize replaces age keys and envelope fingerprints by their order of
// first appearance, and shortens envelopes as the README does.
func normalize(transcript string) string {
	names, counts := map[string]string{}, map[string]int{}
	name := func(kind, s string) string {
		if _, ok := names[s]; !ok {
			counts[kind]++
			names[s] = fmt.Sprintf("<%s%d>", kind, counts[kind])
		}
		return names[s]
	}
	transcript = ageKey.ReplaceAllStringFunc(transcript, func(k string) string { return name("key", k) })
	return envelope.ReplaceAllStringFunc(transcript, func(e string) string {
		m := envelope.FindStringSubmatch(e)
		return "confo:sealed:v1:" + name("fp", m[1]) + ":" + m[2] + "…"
	})
}

// runTranscript runs the "$ " lines of a transcript and returns the
// transcript they print.
func runTranscript(t *testing.T, transcript string) string {
	t.Helper()
	srv, err := embedetcd.Start(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	endpoint := strings.TrimPrefix(srv.Endpoints()[0], "http://")
	const shown = "127.0.0.1:2379"

	work := t.TempDir()
	env := childEnv("PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"))
	exportLine := regexp.MustCompile(`^export ([A-Z_]+)=(\S+)$`)
	keys := map[string]string{} // a key the README shows -> the key keygen made
	var out strings.Builder
	lines := strings.Split(strings.TrimSuffix(transcript, "\n"), "\n")
	for i, line := range lines {
		cmdline, isCommand := strings.CutPrefix(line, "$ ")
		if !isCommand {
			continue // expected output: rebuilt from the run
		}
		for readme, made := range keys {
			cmdline = strings.ReplaceAll(cmdline, readme, made)
		}
		out.WriteString("$ " + cmdline + "\n")
		cmdline = strings.ReplaceAll(cmdline, shown, endpoint)
		if m := exportLine.FindStringSubmatch(cmdline); m != nil {
			env = append(env, m[1]+"="+m[2])
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", "exec 2>&1\n"+cmdline)
		cmd.Dir, cmd.Env = work, env
		got, err := cmd.Output()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) { // a command may fail: its message is compared
			require.NoError(t, err, "$ %s\n%s", cmdline, got)
		}
		printed := strings.ReplaceAll(string(got), endpoint, shown)
		out.WriteString(printed)
		// The keys this command printed stand for those the README shows
		// in the same place.
		var expected []string
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "$ ") {
				break
			}
			expected = append(expected, l)
		}
		made, shownKeys := ageKey.FindAllString(printed, -1), ageKey.FindAllString(strings.Join(expected, "\n"), -1)
		for j := range min(len(made), len(shownKeys)) {
			keys[shownKeys[j]] = made[j]
		}
	}
	return out.String()
}
