package bench

import (
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/schema"
)

// realisticSchema describes the configurations of config(i) as a team
// would: types, ranges, formats, a pattern, required fields, no others.
const realisticSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "host": {"type": "string", "format": "hostname", "maxLength": 253},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "user": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,31}$"},
    "password_file": {"type": "string", "pattern": "^/"},
    "enabled": {"type": "boolean"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
    "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": true, "maxItems": 16},
    "max_conns": {"type": "integer", "minimum": 1, "maximum": 10000}
  },
  "required": ["host", "port", "user", "enabled"],
  "additionalProperties": false
}`

// BenchmarkSchemaPersist writes N new configurations into an empty
// namespace, as BenchmarkPersist's lib=confo does (Set of each, then
// Persist), with no schema layer (schema=none), with the layer but no
// schema stored (schema=layer-only: the guards alone, which halve the
// configurations per transaction), and with the layer and realisticSchema
// as the namespace's default (schema=realistic: every Set validated, every
// commit guarded; a value is validated again at commit only if the schema
// that accepted it at Set is no longer the one in force). Beside the total
// it reports the CPU time of the Sets and of the Persist apart.
func BenchmarkSchemaPersist(b *testing.B) {
	const n = 1000
	values := configs(n)
	for _, variant := range []string{"none", "layer-only", "realistic"} {
		b.Run(fmt.Sprintf("N=%d/schema=%s", n, variant), func(b *testing.B) {
			compact(b)
			ctx := b.Context()
			b.ReportAllocs()
			var t tally
			var setCPU, persistCPU int64
			iter := 0
			for b.Loop() {
				b.StopTimer()
				ns := fmt.Sprintf("schema-%s-%d", variant, iter)
				iter++
				var opts []confo.Option
				if variant != "none" {
					opts = append(opts, confo.WithLayers(schema.Layer()))
				}
				m := confo.New(opts...)
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

				t.begin()
				c0 := cpuTime()
				for i, v := range values {
					if err := m.Set(name(i), v); err != nil {
						b.Fatal(err)
					}
				}
				c1 := cpuTime()
				if err := m.Persist(ctx); err != nil {
					b.Fatal(err)
				}
				setCPU, persistCPU = setCPU+c1-c0, persistCPU+cpuTime()-c1
				t.end()

				b.StopTimer()
				m.Close()
				drop(ctx, b, ns)
				if _, err := cli.Delete(ctx, prefix+"//"+ns+"/", clientv3.WithPrefix()); err != nil { // its schema
					b.Error(err)
				}
				b.StartTimer()
			}
			t.report(b, true)
			if t.n > 0 {
				b.ReportMetric(float64(setCPU)/float64(t.n), "set-cpu-ns/op")
				b.ReportMetric(float64(persistCPU)/float64(t.n), "persist-cpu-ns/op")
			}
		})
	}
}
