package bench

import (
	"errors"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
)

// BenchmarkWatch measures how long a change takes to reach another reader:
// confo from the start of Persist of one changed configuration on one
// Manager to its Event on another Manager's Watch; raw from the start of a
// clientv3 Put to the event on a clientv3 Watch of the prefix. p50-ns and
// p99-ns are the latencies' percentiles; ns/op is the whole round.
func BenchmarkWatch(b *testing.B) {
	const n = 100
	ns := seed(b, n)

	b.Run("lib=confo", func(b *testing.B) {
		ctx := b.Context()
		writer, err := loadManager(ctx, ns)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { writer.Close() })
		reader, err := loadManager(ctx, ns)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { reader.Close() })
		events, err := reader.Watch(ctx, ns)
		if errors.Is(err, errors.ErrUnsupported) {
			b.Skip("the etcd backend does not implement confo.Watcher yet:", err)
		}
		if err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		k := 0
		for b.Loop() {
			cfg := name(k % n)
			if err := writer.SetField(cfg, "max_conns", 5000+k); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := writer.Persist(ctx); err != nil {
				b.Fatal(err)
			}
			for ev := range events {
				if ev.Name == cfg && ev.Type == confo.EventPut {
					break
				}
			}
			lat = append(lat, time.Since(start))
			k++
		}
		reportLatency(b, lat)
	})

	b.Run("lib=raw", func(b *testing.B) {
		ctx := b.Context()
		keyPrefix := prefix + "/watch-raw/"
		wch := cli.Watch(ctx, keyPrefix, clientv3.WithPrefix())
		b.Cleanup(func() { cli.Delete(ctx, keyPrefix, clientv3.WithPrefix()) })
		var lat []time.Duration
		k := 0
		for b.Loop() {
			key := keyPrefix + name(k%n)
			start := time.Now()
			if _, err := cli.Put(ctx, key, "{}"); err != nil {
				b.Fatal(err)
			}
		wait:
			for resp := range wch {
				if err := resp.Err(); err != nil {
					b.Fatal(err)
				}
				for _, ev := range resp.Events {
					if string(ev.Kv.Key) == key {
						break wait
					}
				}
			}
			lat = append(lat, time.Since(start))
			k++
		}
		reportLatency(b, lat)
	})
}

// reportLatency reports the 50th and 99th percentiles of lat.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}
