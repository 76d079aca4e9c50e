// Package zookeeper is the confo backend for Apache ZooKeeper (3.5 or
// later), built on github.com/go-zookeeper/zk. Importing it registers
// [confo.ZookeeperBackend].
//
// # Credentials
//
// The original's keys: zookeeper_host (a host, host:port, or a list of them;
// required, there is no default address), zookeeper_port (default 2181),
// zookeeper_user and zookeeper_passwd (digest authentication; a password
// needs a user), plus prefix (default "/confo"), dial_timeout (default 5s),
// session_timeout (10s), max_ops (128), max_request_bytes (the server's
// jute.maxbuffer, 1 MiB - 1) and namespaces (created at load). An unknown
// key is [confo.ErrInvalidCredentials] naming it and the nearest known key.
//
// # Layout
//
//	/confo                    the prefix znode, created at load
//	/confo/<namespace>        a namespace: its existence marks the namespace
//	/confo/<namespace>/<name> a configuration: the data is its JSON object
//	/confo.meta/<namespace>/<key> metadata of a namespace (see [Backend.LoadMeta])
//	/confo.presence/<namespace>/<id> presence records (see [Backend.OpenPresence])
//
// so `zkCli.sh get /confo/database/mysql` prints it. Listing namespaces reads
// the children of the prefix and no configuration. With zookeeper_user set,
// the backend authenticates with the digest scheme and creates its znodes
// with an ACL that grants everything to that identity only; a wrong password
// then cannot read them and [New] fails with [confo.ErrInvalidCredentials].
//
// # Revisions, guard and consistency
//
// A configuration's revision is its znode's mzxid, the transaction id of its
// last change, which is unique across the ensemble's history (a znode's
// version is not: it restarts at 0 when the znode is deleted and created
// again). Commit takes two round trips: it reads the stat of every
// configuration of the batch and refuses the batch with [confo.ErrConflict]
// unless each mzxid equals the revision the change is based on; then it
// sends one multi that creates, sets or deletes each znode conditioned on
// the version just read (a create fails if the znode exists), together with
// a write of the namespace znode. The multi is atomic: a change by anyone
// between the two round trips fails it, and the conflict names the
// configuration. What the guard cannot see is a znode deleted, created again
// and changed back to the same version in the instant between the two round
// trips; and a delete of a configuration that is absent is checked only by
// the first round trip.
//
// Load reads the namespace's children, then every child in parallel
// (pipelined on the session's connection), then the namespace znode again.
// Every commit of this backend writes the namespace znode, so if its version
// or children changed during the read, the read is repeated after a random
// pause: a Load never mixes two commits of this backend. So that steady
// writes cannot starve it, a Load that failed 3 times writes a mark into
// the namespace znode's data ("confo:reading"), and this backend's commits
// wait while they see it, at most 250 ms each; the Load clears it once it
// has read, and any commit clears it too. A Load retries until its context
// ends, never with ErrConflict. A session that may not write the namespace
// znode cannot mark it and retries without; so do writers of older
// versions or other tools, which do not wait.
//
// # Watch
//
// [Backend.Watch] sets ZooKeeper watches on a session of its own and reads
// the namespace again each time one fires; it sees other tools' writes too.
package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

func init() {
	confo.Register(confo.ZookeeperBackend, credential.Opener(ParseCredentials, New))
}

// optimisticLoads is how many times Load reads a namespace that keeps
// changing before it marks the namespace znode to ask writers to pause.
const optimisticLoads = 3

// parallelReads bounds the requests one Load or Commit has in flight.
const parallelReads = 64

// Backend is a session with a ZooKeeper ensemble. It is safe for
// concurrent use.
type Backend struct {
	conn    *zk.Conn
	servers string // for error messages
	prefix  string
	user    string
	acl     []zk.ACL
	limits  confo.BatchLimits
	closed  atomic.Bool
	done    chan struct{} // closed by Close: ends the watches
	cfg     Config        // to open the watches' sessions; zero for NewFromConn
}

var (
	_ confo.Backend      = (*Backend)(nil)
	_ confo.BatchLimiter = (*Backend)(nil)
)

// lastLog keeps the go-zookeeper client's last log line, so that a failed
// connection can say why; nothing is printed.
type lastLog struct {
	mu   sync.Mutex
	line string
}

func (l *lastLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.line = fmt.Sprintf(format, args...)
}

func (l *lastLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.line
}

// New opens a session with the ensemble of cfg within cfg.DialTimeout,
// authenticates, creates the prefix znode and cfg.Namespaces. An
// unreachable ensemble is an error naming its addresses; credentials that
// cannot read the prefix wrap [confo.ErrInvalidCredentials].
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Backend{servers: strings.Join(cfg.Servers, ","), prefix: cfg.Prefix, user: cfg.User,
		acl: zk.WorldACL(zk.PermAll), done: make(chan struct{}), cfg: cfg}
	if cfg.User != "" {
		b.acl = zk.DigestACL(zk.PermAll, cfg.User, cfg.Password)
	}
	b.limits = confo.BatchLimits{
		MaxOps: cfg.MaxOps,
		// room for each op's path (prefix, the longest namespace) and header
		MaxBytes: max(cfg.MaxRequestBytes-cfg.MaxOps*(len(cfg.Prefix)+2+255+32)-1024, 1024),
	}
	conn, err := b.dial(ctx)
	if err != nil {
		return nil, err
	}
	b.conn = conn
	ictx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := b.init(ictx); err != nil {
		conn.Close()
		return nil, err
	}
	for _, ns := range cfg.Namespaces {
		if err := b.CreateNamespace(ctx, ns); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return b, nil
}

// dial opens a session with b's ensemble within the dial timeout and
// authenticates it.
func (b *Backend) dial(ctx context.Context) (*zk.Conn, error) {
	cfg := b.cfg
	log := &lastLog{}
	conn, events, err := zk.Connect(cfg.Servers, cfg.SessionTimeout, zk.WithLogger(log), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("zookeeper: connect to %s: %w", b.servers, err)
	}
	if err := waitSession(ctx, events, cfg.DialTimeout); err != nil {
		// Close waits up to a second for the server to answer; there is
		// none to wait for.
		go conn.Close()
		why := ""
		if line := log.last(); line != "" {
			why = " (" + line + ")"
		}
		return nil, fmt.Errorf("zookeeper: connect to %s: %w%s", b.servers, err, why)
	}
	if cfg.User != "" {
		actx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
		_, err := do(actx, func() (struct{}, error) {
			return struct{}{}, conn.AddAuth("digest", []byte(cfg.User+":"+cfg.Password))
		})
		if err != nil {
			go conn.Close()
			return nil, b.fail("authenticate as "+strconv.Quote(cfg.User), "", err)
		}
	}
	return conn, nil
}

// waitSession waits for the session event, at most timeout.
func waitSession(ctx context.Context, events <-chan zk.Event, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return confo.ErrClosed
			}
			if ev.State == zk.StateHasSession {
				return nil
			}
			if ev.State == zk.StateAuthFailed {
				return fmt.Errorf("%w: the server refused the session's authentication", confo.ErrInvalidCredentials)
			}
		case <-timer.C:
			return fmt.Errorf("no session within dial_timeout %s: %w", timeout, context.DeadlineExceeded)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// init makes sure the prefix exists and can be read.
func (b *Backend) init(ctx context.Context) error {
	if err := b.ensurePrefix(ctx); err != nil {
		return err
	}
	if _, err := do(ctx, func() ([]string, error) { names, _, err := b.conn.Children(b.prefix); return names, err }); err != nil {
		return b.fail("read", b.prefix, err)
	}
	return nil
}

// ensurePrefix creates the prefix znode and its parents if missing.
func (b *Backend) ensurePrefix(ctx context.Context) error {
	parts := strings.Split(strings.TrimPrefix(b.prefix, "/"), "/")
	for i := range parts {
		path := "/" + strings.Join(parts[:i+1], "/")
		exists, err := do(ctx, func() (bool, error) { ok, _, err := b.conn.Exists(path); return ok, err })
		if err != nil {
			return b.fail("check", path, err)
		}
		if exists {
			continue
		}
		_, err = do(ctx, func() (string, error) { return b.conn.Create(path, nil, 0, b.acl) })
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return b.fail("create", path, err)
		}
	}
	return nil
}

// NewFromConn returns a backend on a session the caller opened (and
// authenticated), storing under prefix with the given ACL for new znodes
// (nil: open to anyone). Close closes the session.
func NewFromConn(conn *zk.Conn, prefix string, acl []zk.ACL) *Backend {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if acl == nil {
		acl = zk.WorldACL(zk.PermAll)
	}
	cfg := Config{Prefix: prefix}.withDefaults()
	return &Backend{conn: conn, servers: conn.Server(), prefix: cfg.Prefix, acl: acl, done: make(chan struct{}),
		limits: confo.BatchLimits{MaxOps: cfg.MaxOps, MaxBytes: cfg.MaxRequestBytes - cfg.MaxOps*(len(cfg.Prefix)+2+255+32) - 1024}}
}

// Conn returns the underlying session.
func (b *Backend) Conn() *zk.Conn { return b.conn }

// Path returns the znode of configuration name in namespace ns, or of the
// namespace itself when name is "".
func (b *Backend) Path(ns, name string) string {
	if name == "" {
		return b.prefix + "/" + ns
	}
	return b.prefix + "/" + ns + "/" + name
}

// BatchLimits reports the most ops and bytes one multi may carry.
func (b *Backend) BatchLimits() confo.BatchLimits { return b.limits }

// do runs a blocking call of the client, returning early when ctx ends
// (the call itself then ends with its response or with Close).
func do[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backend) checkOpen(op string) error {
	if b.closed.Load() {
		return fmt.Errorf("zookeeper: %s: %w", op, confo.ErrClosed)
	}
	return nil
}

// fail wraps an error of the client for op on path.
func (b *Backend) fail(op, path string, err error) error {
	if b.closed.Load() || errors.Is(err, zk.ErrClosing) {
		return fmt.Errorf("zookeeper: %s %s: %w", op, path, confo.ErrClosed)
	}
	if errors.Is(err, zk.ErrNoAuth) {
		who := "without zookeeper_user"
		if b.user != "" {
			who = "as digest user " + strconv.Quote(b.user)
		}
		return fmt.Errorf("zookeeper: %s %q on %s: %w: not allowed %s (wrong zookeeper_user or zookeeper_passwd?)",
			op, path, b.servers, confo.ErrInvalidCredentials, who)
	}
	if errors.Is(err, zk.ErrInvalidPath) || errors.Is(err, zk.ErrBadArguments) {
		// ZooKeeper forbids some characters that confo names allow
		// (U+E000 to U+F8FF and U+FFF0 to U+FFFF among them).
		return fmt.Errorf("zookeeper: %s %q: %w: ZooKeeper refuses the path (%w)", op, path, confo.ErrInvalidName, err)
	}
	if path == "" {
		return fmt.Errorf("zookeeper: %s on %s: %w", op, b.servers, err)
	}
	return fmt.Errorf("zookeeper: %s %q on %s: %w", op, path, b.servers, err)
}

// Namespaces lists the children of the prefix znode.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.checkOpen("list namespaces"); err != nil {
		return nil, err
	}
	names, err := do(ctx, func() ([]string, error) { names, _, err := b.conn.Children(b.prefix); return names, err })
	if errors.Is(err, zk.ErrNoNode) {
		return []string{}, nil
	}
	if err != nil {
		return nil, b.fail("list namespaces in", b.prefix, err)
	}
	return names, nil
}

// CreateNamespace creates the namespace znode (and the prefix if it was
// removed).
func (b *Backend) CreateNamespace(ctx context.Context, ns string) error {
	path := b.Path(ns, "")
	if err := b.checkOpen("create namespace " + path); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		_, err := do(ctx, func() (string, error) { return b.conn.Create(path, nil, 0, b.acl) })
		switch {
		case err == nil, errors.Is(err, zk.ErrNodeExists):
			return nil
		case errors.Is(err, zk.ErrNoNode) && attempt == 0:
			if err := b.ensurePrefix(ctx); err != nil {
				return err
			}
		default:
			return b.fail(fmt.Sprintf("create namespace %q:", ns), path, err)
		}
	}
}

// Close ends the session. Later calls return ErrClosed.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.done)
	b.conn.Close()
	return nil
}
