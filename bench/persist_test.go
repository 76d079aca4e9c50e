package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkPersist writes n new configurations into an empty namespace.
//
// Every variant starts from the same Go values (map[string]any) and ends
// with them stored as JSON, one key per configuration, so JSON encoding
// counts on every side: confo times Set of each configuration (which copies
// and normalizes it) and Persist; raw times json.Marshal of each value and
// transactions of 128 puts; raw-guarded is raw with Confo's guard (each put
// compared against the key's ModRevision, as Confo's backend sends it).
// Creating the namespace and the manager, and deleting the keys after each
// iteration, are not timed.
func BenchmarkPersist(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		values := configs(n)
		b.Run("lib=confo", func(b *testing.B) {
			compact(b)
			ctx := b.Context()
			b.ReportAllocs()
			var t tally
			iter := 0
			for b.Loop() {
				b.StopTimer()
				ns := fmt.Sprintf("persist-%d-%d", n, iter)
				iter++
				m := newManager(b)
				if err := m.CreateNamespace(ctx, ns); err != nil {
					b.Fatal(err)
				}
				if err := m.UseNamespace(ctx, ns); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()

				t.begin()
				for i, v := range values {
					if err := m.Set(name(i), v); err != nil {
						b.Fatal(err)
					}
				}
				if err := m.Persist(ctx); err != nil {
					b.Fatal(err)
				}
				t.end()

				b.StopTimer()
				m.Close()
				drop(ctx, b, ns)
				b.StartTimer()
			}
			t.report(b, true)
		})
		for _, guarded := range []bool{false, true} {
			lib := "lib=raw"
			if guarded {
				lib = "lib=raw-guarded"
			}
			b.Run(lib, func(b *testing.B) {
				compact(b)
				ctx := b.Context()
				b.ReportAllocs()
				var t tally
				iter := 0
				for b.Loop() {
					b.StopTimer()
					ns := fmt.Sprintf("raw-persist-%d-%d", n, iter)
					iter++
					b.StartTimer()

					t.begin()
					if err := rawPut(ctx, nsPrefix(ns), values, nil, guarded); err != nil {
						b.Fatal(err)
					}
					t.end()

					b.StopTimer()
					drop(ctx, b, ns)
					b.StartTimer()
				}
				t.report(b, true)
			})
		}
	})
}

// rawPut writes values[i] for i in idx (every index when idx is nil) under
// keyPrefix+name(i), encoded with encoding/json, in transactions of at most
// 128 puts. guarded adds Confo's guard: each put happens only if the key is
// absent, and the failure branch reads the keys back.
func rawPut(ctx context.Context, keyPrefix string, values []map[string]any, idx []int, guarded bool) error {
	count := len(values)
	if idx != nil {
		count = len(idx)
	}
	ops := make([]clientv3.Op, 0, txnOps)
	var cmps []clientv3.Cmp
	var reads []clientv3.Op
	for j := 0; j < count; j += txnOps {
		ops, cmps, reads = ops[:0], cmps[:0], reads[:0]
		for k := j; k < min(j+txnOps, count); k++ {
			i := k
			if idx != nil {
				i = idx[k]
			}
			raw, err := json.Marshal(values[i])
			if err != nil {
				return err
			}
			key := keyPrefix + name(i)
			ops = append(ops, clientv3.OpPut(key, string(raw)))
			if guarded {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", 0))
				reads = append(reads, clientv3.OpGet(key, clientv3.WithKeysOnly()))
			}
		}
		resp, err := cli.Txn(ctx).If(cmps...).Then(ops...).Else(reads...).Commit()
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return fmt.Errorf("raw put under %s: guard failed", keyPrefix)
		}
	}
	return nil
}

// drop deletes namespace ns.
func drop(ctx context.Context, b *testing.B, ns string) {
	b.Helper()
	if _, err := cli.Delete(ctx, nsPrefix(ns), clientv3.WithPrefix()); err != nil {
		b.Error(err)
	}
	if _, err := cli.Delete(ctx, prefix+"//"+ns); err != nil {
		b.Error(err)
	}
}

// BenchmarkPersistChanged changes one field of 1% of the n configurations
// of a stored namespace and persists: Confo times SetField on each and
// Persist, raw times the same change to its own copy of each value,
// json.Marshal of it, and one transaction of those puts. puts/op shows that
// Confo sends only the changed configurations.
func BenchmarkPersistChanged(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		changed := max(n/100, 1)
		// The changed configurations of iteration k: every 100th, shifted by
		// k, so that consecutive iterations change different ones.
		pick := func(k int) []int {
			idx := make([]int, changed)
			for j := range idx {
				idx[j] = (j*100 + k) % n
			}
			return idx
		}

		b.Run("lib=confo", func(b *testing.B) {
			compact(b)
			ctx := b.Context()
			ns := fmt.Sprintf("changed-%d", n)
			if err := write(ctx, ns, n); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { drop(context.Background(), b, ns) })
			m, err := loadManager(ctx, ns)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close() })
			b.ReportAllocs()
			var t tally
			k := 0
			for b.Loop() {
				t.begin()
				for _, i := range pick(k) {
					if err := m.SetField(name(i), "max_conns", 1000+k); err != nil {
						b.Fatal(err)
					}
				}
				if err := m.Persist(ctx); err != nil {
					b.Fatal(err)
				}
				t.end()
				k++
			}
			t.report(b, true)
		})

		b.Run("lib=raw", func(b *testing.B) {
			compact(b)
			ctx := b.Context()
			ns := fmt.Sprintf("raw-changed-%d", n)
			values := configs(n)
			if err := rawPut(ctx, nsPrefix(ns), values, nil, false); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { drop(context.Background(), b, ns) })
			b.ReportAllocs()
			var t tally
			k := 0
			for b.Loop() {
				t.begin()
				idx := pick(k)
				for _, i := range idx {
					values[i]["max_conns"] = 1000 + k
				}
				if err := rawPut(ctx, nsPrefix(ns), values, idx, false); err != nil {
					b.Fatal(err)
				}
				t.end()
				k++
			}
			t.report(b, true)
		})

		// raw-guarded is raw with Confo's guard: each put compared against
		// the key's ModRevision, tracked from the transactions' replies.
		b.Run("lib=raw-guarded", func(b *testing.B) {
			compact(b)
			ctx := b.Context()
			ns := fmt.Sprintf("raw-guarded-changed-%d", n)
			values := configs(n)
			if err := rawPut(ctx, nsPrefix(ns), values, nil, false); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { drop(context.Background(), b, ns) })
			resp, err := cli.Get(ctx, nsPrefix(ns), clientv3.WithPrefix(), clientv3.WithKeysOnly())
			if err != nil {
				b.Fatal(err)
			}
			revs := make(map[string]int64, len(resp.Kvs))
			for _, kv := range resp.Kvs {
				revs[string(kv.Key)] = kv.ModRevision
			}
			b.ReportAllocs()
			var t tally
			k := 0
			for b.Loop() {
				t.begin()
				idx := pick(k)
				ops := make([]clientv3.Op, 0, len(idx))
				cmps := make([]clientv3.Cmp, 0, len(idx))
				for _, i := range idx {
					values[i]["max_conns"] = 1000 + k
					raw, err := json.Marshal(values[i])
					if err != nil {
						b.Fatal(err)
					}
					key := nsPrefix(ns) + name(i)
					ops = append(ops, clientv3.OpPut(key, string(raw)))
					cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", revs[key]))
				}
				resp, err := cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
				if err != nil {
					b.Fatal(err)
				}
				if !resp.Succeeded {
					b.Fatal("raw guarded put: guard failed")
				}
				for _, i := range idx {
					revs[nsPrefix(ns)+name(i)] = resp.Header.Revision
				}
				t.end()
				k++
			}
			t.report(b, true)
		})
	})
}
