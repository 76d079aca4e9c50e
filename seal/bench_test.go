package seal_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/seal"
)

// benchN is the number of configurations of the Reload benchmarks.
const benchN = 1000

// BenchmarkReload reloads a namespace of benchN configurations, each with
// one sealed field or none, through a manager whose seal layer holds the
// identity: Reload (the layer opens only envelopes it has not opened
// before) and FreshReader (a new manager loads the namespace: every
// envelope is opened), on the memory backend and on the in-process etcd.
func BenchmarkReload(b *testing.B) {
	for _, store := range []string{"memory", "etcd"} {
		for _, sealed := range []bool{false, true} {
			id, rcpt := newKey(b)
			var open func(testing.TB) *confo.Manager
			switch store {
			case "memory":
				mb := memory.New()
				require.NoError(b, mb.CreateNamespace(context.Background(), "db"))
				open = func(tb testing.TB) *confo.Manager { return manager(tb, mb, "db", id) }
			case "etcd":
				creds := etcdCreds(b)
				open = func(tb testing.TB) *confo.Manager { return etcdManager(tb, creds, []age.Identity{id}) }
			}
			fillBench(b, open(b), rcpt, sealed)
			name := fmt.Sprintf("store=%s/sealed=%t", store, sealed)
			b.Run("Reload/"+name, func(b *testing.B) {
				m := open(b)
				b.ReportAllocs()
				start, n := cpuTime(), 0
				for b.Loop() {
					if err := m.Reload(context.Background()); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
			})
			b.Run("FreshReader/"+name, func(b *testing.B) {
				b.ReportAllocs()
				start, n := cpuTime(), 0
				for b.Loop() {
					m := open(b)
					if _, err := m.GetField("c0000", "password"); err != nil {
						b.Fatal(err)
					}
					_ = m.Close()
					n++
				}
				b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
			})
		}
	}
}

// cpuTime returns the process's user and system CPU time, in nanoseconds:
// steadier than wall time on a shared machine (it includes the in-process
// etcd's work).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// fillBench stores benchN configurations through m, each with a password
// sealed to rcpt or plain.
func fillBench(b *testing.B, m *confo.Manager, rcpt string, sealed bool) {
	b.Helper()
	ctx := context.Background()
	bk, err := m.Layered(m.GetBackends().Active)
	require.NoError(b, err)
	require.NoError(b, bk.(*seal.Backend).SetRecipients(ctx, "db", []string{rcpt}, 0))
	for i := range benchN {
		var password any = fmt.Sprintf("password-%d", i)
		if sealed {
			password = seal.Secret(password)
		}
		require.NoError(b, m.Set(fmt.Sprintf("c%04d", i), map[string]any{"host": "db.internal", "port": 3306 + i, "password": password}))
	}
	require.NoError(b, m.Persist(ctx))
	require.NoError(b, m.Close())
}
