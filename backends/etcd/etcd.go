// Package etcd is the confo backend for an etcd v3 cluster, on
// go.etcd.io/etcd/client/v3. It is the only package of the module that
// imports etcd: a program that does not import it compiles no etcd code.
//
// Importing the package registers [confo.EtcdBackend]:
//
//	import _ "github.com/confo-go/confo/backends/etcd"
//
//	err := m.LoadBackend(ctx, "prod", confo.EtcdBackend, confo.Credentials{
//		"endpoints": []string{"10.0.0.1:2379", "10.0.0.2:2379"},
//		"user":      "app", "password": secret,
//	})
//
// # Credentials
//
// The keys of the original library and a few more. "endpoints" or "host"
// is required: there is no default address.
//
//	endpoints          list of host:port or URLs ("https://h:2379"), or one
//	                   comma-separated string
//	host               string    one server, instead of endpoints
//	port               integer   with host only; default 2379
//	user, password     string    authentication (auth enabled clusters);
//	                   a password needs a user
//	prefix             string    key prefix, default "/confo"; must start
//	                   with "/", a trailing "/" is trimmed
//	dial_timeout       time.Duration, a string such as "5s" or seconds;
//	                   default 5s
//	ca_file            PEM file of the CAs that sign the servers' certificates
//	cert_file,key_file the client's certificate and key (both or neither)
//	namespaces         list of namespaces to create at load
//	max_txn_ops        the cluster's --max-txn-ops, default 128
//	max_request_bytes  the cluster's --max-request-bytes, default 1572864
//	page_size          keys per range request when reading, default 1000
//
// An unknown key (a typo such as "endpoint" names the nearest known key),
// "host" with "endpoints", a password without a user, or an ill-typed or
// malformed value (an endpoint that is not host:port) is
// [confo.ErrInvalidCredentials] naming the key, before anything is dialled.
// A credential value never appears in an error. On a cluster with auth
// enabled the user needs read permission on the prefix's range to load the
// backend, and write permission to create namespaces and persist; a refusal
// wraps rpctypes.ErrPermissionDenied and names the key.
//
// # Key layout
//
// With the default prefix "/confo":
//
//	/confo/<namespace>/<name>   the configuration, a JSON object
//	/confo//<namespace>         the namespace's marker, an empty value
//
// so that `etcdctl get /confo/database/mysql` prints the configuration
// mysql of namespace database. A namespace exists once its marker exists;
// an empty path segment can never be a namespace name, so the markers never
// collide with configurations and listing namespaces is one keys-only range
// over "/confo//" that reads no configuration. A namespace whose
// configurations were written without a marker (by etcdctl, say) can still be
// loaded, but is only listed once created with CreateNamespace.
//
// Keys under "/confo/<namespace>/" whose remainder is not a valid
// configuration name (it contains "/", say "/confo/database/a/b", or a
// control character) are passed up by Load and Watch as they are, as every
// backend does: the Manager does not load them as configurations and lists
// them as problems of the namespace ([confo.Manager.Problems], wrapping
// [confo.ErrInvalidName]). The backend never writes them.
//
// # Reads and writes
//
// Load reads a namespace in one round trip when it holds at most page_size
// keys (one transaction reads the marker and the first page), and in further
// pages at the same revision otherwise, so a namespace is always read at a
// single revision. Commit is one transaction: it writes only if every
// configuration's ModRevision is still the one the Manager read, and
// otherwise reports which configurations changed ([confo.ErrConflict]). The
// backend implements [confo.BatchLimiter] so that the Manager's batches fit
// the cluster's --max-txn-ops and --max-request-bytes.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

func init() {
	confo.Register(confo.EtcdBackend, credential.Opener(ParseCredentials, New))
}

// Backend is a connection to an etcd cluster. It is safe for concurrent use.
type Backend struct {
	cli       *clientv3.Client
	owned     bool   // Close closes cli
	endpoints string // for messages: the configured endpoints, comma-separated
	prefix    string // key prefix without the trailing "/" ("" for the root)
	cfg       Config
	closed    atomic.Bool
}

var (
	_ confo.Backend      = (*Backend)(nil)
	_ confo.BatchLimiter = (*Backend)(nil)
)

// New connects to the cluster of cfg and checks that it answers, within
// cfg.DialTimeout and ctx. An unreachable cluster is an error that names the
// endpoints and wraps [context.DeadlineExceeded]; rejected credentials wrap
// [confo.ErrInvalidCredentials] and [rpctypes.ErrAuthFailed]. It then
// creates cfg.Namespaces.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	eps := strings.Join(cfg.Endpoints, ",")

	dialCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	timeout := cfg.DialTimeout
	if dl, ok := dialCtx.Deadline(); ok {
		timeout = time.Until(dl) // clientv3.New authenticates within this
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("etcd: connect to %s: %w", eps, dialCtx.Err())
	}
	diag := startDiagnosis(dialCtx, cfg.Endpoints, tc, timeout) // says why, if it times out
	defer diag.stop()

	// clientv3.New authenticates (when a user is set) under its own
	// timeout, not under a context: run it aside so that ctx is obeyed.
	type result struct {
		cli *clientv3.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   cfg.Endpoints,
			Username:    cfg.Username,
			Password:    cfg.Password,
			DialTimeout: timeout,
			TLS:         tc,
			DialOptions: cfg.DialOptions,
			Logger:      zap.NewNop(),
			// Room for the largest transaction the batch limits allow.
			MaxCallSendMsgSize: cfg.MaxRequestBytes + 512*1024,
		})
		done <- result{cli, err}
	}()
	var cli *clientv3.Client
	select {
	case r := <-done:
		if r.err != nil {
			return nil, diag.explain(dialCtx, connectError(dialCtx, eps, r.err))
		}
		cli = r.cli
	case <-dialCtx.Done():
		go func() { // the client comes back within the timeout: close it
			if r := <-done; r.cli != nil {
				r.cli.Close()
			}
		}()
		return nil, diag.explain(dialCtx, fmt.Errorf("etcd: connect to %s: %w", eps, dialCtx.Err()))
	}

	b := newBackend(cli, cfg, true)
	// clientv3.New does not wait for a connection: one cheap read proves
	// the cluster answers (and that the user may read the prefix).
	_, err = cli.Get(dialCtx, b.markerPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
	if err != nil {
		cli.Close()
		if errors.Is(err, rpctypes.ErrPermissionDenied) { // say which key
			return nil, fmt.Errorf("etcd: connect to %s: read %s: %w", eps, b.markerPrefix(), err)
		}
		return nil, diag.explain(dialCtx, connectError(dialCtx, eps, err))
	}
	for _, ns := range cfg.Namespaces {
		if err := b.CreateNamespace(ctx, ns); err != nil {
			cli.Close()
			return nil, err
		}
	}
	return b, nil
}

// connectError explains a failure to reach or authenticate to eps.
func connectError(ctx context.Context, eps string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrInvalidAuthToken):
		return fmt.Errorf("etcd: connect to %s: %w: the cluster requires \"user\" and \"password\": %w", eps, confo.ErrInvalidCredentials, err)
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("etcd: authenticate to %s: %w: \"user\" or \"password\" rejected: %w", eps, confo.ErrInvalidCredentials, err)
	case errors.Is(err, rpctypes.ErrAuthNotEnabled):
		return fmt.Errorf("etcd: authenticate to %s: %w: \"user\" given but the cluster has auth disabled: %w", eps, confo.ErrInvalidCredentials, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("etcd: connect to %s: %w", eps, err)
	}
	return fmt.Errorf("etcd: connect to %s: %w", eps, ctxError(ctx, err))
}

// NewFromClient returns a Backend on a client the caller made and keeps
// owning: [Backend.Close] does not close it. cfg's connection settings
// (endpoints, credentials, TLS, DialTimeout, Namespaces) are ignored; its
// Prefix and limits apply. It does no I/O.
func NewFromClient(cli *clientv3.Client, cfg Config) *Backend {
	cfg.Endpoints = cli.Endpoints()
	return newBackend(cli, cfg.withDefaults(), false)
}

func newBackend(cli *clientv3.Client, cfg Config, owned bool) *Backend {
	return &Backend{
		cli:       cli,
		owned:     owned,
		endpoints: strings.Join(cfg.Endpoints, ","),
		prefix:    strings.TrimRight(cfg.Prefix, "/"),
		cfg:       cfg,
	}
}

// Client returns the etcd client the backend uses, for calls outside confo
// (tests writing keys as another process would, say). Closing the backend
// closes it if [New] created it.
func (b *Backend) Client() *clientv3.Client { return b.cli }

// Prefix returns the key prefix, without its trailing "/" ("/confo").
func (b *Backend) Prefix() string { return b.prefix }

// Key returns the etcd key of configuration name in namespace ns:
// "<prefix>/<ns>/<name>".
func (b *Backend) Key(ns, name string) string { return b.nsPrefix(ns) + name }

// NamespaceKey returns the key of the marker of namespace ns:
// "<prefix>//<ns>".
func (b *Backend) NamespaceKey(ns string) string { return b.markerPrefix() + ns }

func (b *Backend) nsPrefix(ns string) string { return b.prefix + "/" + ns + "/" }
func (b *Backend) markerPrefix() string      { return b.prefix + "//" }

// check returns ErrClosed once the backend is closed.
func (b *Backend) check(op string) error {
	if b.closed.Load() {
		return fmt.Errorf("etcd: %s: %w", op, confo.ErrClosed)
	}
	return nil
}

// Close closes the client if [New] created it. Later calls return
// [confo.ErrClosed]; closing twice is not an error.
func (b *Backend) Close() error {
	if !b.closed.CompareAndSwap(false, true) || !b.owned {
		return nil
	}
	if err := b.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd: close client of %s: %w", b.endpoints, err)
	}
	return nil
}

// opError translates a client error of op: the backend closed meanwhile is
// ErrClosed, a done context is its error, and etcd's own errors are kept
// (errors.Is(err, rpctypes.ErrPermissionDenied) holds).
func (b *Backend) opError(ctx context.Context, op string, err error) error {
	if b.closed.Load() {
		return fmt.Errorf("etcd: %s: %w", op, confo.ErrClosed)
	}
	return fmt.Errorf("etcd: %s at %s: %w", op, b.endpoints, ctxError(ctx, err))
}

// ctxError makes sure err wraps ctx's error when ctx is done, or
// context.DeadlineExceeded when gRPC reports a deadline, so that
// errors.Is(err, context.DeadlineExceeded) holds.
func ctxError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if s, ok := status.FromError(err); ok && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		switch s.Code() {
		case codes.DeadlineExceeded:
			return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		case codes.Canceled:
			return fmt.Errorf("%w (%v)", context.Canceled, err)
		}
	}
	return err
}
