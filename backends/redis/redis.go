// Package redis is the confo backend for Redis (6.2 or later), built on
// github.com/redis/go-redis/v9. Importing it registers [confo.RedisBackend].
//
// # Credentials
//
// host (required: there is no default address), port (6379), user (a
// Redis 6 ACL user; "default" for a server's requirepass), password (needs a
// user), db (the logical database, 0), prefix
// (default "confo"), dial_timeout (default 5s), tls (true for TLS), ca_file,
// cert_file, key_file (any of them turns TLS on), and namespaces (a list of
// namespaces created at load). An unknown key is
// [confo.ErrInvalidCredentials] naming it and the nearest known key.
//
// # Layout
//
// With the default prefix "confo":
//
//	confo:namespaces      set: the namespace names (a namespace exists once in it)
//	confo:ns:<namespace>  hash: configuration name -> its JSON object
//	confo:rev:<namespace> hash: configuration name -> its revision
//	confo:revision        string: the store's revision counter (INCR)
//	confo:changes:<namespace>  channel: the new revision, published on each commit
//
// so `redis-cli HGET confo:ns:database mysql` prints the mysql configuration
// of namespace database.
//
// # Guard and consistency
//
// Load is one Lua script (EVALSHA): the namespace's two hashes and the
// counter read at one moment. Commit is one Lua script too: it compares each
// configuration's stored revision with the one the change is based on and,
// only if all match, takes a new revision from the counter, writes the whole
// batch and publishes it on the namespace's channel. Scripts run atomically
// in Redis, so the guard and the batch are atomic. A value written by another
// tool without its revision field counts as revision -1: changes based on an
// earlier read are then refused, but a later such write that keeps the
// revision field unchanged goes unnoticed, so other writers must bump the
// revision (HSET it from INCR of the counter). The keys of one store must
// live on one server: Redis Cluster is not supported.
//
// [Backend.Watch] subscribes to the namespace's change channel and reads the
// namespace again on each notice; writers that do not publish are not seen.
//
// This package never logs; go-redis itself logs some connection failures
// through its package logger, which [goredis.SetLogger] replaces.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

func init() {
	confo.Register(confo.RedisBackend, credential.Opener(ParseCredentials, New))
}

// Backend is a connection to a Redis server. It is safe for concurrent use.
type Backend struct {
	client *goredis.Client
	addr   string
	keys   keys
	closed atomic.Bool
	done   chan struct{} // closed by Close: ends the watches
}

var _ confo.Backend = (*Backend)(nil)

// keys names the store's keys under a prefix.
type keys struct{ prefix string }

func (k keys) namespaces() string         { return k.prefix + ":namespaces" }
func (k keys) revision() string           { return k.prefix + ":revision" }
func (k keys) values(ns string) string    { return k.prefix + ":ns:" + ns }
func (k keys) revisions(ns string) string { return k.prefix + ":rev:" + ns }
func (k keys) channel(ns string) string   { return k.prefix + ":changes:" + ns }
func (k keys) namespace(ns string) []string {
	return []string{k.namespaces(), k.values(ns), k.revisions(ns), k.revision()}
}

// New connects to the server of cfg, checks that it answers (and accepts the
// password) within cfg.DialTimeout, and creates cfg.Namespaces. An
// unreachable server is an error naming its address; a refused password
// wraps [confo.ErrInvalidCredentials].
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	client := goredis.NewClient(&goredis.Options{
		Addr:                  cfg.Addr,
		Username:              cfg.Username,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		DialTimeout:           cfg.DialTimeout,
		TLSConfig:             tc,
		ContextTimeoutEnabled: true,
		// A commit whose reply was lost must not be sent again: the guard
		// would refuse it, reporting a conflict for the commit's own write.
		MaxRetries:      -1,
		DisableIdentity: true,
		// No background handshakes (and so no logging) this backend does
		// not use.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	b := &Backend{client: client, addr: cfg.Addr, keys: keys{prefix: cfg.Prefix}, done: make(chan struct{})}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	err = client.Ping(pctx).Err()
	cancel()
	if err != nil {
		client.Close()
		if isAuthError(err) {
			return nil, fmt.Errorf("redis: connect to %s: %w: the server refused the user or password (%s)", cfg.Addr, confo.ErrInvalidCredentials, authMessage(err))
		}
		var netErr net.Error
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())) {
			return nil, fmt.Errorf("redis: connect to %s: no answer within dial_timeout %s: %w", cfg.Addr, cfg.DialTimeout, err)
		}
		return nil, fmt.Errorf("redis: connect to %s: %w", cfg.Addr, err)
	}
	for _, ns := range cfg.Namespaces {
		if err := b.CreateNamespace(ctx, ns); err != nil {
			client.Close()
			return nil, err
		}
	}
	return b, nil
}

// NewFromClient returns a backend on a go-redis client the caller built
// (for options this package does not expose). Close closes the client.
func NewFromClient(client *goredis.Client, prefix string) *Backend {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Backend{client: client, addr: client.Options().Addr, keys: keys{prefix: prefix}, done: make(chan struct{})}
}

// Client returns the underlying go-redis client.
func (b *Backend) Client() *goredis.Client { return b.client }

// Keys returns the names of namespace ns's value hash and revision hash,
// and of the store's revision counter, as laid out in the package
// documentation.
func (b *Backend) Keys(ns string) (values, revisions, counter string) {
	return b.keys.values(ns), b.keys.revisions(ns), b.keys.revision()
}

// Channel returns the channel on which each commit to ns publishes its new
// revision.
func (b *Backend) Channel(ns string) string { return b.keys.channel(ns) }

func isAuthError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR invalid password", "ERR AUTH"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// authMessage returns the server's refusal without anything the client sent.
func authMessage(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func (b *Backend) checkOpen(op string) error {
	if b.closed.Load() {
		return fmt.Errorf("redis: %s: %w", op, confo.ErrClosed)
	}
	return nil
}

// fail wraps an error of the server or the connection.
func (b *Backend) fail(op string, err error) error {
	if b.closed.Load() {
		return fmt.Errorf("redis: %s: %w", op, confo.ErrClosed)
	}
	if isAuthError(err) {
		return fmt.Errorf("redis: %s on %s: %w (%s)", op, b.addr, confo.ErrInvalidCredentials, authMessage(err))
	}
	return fmt.Errorf("redis: %s on %s: %w", op, b.addr, err)
}

// Namespaces lists the members of the namespace set (SMEMBERS); no
// configuration is read.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.checkOpen("list namespaces"); err != nil {
		return nil, err
	}
	names, err := b.client.SMembers(ctx, b.keys.namespaces()).Result()
	if err != nil {
		return nil, b.fail("list namespaces", err)
	}
	return names, nil
}

// CreateNamespace adds ns to the namespace set (SADD).
func (b *Backend) CreateNamespace(ctx context.Context, ns string) error {
	op := fmt.Sprintf("create namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return err
	}
	if err := b.client.SAdd(ctx, b.keys.namespaces(), ns).Err(); err != nil {
		return b.fail(op, err)
	}
	return nil
}

// errNoNamespace is the scripts' answer when the namespace is not in the
// namespace set.
const errNoNamespace = "CONFONONAMESPACE"

// loadScript returns the namespace's values, revisions and the counter, or
// the errNoNamespace error. A value without a revision field gets -1.
var loadScript = goredis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('` + errNoNamespace + `')
end
return {redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]), redis.call('GET', KEYS[4])}
`)

// Load reads namespace ns in one round trip (one script, atomic).
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	op := fmt.Sprintf("load namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return confo.Snapshot{}, err
	}
	res, err := loadScript.Run(ctx, b.client, b.keys.namespace(ns), ns).Slice()
	if err != nil {
		if strings.Contains(err.Error(), errNoNamespace) {
			return confo.Snapshot{}, fmt.Errorf("redis: %s: %w", op, confo.ErrNamespaceNotFound)
		}
		return confo.Snapshot{}, b.fail(op, err)
	}
	if len(res) != 3 {
		return confo.Snapshot{}, fmt.Errorf("redis: %s on %s: unexpected script reply of %d items", op, b.addr, len(res))
	}
	values, _ := res[0].([]any)
	revs, _ := res[1].([]any)
	revByName := make(map[string]int64, len(revs)/2)
	for i := 0; i+1 < len(revs); i += 2 {
		name, _ := revs[i].(string)
		s, _ := revs[i+1].(string)
		rev, err := strconv.ParseInt(s, 10, 64)
		if err != nil || rev <= 0 {
			return confo.Snapshot{}, fmt.Errorf("redis: %s: %w: revision of %q in %s is not a positive integer",
				op, confo.ErrCorruptValue, name, b.keys.revisions(ns))
		}
		revByName[name] = rev
	}
	snap := confo.Snapshot{Entries: make(map[string]confo.Entry, len(values)/2)}
	for i := 0; i+1 < len(values); i += 2 {
		name, _ := values[i].(string)
		value, _ := values[i+1].(string)
		rev, ok := revByName[name]
		if !ok {
			rev = -1
		}
		snap.Entries[name] = confo.Entry{Value: []byte(value), Revision: rev}
	}
	if s, ok := res[2].(string); ok {
		snap.Revision, _ = strconv.ParseInt(s, 10, 64)
	}
	return snap, nil
}

// Close closes the connection pool. Later calls return ErrClosed.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.done)
	if err := b.client.Close(); err != nil {
		return fmt.Errorf("redis: close %s: %w", b.addr, err)
	}
	return nil
}
