package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// diagnosis finds out, while [New] waits for the cluster, why the endpoints
// do not answer: gRPC only reports that the deadline passed, not that the
// port is closed or that the TLS settings do not match the server's. It
// starts after half the dial timeout, so that a cluster that answers is
// never probed twice, and ends by the dial timeout.
type diagnosis struct {
	timer  *time.Timer
	done   chan struct{}
	once   sync.Once
	reason string
}

func startDiagnosis(ctx context.Context, endpoints []string, tc *tls.Config, timeout time.Duration) *diagnosis {
	d := &diagnosis{done: make(chan struct{})}
	half := timeout / 2
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout-time.Millisecond)
	d.timer = time.AfterFunc(half, func() {
		defer d.once.Do(func() { close(d.done) })
		defer cancel()
		d.reason = diagnose(dctx, endpoints, tc)
	})
	return d
}

// stop cancels a diagnosis that has not started.
func (d *diagnosis) stop() {
	if d.timer.Stop() {
		d.once.Do(func() { close(d.done) })
	}
}

// result waits for the diagnosis (which ends by the dial timeout) and
// returns what it found, or "".
func (d *diagnosis) result() string {
	d.stop()
	<-d.done
	return d.reason
}

// diagnose probes each endpoint once and explains the first failure.
func diagnose(ctx context.Context, endpoints []string, tc *tls.Config) string {
	var reasons []string
	for _, ep := range endpoints {
		if r := probe(ctx, ep, tc); r != "" {
			reasons = append(reasons, r)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return strings.Join(reasons, "; ")
}

// probe explains why endpoint ep does not answer, or returns "".
func probe(ctx context.Context, ep string, tc *tls.Config) string {
	network, addr, host, useTLS := "tcp", ep, ep, tc != nil
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return ""
		}
		addr, host = u.Host, u.Hostname()
		switch u.Scheme {
		case "https":
			useTLS = true
		case "unix", "unixs":
			network, useTLS = "unix", u.Scheme == "unixs" || useTLS
		}
	} else if h, _, err := net.SplitHostPort(ep); err == nil {
		host = h
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return err.Error() // "dial tcp 127.0.0.1:2379: connect: connection refused"
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}

	if !useTLS {
		// A plaintext client gets no answer from a TLS server: see whether
		// the server speaks TLS.
		tconn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // only to detect TLS, nothing is sent
		if tconn.HandshakeContext(ctx) == nil {
			return ep + " serves TLS but the client connects in plaintext (set \"ca_file\", or use an https:// endpoint)"
		}
		return ""
	}
	cfg := &tls.Config{}
	if tc != nil {
		cfg = tc.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"h2"}
	tconn := tls.Client(conn, cfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return "TLS handshake with " + ep + ": " + err.Error()
	}
	// With TLS 1.3 the server checks the client's certificate after the
	// client's side of the handshake: a refusal arrives as an alert on the
	// first read. A gRPC server speaks first (its SETTINGS frame).
	tconn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if _, err := tconn.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		return "TLS with " + ep + ": " + err.Error()
	}
	return ""
}

// explain adds what the diagnosis found to err when the dial timed out.
func (d *diagnosis) explain(dialCtx context.Context, err error) error {
	if !errors.Is(dialCtx.Err(), context.DeadlineExceeded) {
		return err
	}
	if reason := d.result(); reason != "" {
		return fmt.Errorf("%w: %s", err, reason)
	}
	return err
}
