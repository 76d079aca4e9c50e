package bench

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/knadh/koanf/v2"
)

// lookups returns 1024 (configuration, field) pairs spread over n
// configurations and the scalar fields, the same for every library.
func lookups(n int) (names, fields []string) {
	scalars := []string{"host", "port", "user", "enabled", "timeout", "max_conns", "password_file"}
	for j := range 1024 {
		names = append(names, name(j*7919%n))
		fields = append(fields, scalars[j%len(scalars)])
	}
	return names, fields
}

// BenchmarkGetField reads one field of one configuration, cycling through
// 1024 lookups spread over the namespace, in one goroutine and with
// b.RunParallel (GOMAXPROCS goroutines): map is the floor, two lookups in
// a plain map[string]map[string]any that nothing may change; confo is
// GetField on a Manager loaded from etcd; koanf Get and viper Get read the
// same configurations loaded as a nested map ("<name>.<field>"). cpu-ns/op is the process's CPU time per
// lookup: on a loaded machine ns/op includes waiting for a CPU, cpu-ns/op
// does not. Lookups take no lock, so with two free cores the parallel
// variant's speedup is about 2 * cpu-ns/op(one goroutine) / cpu-ns/op
// (parallel).
func BenchmarkGetField(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		names, fields := lookups(n)
		keys := make([]string, len(names))
		for i := range names {
			keys[i] = names[i] + "." + fields[i]
		}

		m, err := loadManager(b.Context(), seed(b, n))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		k := koanfData(b, n)
		v := viperData(b, n)
		plain := plainData(b, n)

		get := map[string]func(i int) (any, error){
			"map": func(i int) (any, error) {
				if x, ok := plain[names[i]][fields[i]]; ok {
					return x, nil
				}
				return nil, errMissing
			},
			"confo": func(i int) (any, error) { return m.GetField(names[i], fields[i]) },
			"koanf": func(i int) (any, error) {
				if x := k.Get(keys[i]); x != nil {
					return x, nil
				}
				return nil, errMissing
			},
			"viper": func(i int) (any, error) {
				if x := v.Get(keys[i]); x != nil {
					return x, nil
				}
				return nil, errMissing
			},
		}
		for _, lib := range []string{"map", "confo", "koanf", "viper"} {
			fn := get[lib]
			b.Run("lib="+lib, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				cpu := cpuTime()
				for b.Loop() {
					if _, err := fn(i & 1023); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(i), "cpu-ns/op")
			})
			b.Run("lib="+lib+"-parallel", func(b *testing.B) {
				b.ReportAllocs()
				var start, ops atomic.Int64
				cpu := cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					i := int(start.Add(512))
					n := 0
					for pb.Next() {
						if _, err := fn(i & 1023); err != nil {
							b.Error(err)
							return
						}
						i++
						n++
					}
					ops.Add(int64(n))
				})
				b.ReportMetric(float64(cpuTime()-cpu)/float64(ops.Load()), "cpu-ns/op")
			})
		}
	})
}

var errMissing = errors.New("missing")

// mapProvider is a koanf.Provider of a nested map.
type mapProvider map[string]any

func (p mapProvider) ReadBytes() ([]byte, error)    { return nil, errors.New("not supported") }
func (p mapProvider) Read() (map[string]any, error) { return p, nil }

// plainData returns configurations 0..n-1 as decoded by encoding/json.
func plainData(tb testing.TB, n int) map[string]map[string]any {
	tb.Helper()
	out := make(map[string]map[string]any, n)
	for i := range n {
		raw, err := json.Marshal(config(i))
		if err != nil {
			tb.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			tb.Fatal(err)
		}
		out[name(i)] = obj
	}
	return out
}

// koanfData returns a koanf holding configurations 0..n-1 as a nested map
// of their JSON decoding.
func koanfData(tb testing.TB, n int) *koanf.Koanf {
	tb.Helper()
	doc := make(map[string]any, n)
	for i := range n {
		raw, err := json.Marshal(config(i))
		if err != nil {
			tb.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			tb.Fatal(err)
		}
		doc[name(i)] = obj
	}
	k := koanf.New(".")
	if err := k.Load(mapProvider(doc), nil); err != nil {
		tb.Fatal(err)
	}
	return k
}
