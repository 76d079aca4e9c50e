package main

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workerEnv makes the test binary run as a worker process.
const workerEnv = "CONFO_SCALE_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		for i, a := range os.Args {
			if a == "-worker" && i+1 < len(os.Args) {
				var cfg workerConfig
				if err := json.Unmarshal([]byte(os.Args[i+1]), &cfg); err != nil {
					fmt.Fprintln(os.Stderr, "scale worker:", err)
					os.Exit(2)
				}
				if err := runWorker(cfg); err != nil {
					fmt.Fprintln(os.Stderr, "scale worker:", err)
					os.Exit(1)
				}
				os.Exit(0)
			}
		}
		fmt.Fprintln(os.Stderr, "scale worker: no -worker argument")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// TestSmoke is the small run of `make scale` that CI makes: 50 watching
// managers in two processes against Debian's etcd, directly with a client
// each, and through the gRPC proxy sharing a client per process with
// presence on. Every manager must get every change.
func TestSmoke(t *testing.T) {
	for name, o := range map[string]options{
		"direct":         {Managers: 50, Procs: 2, Changes: 3},
		"proxy-presence": {Managers: 50, Procs: 2, Changes: 3, Shared: true, Proxy: true, Presence: 500 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			o.Pause = 50 * time.Millisecond
			o.Wait = 60 * time.Second
			res, err := run(t.Context(), o, os.Args[0], []string{workerEnv + "=1"}, testLog{t})
			require.NoError(t, err)
			t.Log(res)
			assert.Equal(t, 50, res.loaded)
			assert.Zero(t, res.failed)
			assert.Zero(t, res.missed)
			assert.Equal(t, 50*3, res.delivered)
			if o.Presence > 0 {
				// At most one write per manager per interval, plus the one
				// each may have in flight.
				intervals := int64(res.changePhase/o.Presence) + 2
				assert.LessOrEqual(t, res.presenceWrites, 50*intervals)
				assert.Positive(t, res.reporterWrites)
			}
		})
	}
}

// testLog writes progress to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(string(b))
	return len(b), nil
}
