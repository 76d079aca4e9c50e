// Package embedetcd runs a single-member etcd server inside the process, on
// loopback ports the kernel picks, for the quick start and for tests that
// need an etcd without installing one.
package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// DefaultStartTimeout bounds Start when ctx has no deadline.
const DefaultStartTimeout = time.Minute

// Server is a running in-process etcd. Close it when done.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
}

// Start starts a single-member etcd whose data lives in dir (created if
// missing) and whose client and peer listeners are on 127.0.0.1, on ports
// the kernel picks, so several servers can run side by side. It logs
// nothing. It returns once the server serves clients, or with an error if it
// could not start before ctx is done (or within [DefaultStartTimeout] when
// ctx has no deadline).
func Start(ctx context.Context, dir string) (*Server, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedetcd: start: %w", err)
	}

	// Port 0 on every URL: the kernel picks free ports when embed binds its
	// listeners, so there is no window in which another process could take
	// a port picked beforehand. The advertised URLs keep port 0; a
	// single-member cluster never dials its own peer URL, and the client
	// endpoints are read back from the listeners below.
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg := embed.NewConfig()
	cfg.Name = "confo"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: start in %s: %w", dir, err)
	}
	s := &Server{etcd: e}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("embedetcd: start in %s: %w", dir, err)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("embedetcd: start in %s: not ready: %w", dir, ctx.Err())
	}
	for _, l := range e.Clients {
		s.endpoints = append(s.endpoints, l.Addr().String())
	}
	if len(s.endpoints) == 0 {
		s.Close()
		return nil, errors.New("embedetcd: start: no client listener")
	}
	return s, nil
}

// Endpoints returns the client endpoints as host:port, the form
// clientv3.Config.Endpoints and the etcd backend's "endpoints" credential
// take.
func (s *Server) Endpoints() []string {
	return append([]string(nil), s.endpoints...)
}

// Close stops the server, closes its listeners and returns when it has
// stopped. Calling it again does nothing. The data directory is left in
// place.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.etcd.Close()
		<-s.etcd.Server.StopNotify()
	})
}
