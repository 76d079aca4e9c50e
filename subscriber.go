package confo

import (
	"context"
	"slices"
	"sync"
)

// subscriber is one receiver of a shared watch. Pending events are coalesced
// per configuration: at most one per name, kept in the order of their latest
// change, so a slow receiver holds at most one event per configuration.
type subscriber struct {
	ns, only string
	raw      bool // keep the stored bytes of events (Bind decodes them)
	out      chan Event
	stop     chan struct{} // closed when the shared watch stops
	stopOnce sync.Once
	wake     chan struct{} // cap 1: pending changed

	mu      sync.Mutex
	seq     uint64
	pending map[string]pendingEvent
	order   []queued // names by seq; entries whose seq is stale are skipped
}

type pendingEvent struct {
	ev  Event
	seq uint64
}

type queued struct {
	name string
	seq  uint64
}

func newSubscriber(ns, only string) *subscriber {
	return &subscriber{
		ns: ns, only: only,
		out:     make(chan Event),
		stop:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		pending: make(map[string]pendingEvent),
	}
}

// push queues events, replacing any pending event of the same configuration.
func (s *subscriber) push(events []Event) {
	s.mu.Lock()
	n := 0
	for _, ev := range events {
		if s.only != "" && ev.Name != s.only {
			continue
		}
		s.seq++
		s.pending[ev.Name] = pendingEvent{ev: ev, seq: s.seq}
		s.order = append(s.order, queued{name: ev.Name, seq: s.seq})
		n++
	}
	if len(s.order) > 2*len(s.pending)+64 { // drop stale entries
		s.order = slices.DeleteFunc(s.order, func(q queued) bool {
			p, ok := s.pending[q.name]
			return !ok || p.seq != q.seq
		})
	}
	s.mu.Unlock()
	if n > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// next takes the pending event of the earliest latest change.
func (s *subscriber) next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) > 0 {
		q := s.order[0]
		s.order = s.order[1:]
		if p, ok := s.pending[q.name]; ok && p.seq == q.seq {
			delete(s.pending, q.name)
			return p.ev, true
		}
	}
	s.order = nil
	return Event{}, false
}

// run delivers pending events until ctx is done or the shared watch stops,
// then unregisters, stopping the shared watch if it was the last receiver,
// and closes the channel.
func (s *subscriber) run(ctx context.Context, sw *sharedWatch) {
	defer sw.m.watches.wg.Done()
	defer close(s.out)
	defer sw.unsubscribe(s)
	for {
		ev, ok := s.next()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			}
		}
		if ev.Value != nil {
			ev.Value = copyObject(ev.Value)
		}
		if !s.raw {
			ev.raw = nil
		}
		select {
		case s.out <- ev:
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		}
	}
}
