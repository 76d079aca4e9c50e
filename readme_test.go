package confo_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeQuotesTheTour holds README.md's tour of the API equal to the
// body of Example_tour, which CI compiles and runs against its Output, so
// that the README cannot drift from the code.
func TestReadmeQuotesTheTour(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	const marker = "<!-- quoted from example_tour_test.go: Example_tour -->\n```go\n"
	_, block, ok := strings.Cut(string(readme), marker)
	require.True(t, ok, "README.md has the tour's marker")
	block, _, ok = strings.Cut(block, "\n```\n")
	require.True(t, ok, "the tour's code block ends")

	src, err := os.ReadFile("example_tour_test.go")
	require.NoError(t, err)
	_, body, ok := strings.Cut(string(src), "func Example_tour() {\n")
	require.True(t, ok)
	body, _, ok = strings.Cut(body, "\n}\n")
	require.True(t, ok)
	var lines []string
	for _, line := range strings.Split(body, "\n") {
		lines = append(lines, strings.TrimPrefix(line, "\t"))
	}
	require.Equal(t, strings.Join(lines, "\n"), block, "README.md quotes Example_tour's body as it is")
}
