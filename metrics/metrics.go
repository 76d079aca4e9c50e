// Package metrics records OpenTelemetry metrics of a confo Manager and its
// stores, through the layer seam ([confo.Layer]): the latency of every Load
// (UseNamespace, Reload, a watch resync) and Commit (each batch of a
// Persist), conflicts, bytes read and written, watch events, and, read from
// the Manager by observable gauges ([Recorder.ObserveManager]), the watch
// lag, stale namespaces and quarantined configurations.
//
// The package uses only the OpenTelemetry API (go.opentelemetry.io/otel/metric);
// the program chooses the SDK and the exporter (see examples/prometheus):
//
//	rec, err := metrics.New(provider) // a metric.MeterProvider, nil for none
//	m := confo.New(confo.WithLayers(rec.Layer))
//	reg, err := rec.ObserveManager(m)
//	defer reg.Unregister()
//
// With a nil provider, [Recorder.Layer] returns the backend it is given
// unchanged and ObserveManager registers nothing, so metrics switched off
// cost nothing (BenchmarkLayer measures it).
//
// # Instruments
//
//	confo.load.duration      histogram, s   namespace, outcome
//	confo.commit.duration    histogram, s   namespace, outcome
//	confo.conflicts          counter        namespace
//	confo.read               counter, By    namespace   (loads and watches)
//	confo.written            counter, By    namespace   (committed values)
//	confo.watch.events       counter        namespace   (changes received)
//	confo.watch.lag          gauge          namespace   (revisions)
//	confo.namespaces.stale   gauge                      (served from the mirror)
//	confo.quarantined        gauge          namespace   (problems)
//
// outcome is "ok", "conflict" (a guard failed), "not_found" or "error".
// A Persist that writes several batches makes one Commit per batch; the
// seam does not see the Persist call as a whole.
//
// The watch lag of a namespace is the highest store revision the layer has
// seen for it (loads, commits, watch batches on their way to the Manager)
// minus the revision the Manager has applied ([confo.NamespaceStatus]): it
// is above zero while the Manager has been handed changes it has not yet
// applied to its view. It does not ask the store for its current revision:
// an observation does no I/O.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/confo-go/confo"
)

// ScopeName is the instrumentation scope of the meter the Recorder uses.
const ScopeName = "github.com/confo-go/confo/metrics"

// Attribute keys of the measurements.
const (
	// AttrNamespace names the namespace.
	AttrNamespace = attribute.Key("confo.namespace")
	// AttrOutcome says how a Load or Commit ended: "ok", "conflict",
	// "not_found" or "error".
	AttrOutcome = attribute.Key("confo.outcome")
)

// Recorder holds the instruments. Its Layer wraps backends; its
// ObserveManager reads a Manager's state. A Recorder is safe for concurrent
// use; one Recorder may serve many managers, but the watch lag is
// measured per Recorder (see [Recorder.ObserveManager]).
type Recorder struct {
	meter metric.Meter // nil: switched off

	loadDur, commitDur       metric.Float64Histogram
	conflicts, read, written metric.Int64Counter
	events                   metric.Int64Counter
	lag, stale, quarantined  metric.Int64ObservableGauge
	attrs                    sync.Map // namespace -> *nsAttrs

	mu   sync.Mutex
	seen map[string]int64 // namespace -> highest store revision seen
}

// saw notes that the store has reached revision rev for namespace ns.
func (r *Recorder) saw(ns string, rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rev > r.seen[ns] {
		r.seen[ns] = rev
	}
}

// seenRevision returns the highest store revision seen for namespace ns.
func (r *Recorder) seenRevision(ns string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[ns]
}

// nsAttrs are the attribute sets of one namespace, built once.
type nsAttrs struct {
	ns       metric.MeasurementOption
	outcomes map[string]metric.MeasurementOption
}

var outcomes = []string{"ok", "conflict", "not_found", "error"}

// New returns a Recorder whose instruments come from provider's meter
// named [ScopeName]. A nil provider returns a Recorder that records
// nothing and costs nothing. The error is the provider's, if it refuses an
// instrument.
func New(provider metric.MeterProvider) (*Recorder, error) {
	r := &Recorder{seen: make(map[string]int64)}
	if provider == nil {
		return r, nil
	}
	r.meter = provider.Meter(ScopeName)
	bounds := metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	r.loadDur, err = r.meter.Float64Histogram("confo.load.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of reading a namespace from the store (UseNamespace, Reload, watch resync)."), bounds)
	add(err)
	r.commitDur, err = r.meter.Float64Histogram("confo.commit.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one atomic write to the store (each batch of a Persist)."), bounds)
	add(err)
	r.conflicts, err = r.meter.Int64Counter("confo.conflicts", metric.WithUnit("{conflict}"),
		metric.WithDescription("Commits refused because a configuration changed in the store since it was read."))
	add(err)
	r.read, err = r.meter.Int64Counter("confo.read", metric.WithUnit("By"),
		metric.WithDescription("Bytes of configuration values read from the store by loads and watches."))
	add(err)
	r.written, err = r.meter.Int64Counter("confo.written", metric.WithUnit("By"),
		metric.WithDescription("Bytes of configuration values written to the store by successful commits."))
	add(err)
	r.events, err = r.meter.Int64Counter("confo.watch.events", metric.WithUnit("{change}"),
		metric.WithDescription("Changes of configurations received from the store's watch."))
	add(err)
	r.lag, err = r.meter.Int64ObservableGauge("confo.watch.lag", metric.WithUnit("{revision}"),
		metric.WithDescription("Highest store revision seen for the namespace minus the revision the manager applied."))
	add(err)
	r.stale, err = r.meter.Int64ObservableGauge("confo.namespaces.stale", metric.WithUnit("{namespace}"),
		metric.WithDescription("Loaded namespaces served from the last-known-good mirror."))
	add(err)
	r.quarantined, err = r.meter.Int64ObservableGauge("confo.quarantined", metric.WithUnit("{configuration}"),
		metric.WithDescription("Configurations of the namespace the manager refused (problems)."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: create instruments: %w", err)
	}
	return r, nil
}

// enabled reports whether r records anything.
func (r *Recorder) enabled() bool { return r != nil && r.meter != nil }

// attrsOf returns the attribute sets of namespace ns.
func (r *Recorder) attrsOf(ns string) *nsAttrs {
	if a, ok := r.attrs.Load(ns); ok {
		return a.(*nsAttrs)
	}
	a := &nsAttrs{
		ns:       metric.WithAttributeSet(attribute.NewSet(AttrNamespace.String(ns))),
		outcomes: make(map[string]metric.MeasurementOption, len(outcomes)),
	}
	for _, o := range outcomes {
		a.outcomes[o] = metric.WithAttributeSet(attribute.NewSet(AttrNamespace.String(ns), AttrOutcome.String(o)))
	}
	got, _ := r.attrs.LoadOrStore(ns, a)
	return got.(*nsAttrs)
}

// outcome classifies err.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, confo.ErrConflict):
		return "conflict"
	case errors.Is(err, confo.ErrNamespaceNotFound):
		return "not_found"
	}
	return "error"
}

// recordLoad records one Load of ns that took d.
func (r *Recorder) recordLoad(ctx context.Context, ns string, d time.Duration, snap confo.Snapshot, err error) {
	a := r.attrsOf(ns)
	r.loadDur.Record(ctx, d.Seconds(), a.outcomes[outcome(err)])
	if err != nil {
		return
	}
	var n int64
	for _, e := range snap.Entries {
		n += int64(len(e.Value))
	}
	r.read.Add(ctx, n, a.ns)
}

// recordCommit records one Commit of ops to ns that took d.
func (r *Recorder) recordCommit(ctx context.Context, ns string, d time.Duration, ops []confo.Op, err error) {
	a := r.attrsOf(ns)
	o := outcome(err)
	r.commitDur.Record(ctx, d.Seconds(), a.outcomes[o])
	switch o {
	case "ok":
		var n int64
		for _, op := range ops {
			n += int64(len(op.Value))
		}
		r.written.Add(ctx, n, a.ns)
	case "conflict":
		r.conflicts.Add(ctx, 1, a.ns)
	}
}

// recordBatch records a watch batch of ns.
func (r *Recorder) recordBatch(ctx context.Context, ns string, b confo.WatchBatch) {
	if len(b.Changes) == 0 {
		return
	}
	a := r.attrsOf(ns)
	var n int64
	for _, c := range b.Changes {
		n += int64(len(c.Value))
	}
	r.events.Add(ctx, int64(len(b.Changes)), a.ns)
	r.read.Add(ctx, n, a.ns)
}
