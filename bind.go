package confo

import (
	"context"
	"fmt"
	"sync/atomic"
)

// OnChange calls fn with every change other writers make to namespace ns,
// as [Manager.Watch] reports them: on one goroutine, one call at a time, in
// order, with the view already updated. A slow fn delays only its own
// events, which are coalesced per configuration meanwhile. The calls stop
// when ctx is done, the manager is closed, or stop is called; stop waits
// for a running call to return, so it must not be called from fn. It
// returns the errors of Watch.
func (m *Manager) OnChange(ctx context.Context, ns string, fn func(Event)) (stop func(), err error) {
	if fn == nil {
		return nil, fmt.Errorf("on change %q: %w: nil func", ns, ErrInvalidValue)
	}
	ctx, cancel := context.WithCancel(ctx)
	ch, err := m.Watch(ctx, ns)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			fn(ev)
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// Value is a configuration decoded into a T and kept current by a watch:
// see [Bind]. Its methods are safe for concurrent use and take no lock.
type Value[T any] struct {
	cur  atomic.Pointer[T]
	err  atomic.Pointer[error]
	name string
	done chan struct{}
}

// Bind decodes configuration name of namespace ns into a T, as
// [Manager.Decode] does, and keeps it current: every change other writers
// make, as [Manager.Watch] reports it, is decoded into a new T that
// [Value.Load] returns from then on. The binding follows the store until ctx
// is done or the manager is closed. A configuration that does not exist (or
// is deleted) loads as the zero T. A change that does not decode into a T
// is not taken, nor is a quarantined version ([EventProblem]): Load keeps
// the last good value and [Value.Err] reports the error. Bind returns the errors of Watch, [ErrInvalidName], and the decode
// error of the current value.
func Bind[T any](ctx context.Context, m *Manager, ns, name string) (*Value[T], error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	// Subscribed and read under the view's lock: a change after the read
	// is an event, and none before it is missed.
	var cur *item
	s, err := m.subscribe(ctx, ns, name, func(v *view) { cur = v.get(name) })
	if err != nil {
		cancel()
		return nil, fmt.Errorf("bind %q: %w", name, err)
	}
	b := &Value[T]{name: name, done: make(chan struct{})}
	x, err := decodeInto[T](cur)
	if err != nil {
		cancel()
		for range s.out { // wait for the subscriber to end
		}
		return nil, fmt.Errorf("bind %q in namespace %q: %w", name, ns, err)
	}
	b.cur.Store(x)
	go func() {
		defer close(b.done)
		defer cancel()
		for ev := range s.out {
			if ev.Type == EventProblem {
				err := fmt.Errorf("bind %q in namespace %q: %w", name, ns, ev.Err)
				b.err.Store(&err)
				continue
			}
			var it *item
			if ev.Type == EventPut {
				it = &item{value: ev.Value, raw: ev.raw}
			}
			x, err := decodeInto[T](it)
			if err != nil {
				err = fmt.Errorf("bind %q in namespace %q at revision %d: %w", name, ns, ev.Revision, err)
				b.err.Store(&err)
				continue
			}
			b.cur.Store(x)
			b.err.Store(nil)
		}
	}()
	return b, nil
}

// decodeInto decodes a configuration (nil, or one with no value: the zero
// T) into a new T, from its stored bytes when it has them.
func decodeInto[T any](it *item) (*T, error) {
	x := new(T)
	if it == nil || it.value == nil {
		if it != nil && it.err != nil {
			return nil, it.err
		}
		return x, nil
	}
	if err := decodeItem(it, x); err != nil {
		return nil, err
	}
	return x, nil
}

// Load returns the configuration's current value. The T is shared by every
// Load until the next change: treat it as read-only.
func (v *Value[T]) Load() T { return *v.cur.Load() }

// Err returns the error of the last change that did not decode into a T,
// or nil if the current value is the store's.
func (v *Value[T]) Err() error {
	if p := v.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Done returns a channel closed when the binding stops following the store
// (its ctx is done or the manager is closed).
func (v *Value[T]) Done() <-chan struct{} { return v.done }
