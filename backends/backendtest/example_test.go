package backendtest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/backendtest"
	"github.com/confo-go/confo/backends/file"
)

// A backend package runs the suite once, from a test function. This one is
// the file backend's: each store is a directory of its own, and PutRaw
// writes a file as an editor would.
func Example() {
	testConformance := func(t *testing.T) {
		root := t.TempDir()
		backendtest.Run(t, backendtest.Harness{
			Open: func(t testing.TB, store string) confo.Backend {
				b, err := file.New(filepath.Join(root, store))
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			PutRaw: func(t testing.TB, store, ns, name string, raw []byte) {
				path := filepath.Join(root, store, ns, name+".json")
				if err := os.WriteFile(path, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		})
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T)
}
