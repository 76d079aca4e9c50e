package etcd_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
)

// BenchmarkWatchPropagation measures how long a change takes to reach
// another manager: from the start of PersistConfig on a writer (its own
// client, on member 0) to the event on a watcher (its own client, on the
// last member), one change at a time. It reports the 50th and 99th
// percentiles of that latency (p50-µs, p99-µs) and of the Persist alone
// (persist-p50-µs): the difference is the watch's share.
//
//	go test -run '^$' -bench WatchPropagation -benchtime 2000x ./backends/etcd/
func BenchmarkWatchPropagation(b *testing.B) {
	for _, size := range []int{1, 3} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			integration.BeforeTestExternal(b)
			c := integration.NewCluster(b, &integration.ClusterConfig{Size: size, UseTCP: true})
			b.Cleanup(func() { c.Terminate(b) })
			const prefix, ns = "/bench", "database"
			writer := memberManager(b, c, 0, prefix, ns)
			watcher := memberManager(b, c, size-1, prefix, ns)
			ch, err := watcher.Watch(b.Context(), ns)
			if err != nil {
				b.Fatal(err)
			}

			var total, persist []time.Duration
			i := int64(0)
			for b.Loop() {
				i++
				if err := writer.SetField("latency", "i", i); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := writer.PersistConfig(b.Context(), ns, "latency"); err != nil {
					b.Fatal(err)
				}
				persisted := time.Since(start)
				if err := waitFor(ch, i); err != nil {
					b.Fatal(err)
				}
				total = append(total, time.Since(start))
				persist = append(persist, persisted)
			}
			b.ReportMetric(micros(percentile(total, 50)), "p50-µs")
			b.ReportMetric(micros(percentile(total, 99)), "p99-µs")
			b.ReportMetric(micros(percentile(persist, 50)), "persist-p50-µs")
		})
	}
}

// waitFor reads events until the one that sets field i to want.
func waitFor(ch <-chan confo.Event, want int64) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return fmt.Errorf("watch closed")
			}
			if ev.Name == "latency" && ev.Value["i"] == want {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no event for i=%d within 10s", want)
		}
	}
}

// percentile returns the p-th percentile of d (nearest rank), sorting d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := (len(d)*p + 99) / 100
	return d[max(i-1, 0)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
