package bench

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/schema"
)

// realisticSchema describes the configurations of config(i) as a team
// would: types, ranges, formats, a pattern, required fields, no others.
// It is the schema package's own benchmark schema, read from its testdata.
var realisticSchema = func() string {
	b, err := os.ReadFile("../schema/testdata/realistic.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// schemaVariants are the three ways BenchmarkSchemaPersist writes: no
// schema layer, the layer with no schema stored (its guard and the write of
// schema.ValuesKey alone), and the layer with realisticSchema as the
// namespace's default.
var schemaVariants = []string{"none", "layer-only", "realistic"}

// BenchmarkSchemaPersist writes N new configurations into an empty
// namespace, as BenchmarkPersist's lib=confo does (Set of each, then
// Persist), in each of schemaVariants. Every iteration runs the three, in
// an order that rotates, so that the load of a shared machine falls on all
// of them alike; it reports the CPU time of the Sets and of the Persist of
// each variant apart, and the ratios of realistic to none (persist-x: the
// Persist alone; total-x: Sets and Persist). With realisticSchema every
// Set is validated and every commit guarded; a value is validated again at
// commit only if the schema that accepted it at Set is no longer the one
// in force.
func BenchmarkSchemaPersist(b *testing.B) {
	const n = 1000
	values := configs(n)
	b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
		compact(b)
		b.ReportAllocs()
		setCPU := make(map[string]int64)
		persistCPU := make(map[string]int64)
		persistAllocs := make(map[string]uint64)
		iter := 0
		for b.Loop() {
			for k := range schemaVariants {
				variant := schemaVariants[(iter+k)%len(schemaVariants)]
				set, persist, allocs := schemaPersistOnce(b, variant, fmt.Sprintf("schema-%s-%d", variant, iter), values)
				setCPU[variant] += set
				persistCPU[variant] += persist
				persistAllocs[variant] += allocs
			}
			iter++
		}
		for _, v := range schemaVariants {
			b.ReportMetric(float64(setCPU[v])/float64(iter), v+"-set-cpu-ns/op")
			b.ReportMetric(float64(persistCPU[v])/float64(iter), v+"-persist-cpu-ns/op")
			b.ReportMetric(float64(persistAllocs[v])/float64(iter), v+"-persist-allocs/op")
		}
		b.ReportMetric(float64(persistCPU["realistic"])/float64(persistCPU["none"]), "persist-x")
		b.ReportMetric(float64(setCPU["realistic"]+persistCPU["realistic"])/float64(setCPU["none"]+persistCPU["none"]), "total-x")
	})
}

// schemaPersistOnce sets values in the new namespace ns of a new manager
// of the given variant and persists them; it returns the CPU time of the
// Sets and of the Persist, and the heap allocations of the process during
// the Persist (the client's and the in-process server's: less noisy than
// its CPU time). Only the Sets and the Persist are timed.
func schemaPersistOnce(b *testing.B, variant, ns string, values []map[string]any) (set, persist int64, persistAllocs uint64) {
	b.StopTimer()
	defer b.StartTimer()
	ctx := b.Context()
	var opts []confo.Option
	if variant != "none" {
		opts = append(opts, confo.WithLayers(schema.Layer()))
	}
	m := confo.New(opts...)
	defer m.Close()
	if err := m.AddBackend("etcd", etcd.NewFromClient(cli, etcd.Config{Prefix: prefix})); err != nil {
		b.Fatal(err)
	}
	if err := m.ActivateBackend("etcd"); err != nil {
		b.Fatal(err)
	}
	if err := m.CreateNamespace(ctx, ns); err != nil {
		b.Fatal(err)
	}
	if variant == "realistic" {
		layered, err := m.Layered("etcd")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := schema.Of(layered).Set(ctx, ns, "", []byte(realisticSchema)); err != nil {
			b.Fatal(err)
		}
	}
	if err := m.UseNamespace(ctx, ns); err != nil {
		b.Fatal(err)
	}

	b.StartTimer()
	c0 := cpuTime()
	for i, v := range values {
		if err := m.Set(name(i), v); err != nil {
			b.Fatal(err)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	a1 := ms.Mallocs
	c1 := cpuTime()
	if err := m.Persist(ctx); err != nil {
		b.Fatal(err)
	}
	c2 := cpuTime()
	runtime.ReadMemStats(&ms)
	b.StopTimer()

	drop(ctx, b, ns)
	if _, err := cli.Delete(ctx, prefix+"//"+ns+"/", clientv3.WithPrefix()); err != nil { // its schema
		b.Error(err)
	}
	return c1 - c0, c2 - c1, ms.Mallocs - a1
}
