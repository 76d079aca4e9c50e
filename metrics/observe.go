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
// confo.watch.lag and confo.quarantined for every namespace that r's Layer
// has seen loaded from m's active backend, and confo.namespaces.stale. Each
// observation calls [confo.Manager.Status], which does no I/O. attrs are
// added to every observation (an instance's identity, when several
// managers share one Recorder). m must have been built with
// confo.WithLayers(r.Layer); otherwise only confo.namespaces.stale is
// observed, as 0. Call Unregister on the result when m is closed. With a
// nil provider it registers nothing.
func (r *Recorder) ObserveManager(m *confo.Manager, attrs ...attribute.KeyValue) (metric.Registration, error) {
	if !r.enabled() {
		return noRegistration{}, nil
	}
	base := slices.Clone(attrs)
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		stale := int64(0)
		for ns, seen := range r.loaded(m) {
			st, err := m.Status(ns)
			if err != nil {
				continue // not loaded from the active backend
			}
			set := metric.WithAttributeSet(attribute.NewSet(append(slices.Clip(base), AttrNamespace.String(ns))...))
			o.ObserveInt64(r.lag, max(0, seen-st.Applied), set)
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

// loaded returns the namespaces r's layer saw loaded from m's active
// backend, with the highest revision seen for each.
func (r *Recorder) loaded(m *confo.Manager) map[string]int64 {
	active := m.GetBackends().Active
	if active == "" {
		return nil
	}
	b, err := m.Backend(active)
	if err != nil {
		return nil
	}
	for b != nil {
		if mb, ok := b.(*backend); ok && mb.r == r {
			return mb.seenRevisions()
		}
		u, ok := b.(confo.Unwrapper)
		if !ok {
			return nil
		}
		b = u.Unwrap()
	}
	return nil
}
