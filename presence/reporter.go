package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/confo-go/confo"
)

// Options tune a [Reporter]. The zero value is valid.
type Options struct {
	// Interval is how often the Reporter reads the Manager's status and
	// writes what changed: at most one write per namespace per Interval.
	// Zero means DefaultInterval.
	Interval time.Duration
	// TTL is how long the records of an instance that died stay (the etcd
	// lease's TTL). Zero means DefaultTTL.
	TTL time.Duration
	// Namespaces are reported besides those the Manager has loaded
	// ([confo.Manager.LoadedNamespaces]), once it has loaded them.
	Namespaces []string
	// OnError, if set, is called with the error of a failed write (the
	// Reporter retries at the next interval). It must not block.
	OnError func(error)
}

// Reporter keeps an instance's presence records up to date. Start one per
// Manager; Close it before closing the Manager. It is safe for concurrent
// use.
type Reporter struct {
	m        *confo.Manager
	inst     Instance
	opts     Options
	session  Session
	cancel   context.CancelFunc
	done     chan struct{}
	closeErr error
	once     sync.Once

	mu      sync.Mutex
	written map[string]Record // by namespace: the last record written
	writes  int               // records written, for tests and SCALE.md
}

// Start registers instance inst of Manager m in the store of m's active
// backend, and keeps its records up to date until [Reporter.Close]. It
// returns an error wrapping [confo.ErrInvalidName] for an invalid ID,
// [confo.ErrBackendNotActive] with no active backend, and [ErrNoPresence]
// when the backend cannot keep presence records.
//
// Start tries to write the first records before it returns; if the store
// refuses (etcd under a storm of starting instances answers "too many
// requests"), Start still returns the Reporter, passes the error to
// Options.OnError, and the records are written at a later interval. Opening
// the session (etcd: granting the lease) is retried with jittered
// exponential backoff while ctx allows, up to 10 tries (about 25 s). Each Reporter ticks at
// a random phase of its interval, so that instances started together do not
// write in lockstep after every change.
func Start(ctx context.Context, m *confo.Manager, inst Instance, opts Options) (*Reporter, error) {
	if err := confo.ValidateName(inst.ID); err != nil {
		return nil, fmt.Errorf("presence: instance ID: %w", err)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	active := m.GetBackends().Active
	if active == "" {
		return nil, fmt.Errorf("presence: start instance %q: %w", inst.ID, confo.ErrBackendNotActive)
	}
	b, err := m.Backend(active)
	if err != nil {
		return nil, fmt.Errorf("presence: start instance %q: %w", inst.ID, err)
	}
	pb, ok := backendOf(b)
	if !ok {
		return nil, fmt.Errorf("presence: start instance %q on backend %q (%T): %w", inst.ID, active, b, ErrNoPresence)
	}
	session, err := openSession(ctx, pb, opts.TTL)
	if err != nil {
		return nil, fmt.Errorf("presence: start instance %q: %w", inst.ID, err)
	}
	inst.Labels = maps.Clone(inst.Labels)
	r := &Reporter{m: m, inst: inst, opts: opts, session: session, done: make(chan struct{}), written: make(map[string]Record)}
	if err := r.report(ctx); err != nil && opts.OnError != nil {
		opts.OnError(err)
	}
	loop, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go r.run(loop)
	return r, nil
}

// openSession opens a session on pb, retrying with jittered exponential
// backoff (10 tries at most) while ctx allows.
func openSession(ctx context.Context, pb Backend, ttl time.Duration) (Session, error) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := pb.OpenPresence(ctx, ttl)
		if err == nil || attempt == 10 || errors.Is(err, confo.ErrClosed) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// run reports every interval, at a random phase, until ctx is done.
func (r *Reporter) run(ctx context.Context) {
	defer close(r.done)
	select {
	case <-ctx.Done():
		return
	case <-time.After(rand.N(r.opts.Interval)):
	}
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		wctx, cancel := context.WithTimeout(ctx, r.opts.Interval)
		err := r.report(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && r.opts.OnError != nil {
			r.opts.OnError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// namespaces returns the namespaces to report.
func (r *Reporter) namespaces() []string {
	nss := append(slices.Clone(r.opts.Namespaces), r.m.LoadedNamespaces()...)
	slices.Sort(nss)
	return slices.Compact(nss)
}

// report writes the record of every namespace whose status changed.
func (r *Reporter) report(ctx context.Context) error {
	var errs []error
	for _, ns := range r.namespaces() {
		st, err := r.m.Status(ns)
		if err != nil {
			continue // not loaded (yet)
		}
		rec := Record{Instance: r.inst, Applied: st.Applied, Stale: st.Stale}
		for _, p := range st.Problems {
			msg := "unknown problem"
			if p.Err != nil {
				msg = p.Err.Error()
			}
			rec.Problems = append(rec.Problems, Problem{Name: p.Name, Revision: p.Revision, Error: msg})
		}
		r.mu.Lock()
		last, ok := r.written[ns]
		r.mu.Unlock()
		if ok && same(last, rec) {
			continue
		}
		rec.Updated = time.Now().UTC().Truncate(time.Millisecond)
		data, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode record of %q: %w", ns, err)
		}
		if err := r.session.Put(ctx, ns, r.inst.ID, data); err != nil {
			errs = append(errs, fmt.Errorf("presence: write record of instance %q in namespace %q: %w", r.inst.ID, ns, err))
			continue
		}
		r.mu.Lock()
		r.written[ns] = rec
		r.writes++
		r.mu.Unlock()
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// same reports whether two records report the same thing (Updated aside).
func same(a, b Record) bool {
	return a.Applied == b.Applied && a.Stale == b.Stale && slices.Equal(a.Problems, b.Problems)
}

// Writes returns how many records the Reporter has written.
func (r *Reporter) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// Close stops reporting and ends the session within ctx: the instance's
// records vanish from the store. It returns the session's error, if any; a
// second Close does nothing.
func (r *Reporter) Close(ctx context.Context) error {
	r.once.Do(func() {
		r.cancel()
		<-r.done
		if err := r.session.Close(ctx); err != nil {
			r.closeErr = fmt.Errorf("presence: close instance %q: %w", r.inst.ID, err)
		}
	})
	return r.closeErr
}
