package main

import (
	"context"
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
// that etcd's endpoint.
func TestReadmeTranscripts(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	blocks := strings.Split(string(raw), readmeMarker)[1:]
	require.NotEmpty(t, blocks, "README.md marks its confo transcripts")
	for i, block := range blocks {
		block, _, ok := strings.Cut(block, "```\n")
		require.True(t, ok, "transcript %d ends", i+1)
		t.Run("transcript"+string(rune('1'+i)), func(t *testing.T) {
			require.Equal(t, block, runTranscript(t, block), "README.md transcript %d, as this build prints it", i+1)
		})
	}
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
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(transcript, "\n"), "\n") {
		cmdline, isCommand := strings.CutPrefix(line, "$ ")
		if !isCommand {
			continue // expected output: rebuilt from the run
		}
		out.WriteString(line + "\n")
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
		require.NoError(t, err, "$ %s\n%s", cmdline, got)
		out.WriteString(strings.ReplaceAll(string(got), endpoint, shown))
	}
	return out.String()
}
