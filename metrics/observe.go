package metrics

import (
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/confo-go/confo"
)

// noRegistration is what ObserveManager returns when nothing is observed.
type noRegistration struct{ metric.Registration }

func (noRegistration) Unregister() error { return nil }

// ObserveManager registers the observable gauges of m with r's meter:
// confo.watch.lag and confo.quarantined for every namespace m has loaded
// from its active backend ([confo.Manager.LoadedNamespaces]), and
// confo.namespaces.stale. Each observation calls [confo.Manager.Status],
// which does no I/O. attrs are added to every observation (an instance's
// identity, say). m should be built with confo.WithLayers(r.Layer), which
// sees the store revisions the lag is measured against; give each Manager
// its own Recorder, since the revisions seen are kept per Recorder and
// namespace. Call Unregister on the result when m is closed. With a nil
// provider it registers nothing.
func (r *Recorder) ObserveManager(m *confo.Manager, attrs ...attribute.KeyValue) (metric.Registration, error) {
	if !r.enabled() {
		return noRegistration{}, nil
	}
	base := slices.Clone(attrs)
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		stale := int64(0)
		for _, ns := range m.LoadedNamespaces() {
			st, err := m.Status(ns)
			if err != nil {
				continue // closed, or unloaded meanwhile
			}
			set := metric.WithAttributeSet(attribute.NewSet(append(slices.Clip(base), AttrNamespace.String(ns))...))
			o.ObserveInt64(r.lag, max(0, r.seenRevision(ns)-st.Applied), set)
			o.ObserveInt64(r.quarantined, int64(len(st.Problems)), set)
			if st.Stale {
				stale++
			}
		}
		o.ObserveInt64(r.stale, stale, metric.WithAttributeSet(attribute.NewSet(base...)))
		return nil
	}, r.lag, r.quarantined, r.stale)
	if err != nil {
		return nil, fmt.Errorf("metrics: register the gauges of the manager: %w", err)
	}
	return reg, nil
}
