package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// sizes are the numbers of configurations of one namespace.
var sizes = []int{100, 1000, 10000}

// txnOps is etcd's default --max-txn-ops: the raw baseline writes in
// transactions of this many puts, as Confo does.
const txnOps = 128

// pageSize is how many keys one range request reads, for Confo (the etcd
// backend's default) and the raw baseline alike.
const pageSize = etcd.DefaultPageSize

// name returns the name of the i-th configuration.
func name(i int) string { return fmt.Sprintf("cfg-%05d", i) }

// config returns the i-th configuration: 8 fields, about 200 bytes of JSON,
// the same on every run.
func config(i int) map[string]any {
	return map[string]any{
		"host":          fmt.Sprintf("db-%05d.eu-west-1.internal.example.com", i),
		"port":          5432 + i%100,
		"user":          fmt.Sprintf("svc_%05d", i),
		"password_file": fmt.Sprintf("/run/secrets/db-%05d/password", i),
		"enabled":       i%3 != 0,
		"timeout":       float64(i%10) + 0.5,
		"tags":          []any{"primary", "shard-" + strconv.Itoa(i%16)},
		"max_conns":     16 + i%64,
	}
}

// configs returns configurations 0..n-1.
func configs(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = config(i)
	}
	return out
}

// jsonBytes returns the size of configurations 0..n-1 encoded as Confo
// stores them.
func jsonBytes(n int) int {
	total := 0
	for i := range n {
		raw, err := json.Marshal(config(i))
		if err != nil {
			panic(err)
		}
		total += len(raw)
	}
	return total
}

// nsPrefix is the etcd key prefix of namespace ns, as the etcd backend lays
// it out.
func nsPrefix(ns string) string { return prefix + "/" + ns + "/" }

// newManager returns a Manager on the shared client with the etcd backend
// active. The caller closes it.
func newManager(tb testing.TB) *confo.Manager {
	tb.Helper()
	m := confo.New()
	if err := m.AddBackend("etcd", etcd.NewFromClient(cli, etcd.Config{Prefix: prefix})); err != nil {
		tb.Fatal(err)
	}
	if err := m.ActivateBackend("etcd"); err != nil {
		tb.Fatal(err)
	}
	return m
}

// loadManager returns a fresh Manager using namespace ns, read from etcd.
func loadManager(ctx context.Context, ns string) (*confo.Manager, error) {
	m := confo.New()
	if err := m.AddBackend("etcd", etcd.NewFromClient(cli, etcd.Config{Prefix: prefix})); err != nil {
		return nil, err
	}
	if err := m.ActivateBackend("etcd"); err != nil {
		return nil, err
	}
	if err := m.UseNamespace(ctx, ns); err != nil {
		return nil, err
	}
	return m, nil
}

var seeded sync.Map // namespace -> *sync.Once

// seed writes the namespace "load-<n>" of n configurations once per run,
// with Confo, and returns its name. The read benchmarks share it.
func seed(tb testing.TB, n int) string {
	tb.Helper()
	ns := "load-" + strconv.Itoa(n)
	once, _ := seeded.LoadOrStore(ns, new(sync.Once))
	var err error
	once.(*sync.Once).Do(func() { err = write(tb.Context(), ns, n) })
	if err != nil {
		seeded.Delete(ns)
		tb.Fatal(err)
	}
	return ns
}

// write creates namespace ns holding configurations 0..n-1.
func write(ctx context.Context, ns string, n int) error {
	if _, err := cli.Delete(ctx, nsPrefix(ns), clientv3.WithPrefix()); err != nil {
		return err
	}
	m := confo.New()
	defer m.Close()
	if err := m.AddBackend("etcd", etcd.NewFromClient(cli, etcd.Config{Prefix: prefix})); err != nil {
		return err
	}
	if err := m.ActivateBackend("etcd"); err != nil {
		return err
	}
	if err := m.CreateNamespace(ctx, ns); err != nil {
		return err
	}
	if err := m.UseNamespace(ctx, ns); err != nil {
		return err
	}
	for i := range n {
		if err := m.Set(name(i), config(i)); err != nil {
			return err
		}
	}
	return m.Persist(ctx)
}

// benchSizes runs fn as one sub-benchmark per size, named N=<n>.
func benchSizes(b *testing.B, fn func(b *testing.B, n int)) {
	for _, n := range sizes {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) { fn(b, n) })
	}
}
