package bench

import (
	"encoding/json"
	"runtime"
	"slices"
	"testing"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// BenchmarkMemory measures the heap a loaded namespace of n configurations
// keeps alive: runtime.MemStats.HeapAlloc after a GC, with the reader kept
// alive, minus HeapAlloc after a GC before loading. heap-B is that delta and
// x-json its ratio to the JSON bytes of the values. confo is a Manager using
// the namespace; confo-memstore is the same Manager loading the same values
// from Confo's memory backend, so that no etcd work runs while it is
// measured; raw is the map[string]map[string]any of json.Unmarshal that the
// raw Reload baseline builds. The time per op is not meaningful
// (two GCs per iteration).
func BenchmarkMemory(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		ns := seed(b, n)
		jsonSize := float64(jsonBytes(n))
		measure := func(b *testing.B, load func() (any, func())) {
			var deltas []float64
			var ms runtime.MemStats
			for b.Loop() {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				before := ms.HeapAlloc
				held, release := load()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				deltas = append(deltas, float64(ms.HeapAlloc)-float64(before))
				runtime.KeepAlive(held)
				release()
			}
			slices.Sort(deltas)
			heap := deltas[len(deltas)/2]
			b.ReportMetric(heap, "heap-B")
			b.ReportMetric(heap/jsonSize, "x-json")
			b.ReportMetric(jsonSize, "json-B")
		}
		b.Run("lib=confo", func(b *testing.B) {
			measure(b, func() (any, func()) {
				m, err := loadManager(b.Context(), ns)
				if err != nil {
					b.Fatal(err)
				}
				return m, func() { m.Close() }
			})
		})
		b.Run("lib=confo-memstore", func(b *testing.B) {
			store := memory.New()
			if err := store.CreateNamespace(b.Context(), ns); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				raw, err := json.Marshal(config(i))
				if err != nil {
					b.Fatal(err)
				}
				store.Put(ns, name(i), raw)
			}
			measure(b, func() (any, func()) {
				m := confo.New()
				if err := m.AddBackend("memory", store); err != nil {
					b.Fatal(err)
				}
				if err := m.ActivateBackend("memory"); err != nil {
					b.Fatal(err)
				}
				if err := m.UseNamespace(b.Context(), ns); err != nil {
					b.Fatal(err)
				}
				return m, func() {} // Close would close the shared store
			})
		})
		b.Run("lib=raw", func(b *testing.B) {
			measure(b, func() (any, func()) {
				all, err := rawLoad(b.Context(), nsPrefix(ns), true)
				if err != nil {
					b.Fatal(err)
				}
				return all, func() {}
			})
		})
	})
}
