package metrics_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/metrics"
)

// benchProviders are the set-ups measured side by side: no layer at all
// (the baseline), the layer with no provider, with the API's no-op
// provider, and with the SDK recording into a manual reader.
func benchProviders() []struct {
	name     string
	layered  bool
	provider func() metric.MeterProvider
} {
	return []struct {
		name     string
		layered  bool
		provider func() metric.MeterProvider
	}{
		{"none", false, nil},
		{"nil-provider", true, func() metric.MeterProvider { return nil }},
		{"noop", true, func() metric.MeterProvider { return noop.NewMeterProvider() }},
		{"sdk", true, func() metric.MeterProvider {
			return sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		}},
	}
}

// benchManager returns a manager on the memory backend with namespace db
// in use, wrapped in the metrics layer when layered.
func benchManager(b *testing.B, layered bool, provider func() metric.MeterProvider) *confo.Manager {
	b.Helper()
	var opts []confo.Option
	if layered {
		var p metric.MeterProvider
		if provider != nil {
			p = provider()
		}
		rec, err := metrics.New(p)
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, confo.WithLayers(rec.Layer))
	}
	m := confo.New(opts...)
	b.Cleanup(func() { m.Close() })
	ctx := context.Background()
	if err := m.AddBackend("mem", memory.New()); err != nil {
		b.Fatal(err)
	}
	if err := m.ActivateBackend("mem"); err != nil {
		b.Fatal(err)
	}
	if err := m.CreateNamespace(ctx, "db"); err != nil {
		b.Fatal(err)
	}
	if err := m.UseNamespace(ctx, "db"); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkLayerPersist measures Set + Persist of one configuration (one
// Commit) on the memory backend, so that the layer's own cost is not
// hidden behind a network round trip.
func BenchmarkLayerPersist(b *testing.B) {
	for _, p := range benchProviders() {
		b.Run(p.name, func(b *testing.B) {
			m := benchManager(b, p.layered, p.provider)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if err := m.SetField("mysql", "n", i); err != nil {
					b.Fatal(err)
				}
				if err := m.Persist(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLayerReload measures Reload of a namespace of one configuration
// (one Load).
func BenchmarkLayerReload(b *testing.B) {
	for _, p := range benchProviders() {
		b.Run(p.name, func(b *testing.B) {
			m := benchManager(b, p.layered, p.provider)
			ctx := context.Background()
			if err := m.Set("mysql", map[string]any{"host": "db.internal", "port": 3306}); err != nil {
				b.Fatal(err)
			}
			if err := m.Persist(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Reload(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
