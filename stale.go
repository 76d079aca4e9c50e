package confo

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Catch-up of stale namespaces (see WithMirror).
const (
	staleMinBackoff  = 100 * time.Millisecond
	staleMaxBackoff  = 5 * time.Second
	staleLoadTimeout = 30 * time.Second // bounds one catch-up attempt
)

// catchUp is the state of the goroutine that retries loading the
// namespaces served from the mirror. Guarded by Manager.mu.
type catchUp struct {
	running bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// unreachable reports whether err, from opening a backend or loading a
// namespace, may mean the store did not answer, rather than that the
// request itself was wrong or given up by its caller.
func unreachable(err error) bool {
	for _, semantic := range []error{
		ErrNamespaceNotFound, ErrCorruptValue, ErrInvalidName, ErrInvalidCredentials,
		ErrInvalidValue, ErrUnknownBackendType, ErrBackendExists, ErrClosed, context.Canceled,
		errors.ErrUnsupported,
	} {
		if errors.Is(err, semantic) {
			return false
		}
	}
	return true
}

// startCatchUp starts the catch-up goroutine unless it runs. Call with
// Manager.mu held.
func (m *Manager) startCatchUp(ctx context.Context) {
	c := &m.catching
	if c.running || m.closed {
		return
	}
	c.running = true
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.wg.Add(1)
	go m.catchUpLoop(rctx)
}

// stopCatchUp stops the catch-up goroutine and waits for it. Close calls
// it once closed is set.
func (m *Manager) stopCatchUp() {
	m.mu.Lock()
	cancel := m.catching.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.catching.wg.Wait()
}

// catchUpLoop retries loading every stale namespace, with exponential
// backoff, and installs the store's state of each as soon as it loads. It
// returns when nothing is stale or ctx is done.
func (m *Manager) catchUpLoop(ctx context.Context) {
	defer m.catching.wg.Done()
	type staleView struct {
		bs *backendState
		v  *view
	}
	bo := staleMinBackoff
	for {
		t := time.NewTimer(bo)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var todo []staleView
		m.mu.Lock()
		for _, bs := range m.backends {
			for _, v := range bs.views {
				if v.staleErr() != nil {
					todo = append(todo, staleView{bs, v})
				}
			}
		}
		if len(todo) == 0 || m.closed {
			m.catching.running = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()

		for _, s := range todo {
			lctx, done := context.WithTimeout(ctx, staleLoadTimeout)
			snap, err := s.bs.b.Load(lctx, s.v.ns)
			done()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				continue
			}
			s.v.install(snap, true) // the store's, or the mirror's latest, still stale
			if snap.Stale == nil {
				m.logger.Debug("confo: caught up with the store", "backend", s.bs.name, "namespace", s.v.ns)
			}
		}
		bo = min(2*bo, staleMaxBackoff)
	}
}
