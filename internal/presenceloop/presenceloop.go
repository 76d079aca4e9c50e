// Package presenceloop holds what the stores' presence sessions
// ([presence.Session]) have in common: the records a session has put, kept
// so that they can be written again; the closed state that refuses later
// puts; the session's context and the goroutines that end with it; and the
// refresh loop of the stores whose records expire unless written again.
// What a store writes, and how, stays in its backend.
package presenceloop

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/confo-go/confo"
)

// Session is the store-independent half of one presence session, keyed by
// K (a store key, a znode path, ...). It is safe for concurrent use.
type Session[K comparable] struct {
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	records map[K][]byte
	closed  bool
}

// New returns an open session. Its context keeps ctx's values but not its
// cancellation: it is done when Close begins.
func New[K comparable](ctx context.Context) *Session[K] {
	s := &Session[K]{records: make(map[K][]byte)}
	s.ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	return s
}

// Context returns the session's context, done when Close begins.
func (s *Session[K]) Context() context.Context { return s.ctx }

// Go runs f in a goroutine that Close waits for; f must return once the
// session's context is done.
func (s *Session[K]) Go(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Interval is how often a session with records that live for ttl writes
// or checks them: ttl/3, at least 10 ms.
func Interval(ttl time.Duration) time.Duration { return max(ttl/3, 10*time.Millisecond) }

// Refresh calls refresh every interval with the session's context and a
// copy of its records, until Close. refresh bounds its own I/O and keeps
// its failures: the next tick retries.
func (s *Session[K]) Refresh(every time.Duration, refresh func(ctx context.Context, records map[K][]byte)) {
	s.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-tick.C:
			}
			refresh(s.ctx, s.Records())
		}
	})
}

// Put remembers record under key, to be written again, and reports whether
// the session is still open (a closed session remembers nothing).
func (s *Session[K]) Put(key K, record []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.records[key] = record
	return true
}

// Records returns a copy of the records put so far.
func (s *Session[K]) Records() map[K][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.records)
}

// Close marks the session closed, cancels its context and waits for its
// goroutines. The first Close returns the records, for the caller to
// delete from the store, and first true; a later one returns nil, false.
func (s *Session[K]) Close() (records map[K][]byte, first bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false
	}
	s.closed = true
	records = s.records
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return records, true
}

// CheckNames checks the namespace and the instance ID of a record before
// any I/O. Its errors wrap [confo.ErrInvalidName], start with store ("redis")
// and say which of the two is wrong.
func CheckNames(store, ns, id string) error {
	if err := confo.ValidateName(ns); err != nil {
		return fmt.Errorf("%s: put presence record: %w", store, err)
	}
	if err := confo.ValidateName(id); err != nil {
		return fmt.Errorf("%s: put presence record: instance ID: %w", store, err)
	}
	return nil
}
