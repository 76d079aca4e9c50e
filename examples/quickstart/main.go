// Command quickstart walks through the etcd chapter of the original Confo's
// documentation, step for step, with Confo for Go, and prints each result as
// the original's documentation shows it.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -backend redis -endpoints 127.0.0.1:6379
//
// With no CONFO_ENDPOINTS in the environment it starts an etcd server
// inside the process, in a temporary directory that it removes at the end,
// so it needs nothing installed. With CONFO_ENDPOINTS (or its former name
// CONFO_ETCD_ENDPOINTS) set to a comma-separated list of host:port, it uses
// that cluster instead, under the
// default key prefix /confo, as the original did; running it again against
// the same cluster works, since the second run loads what the first stored
// before changing it.
//
// The -backend flag (or CONFO_BACKEND) runs the same walk-through on
// another store: etcd (the default), file, memory, zookeeper, redis or
// database (PostgreSQL). The store is reached through the confo command's
// flags and variables, flags winning over the environment (but the backend
// is etcd unless named, even with CONFO_CONFIG_PATH set):
//
//	-endpoints    host:port,... of etcd, zookeeper, redis or     CONFO_ENDPOINTS
//	              database (required but for etcd: no store is
//	              reached at an address nobody gave)
//	-config-path  the file backend's directory (default: a       CONFO_CONFIG_PATH
//	              temporary one, removed at the end)
//	-user         user name; the password comes from             CONFO_USER
//	              CONFO_PASSWORD, never from a flag
//
// The database backend also takes a connection string from CONFO_DSN, in
// place of -endpoints and -user. The memory store lives in the process, so
// the second manager shares the first's.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"      // registers confo.EtcdBackend
	_ "github.com/confo-go/confo/backends/file"      // registers confo.FileBackend
	_ "github.com/confo-go/confo/backends/memory"    // registers confo.MemoryBackend
	_ "github.com/confo-go/confo/backends/postgres"  // registers confo.DatabaseBackend
	_ "github.com/confo-go/confo/backends/redis"     // registers confo.RedisBackend
	_ "github.com/confo-go/confo/backends/zookeeper" // registers confo.ZookeeperBackend
	"github.com/confo-go/confo/internal/embedetcd"
	"github.com/confo-go/confo/internal/store"
)

// Environment variables that choose the store, as they do for the confo
// command. Flags win over them.
const (
	// BackendEnv names the backend type (default etcd).
	BackendEnv = "CONFO_BACKEND"
	// EndpointsEnv points the example at a store of one's own: an etcd
	// cluster, a ZooKeeper ensemble, a Redis or a PostgreSQL server.
	EndpointsEnv = store.EnvEndpoints
	// EndpointsAliasEnv is EndpointsEnv's former name, read when
	// EndpointsEnv is not set.
	EndpointsAliasEnv = store.EnvEndpointsAlias
	// ConfigPathEnv is the file backend's directory.
	ConfigPathEnv = "CONFO_CONFIG_PATH"
	// DSNEnv is the database backend's connection string.
	DSNEnv = "CONFO_DSN"
	// UserEnv and PasswordEnv authenticate to the store.
	UserEnv     = "CONFO_USER"
	PasswordEnv = "CONFO_PASSWORD"
)

func main() {
	s, err := parseSettings(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(2)
	}

	// go-redis logs some dial failures through its process-wide logger;
	// the example reports them as errors instead, so they must not print
	// too.
	goredis.SetLogger(quietRedis{})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // nothing may hang
	defer cancel()

	if err := runOn(ctx, os.Stdout, s); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		stop()
		cancel()
		os.Exit(1)
	}
}

// quietRedis discards go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// settings choose the store the walk-through runs on.
type settings struct {
	backend confo.BackendType
	// endpoints is a comma-separated list of host:port; for etcd, ""
	// starts a server in the process.
	endpoints string
	// configPath is the file backend's directory; "" is a temporary one,
	// removed at the end.
	configPath string
	// dsn is the database backend's connection string.
	dsn string
	// user and password authenticate.
	user, password string
}

// parseSettings reads the flags in args (usage and flag errors go to
// output), then takes what they leave unset from getenv. Without a backend
// it is etcd.
func parseSettings(args []string, getenv func(string) string, output io.Writer) (settings, error) {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: quickstart [flags]\n\nRuns the original Confo's walk-through on a store. The database backend\nalso reads %s; the password comes from %s.\n\n", DSNEnv, PasswordEnv)
		fs.PrintDefaults()
	}
	backend := fs.String("backend", "", "store: "+strings.Join(store.Kinds(), ", ")+" (env "+BackendEnv+"; default etcd)")
	endpoints := fs.String("endpoints", "", "the store's host:port,... (env "+EndpointsEnv+"; etcd's default: a server in the process)")
	configPath := fs.String("config-path", "", "the file backend's directory (env "+ConfigPathEnv+"; default: a temporary one)")
	user := fs.String("user", "", "user name; the password comes from "+PasswordEnv+" (env "+UserEnv+")")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected argument %q (flags only; -h lists them)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	pick := func(flagName, value string, envs ...string) string {
		if given[flagName] {
			return value
		}
		for _, env := range envs {
			if v := getenv(env); v != "" {
				return v
			}
		}
		return ""
	}
	s := settings{
		backend:    confo.BackendType(pick("backend", *backend, BackendEnv)),
		endpoints:  pick("endpoints", *endpoints, EndpointsEnv, EndpointsAliasEnv),
		configPath: pick("config-path", *configPath, ConfigPathEnv),
		user:       pick("user", *user, UserEnv),
		password:   getenv(PasswordEnv),
		dsn:        getenv(DSNEnv),
	}
	if s.backend == "" {
		s.backend = confo.EtcdBackend
	}
	if _, ok := kinds[s.backend]; !ok {
		return settings{}, fmt.Errorf("unknown backend %q (want one of %s)", s.backend, strings.Join(store.Kinds(), ", "))
	}
	return s, nil
}

// kind is what the walk-through prints for a backend type.
type kind struct {
	constant  string // the Go constant, as the original's BE.ETCD_BACKEND
	store     string // the store's name in prose
	endpoints bool   // whether it takes -endpoints
}

var kinds = map[confo.BackendType]kind{
	confo.EtcdBackend:      {constant: "confo.EtcdBackend", store: "etcd", endpoints: true},
	confo.FileBackend:      {constant: "confo.FileBackend", store: "files"},
	confo.MemoryBackend:    {constant: "confo.MemoryBackend", store: "memory"},
	confo.ZookeeperBackend: {constant: "confo.ZookeeperBackend", store: "ZooKeeper", endpoints: true},
	confo.RedisBackend:     {constant: "confo.RedisBackend", store: "Redis", endpoints: true},
	confo.DatabaseBackend:  {constant: "confo.DatabaseBackend", store: "PostgreSQL", endpoints: true},
}

// run prints the walk-through to w against the etcd cluster at endpoints
// (comma-separated host:port), or against an in-process etcd when endpoints
// is empty.
func run(ctx context.Context, w io.Writer, endpoints string) error {
	return runOn(ctx, w, settings{backend: confo.EtcdBackend, endpoints: endpoints})
}

// runOn prints the walk-through to w against the store s chooses. The
// backends are named as the original named its etcd one: ETCD_backend,
// FILE_backend, REDIS_backend, and so on.
func runOn(ctx context.Context, w io.Writer, s settings) (err error) {
	k, ok := kinds[s.backend]
	if !ok {
		return fmt.Errorf("unknown backend %q (want one of %s)", s.backend, strings.Join(store.Kinds(), ", "))
	}
	st, cleanup, err := open(ctx, s, k)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	name := strings.ToUpper(string(s.backend)) + "_backend"
	p := printer{w: w}
	p.line("Confo quick start against %s", st.where)

	// ── Backend operations ──────────────────────────────────────────────
	//
	// The original's Confo() is a process-wide singleton; its port is
	// confo.Default(). The example builds its managers with confo.New so
	// that run can be called more than once in a process (its test does).
	config := confo.New()
	defer func() { err = errors.Join(err, config.Close()) }()

	p.call("config.LoadBackend(ctx, %q, %s, %s)", name, k.constant, st.show)
	if err := config.LoadBackend(ctx, name, s.backend, st.creds); err != nil {
		return err
	}

	// get_backends returned {'all_backends': [...], 'active_backend': None};
	// GetBackends returns a confo.Backends, whose Active is "" while no
	// backend is active. Until one is, every configuration call returns
	// confo.ErrBackendNotActive (the original's BackendsActivationException).
	p.call("config.GetBackends()")
	p.value(config.GetBackends())

	p.call("config.ActivateBackend(%q)", name)
	if err := config.ActivateBackend(name); err != nil {
		return err
	}
	p.call("config.GetBackends()")
	p.value(config.GetBackends())

	// ── Namespace operations ────────────────────────────────────────────
	//
	// CreateNamespace is idempotent, so a second run against the same
	// store is not an error. Namespace names are reported as given,
	// "database"; the original reported "/confo/database", which is where
	// the namespace lives in etcd rather than its name.
	p.call("config.CreateNamespace(ctx, %q)", "database")
	if err := config.CreateNamespace(ctx, "database"); err != nil {
		return err
	}
	// UseNamespace loads the namespace (one read) before using it, so what
	// an earlier run stored is in the view and Persist below updates it
	// rather than conflicting with it.
	p.call("config.UseNamespace(ctx, %q)", "database")
	if err := config.UseNamespace(ctx, "database"); err != nil {
		return err
	}
	p.call("config.GetNamespaces(ctx)")
	namespaces, err := config.GetNamespaces(ctx)
	if err != nil {
		return err
	}
	p.value(namespaces)

	// GetCount counts namespaces, as the original's get_count does (its
	// documentation says so; ConfigCount counts configurations).
	p.call("config.GetCount(ctx)")
	count, err := config.GetCount(ctx)
	if err != nil {
		return err
	}
	p.value(count)

	// ── Configuration operations ────────────────────────────────────────
	//
	// The original's set(name, value, key) is split in two: Set stores a
	// whole configuration, SetField one field. Both change the in-memory
	// view only, until Persist.
	postgress := map[string]any{
		"driver": "postgress",
		"host":   "127.0.0.1",
		"port":   5678,
	}
	p.call("config.Set(%q, postgress)", "postgress")
	if err := config.Set("postgress", postgress); err != nil {
		return err
	}
	mysql := map[string]any{
		"driver": "mysql",
		"host":   "localhost",
		"port":   1234,
	}
	p.call("config.Set(%q, mysql)", "mysql")
	if err := config.Set("mysql", mysql); err != nil {
		return err
	}

	// get(name, key) is GetField; Get returns a whole configuration.
	p.call("config.GetField(%q, %q)", "mysql", "host")
	host, err := config.GetField("mysql", "host")
	if err != nil {
		return err
	}
	p.value(host)

	// The original's documentation shows mysql's host as '1123356' here,
	// a value its walk-through never set; this prints what was set.
	p.call("config.GetAll()")
	all, err := config.GetAll()
	if err != nil {
		return err
	}
	if err := p.json(all); err != nil {
		return err
	}

	// persist() printed its outcome and returned None; Persist returns an
	// error instead, and writes only what changed, in the store's atomic
	// batches (etcd transactions, a ZooKeeper multi, a Redis script, a
	// PostgreSQL transaction) guarded by the revision each configuration
	// was read at.
	p.call("config.Persist(ctx)")
	if err := config.Persist(ctx); err != nil {
		return err
	}
	p.line("persisted")

	p.call("config.Reload(ctx)")
	if err := config.Reload(ctx); err != nil {
		return err
	}
	p.line("reloaded")

	// ── A second instance reloads what the first persisted ──────────────
	//
	// In the original, config2 = Confo() returned the same singleton, so
	// its get_backends listed both ETCD_backend2 and ETCD_backend. Here
	// config2 is an independent manager: it knows only its own backend,
	// and shares nothing with config but the store.
	config2 := confo.New()
	defer func() { err = errors.Join(err, config2.Close()) }()

	name2 := name + "2"
	if s.backend == confo.MemoryBackend {
		// A memory store lives as long as its Backend, and each
		// LoadBackend opens a new, empty one: config2 adds config's.
		p.call("store, err := config.Backend(%q)", name)
		shared, err := config.Backend(name)
		if err != nil {
			return err
		}
		p.call("config2.AddBackend(%q, store)", name2)
		if err := config2.AddBackend(name2, shared); err != nil {
			return err
		}
	} else {
		p.call("config2.LoadBackend(ctx, %q, %s, %s)", name2, k.constant, st.show)
		if err := config2.LoadBackend(ctx, name2, s.backend, st.creds); err != nil {
			return err
		}
	}
	p.call("config2.ActivateBackend(%q)", name2)
	if err := config2.ActivateBackend(name2); err != nil {
		return err
	}
	p.call("config2.GetBackends()")
	p.value(config2.GetBackends())

	// The namespace exists already (config created it); none is in use yet.
	p.call("config2.GetNamespaces(ctx)")
	if namespaces, err = config2.GetNamespaces(ctx); err != nil {
		return err
	}
	p.value(namespaces)

	p.call("config2.CreateNamespace(ctx, %q)", "database")
	if err := config2.CreateNamespace(ctx, "database"); err != nil {
		return err
	}
	p.call("config2.UseNamespace(ctx, %q)", "database")
	if err := config2.UseNamespace(ctx, "database"); err != nil {
		return err
	}
	p.call("config2.GetNamespaces(ctx)")
	if namespaces, err = config2.GetNamespaces(ctx); err != nil {
		return err
	}
	p.value(namespaces)

	// UseNamespace has loaded the namespace already; Reload reads it again
	// (the store wins), as the original's walk-through does.
	p.call("config2.Reload(ctx)")
	if err := config2.Reload(ctx); err != nil {
		return err
	}
	p.call("config2.GetAll()")
	if all, err = config2.GetAll(); err != nil {
		return err
	}
	return p.json(all)
}

// chosen is the store the walk-through runs on.
type chosen struct {
	creds confo.Credentials
	show  string // Go source of creds, for the printed calls
	where string // the store, for the first line
}

// secrets are the credentials never printed, by the variable that holds them.
var secrets = map[string]string{"password": PasswordEnv, "zookeeper_passwd": PasswordEnv, "dsn": DSNEnv}

// open returns the credentials of the store s chooses, or starts an
// in-process etcd (etcd without endpoints) or makes a temporary directory
// (file without a config path). cleanup stops that server and removes the
// directory.
func open(ctx context.Context, s settings, k kind) (c chosen, cleanup func() error, err error) {
	cleanup = func() error { return nil }
	var endpoints []string
	if k.endpoints && s.endpoints != "" {
		for ep := range strings.SplitSeq(s.endpoints, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				endpoints = append(endpoints, ep)
			}
		}
		if len(endpoints) == 0 {
			return c, nil, fmt.Errorf("-endpoints or %s: %q names no endpoint", EndpointsEnv, s.endpoints)
		}
	}
	o := store.Options{
		Backend:    string(s.backend),
		Endpoints:  endpoints,
		User:       s.user,
		Password:   s.password,
		ConfigPath: s.configPath,
		DSN:        s.dsn,
	}
	switch {
	case s.backend == confo.EtcdBackend && len(endpoints) == 0:
		return inProcessEtcd(ctx)
	case s.backend == confo.FileBackend && s.configPath == "":
		if o.ConfigPath, err = os.MkdirTemp("", "confo-quickstart-"); err != nil {
			return c, nil, err
		}
		cleanup = func() error { return os.RemoveAll(o.ConfigPath) }
		c.where = fmt.Sprintf("files in a temporary directory, %s (set %s to keep them)", o.ConfigPath, ConfigPathEnv)
	case s.backend == confo.FileBackend:
		c.where = "files in " + o.ConfigPath
	case s.backend == confo.MemoryBackend:
		c.where = "a memory store in the process"
	case len(endpoints) > 0:
		c.where = k.store + " at " + strings.Join(endpoints, ",")
	case s.backend == confo.DatabaseBackend && s.dsn != "":
		c.where = k.store + " at the connection string in " + DSNEnv
	default:
		// No store is reached at an address nobody gave.
		return c, nil, fmt.Errorf("the %s walk-through needs the server's address: set -endpoints or %s", k.store, EndpointsEnv)
	}
	if _, c.creds, err = o.Credentials(); err != nil {
		return c, nil, errors.Join(err, cleanup())
	}
	c.show = goSource(c.creds)
	return c, cleanup, nil
}

// inProcessEtcd starts an etcd in a temporary directory and returns the
// original's credentials for it: host and port.
func inProcessEtcd(ctx context.Context) (c chosen, cleanup func() error, err error) {
	dir, err := os.MkdirTemp("", "confo-quickstart-")
	if err != nil {
		return c, nil, err
	}
	srv, err := embedetcd.Start(ctx, dir)
	if err != nil {
		return c, nil, errors.Join(err, os.RemoveAll(dir))
	}
	cleanup = func() error {
		srv.Close()
		return os.RemoveAll(dir)
	}
	ep := srv.Endpoints()[0]
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		return c, nil, errors.Join(err, cleanup())
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return c, nil, errors.Join(err, cleanup())
	}
	c.creds = confo.Credentials{"host": host, "port": port}
	c.show = goSource(c.creds)
	c.where = fmt.Sprintf("an in-process etcd at %s (set %s to use your own cluster)", ep, EndpointsEnv)
	return c, cleanup, nil
}

// goSource returns creds as Go source, keys sorted, with each secret shown
// as the os.Getenv call that supplies it.
func goSource(creds confo.Credentials) string {
	keys := slices.Sorted(maps.Keys(creds))
	fields := make([]string, len(keys))
	for i, key := range keys {
		v := fmt.Sprintf("%#v", creds[key])
		if env, ok := secrets[key]; ok {
			v = fmt.Sprintf("os.Getenv(%q)", env)
		}
		fields[i] = fmt.Sprintf("%q: %s", key, v)
	}
	return "confo.Credentials{" + strings.Join(fields, ", ") + "}"
}

// printer writes the walk-through: each call, then its result.
type printer struct{ w io.Writer }

func (p printer) line(format string, args ...any) { fmt.Fprintf(p.w, format+"\n", args...) }

func (p printer) call(format string, args ...any) { p.line("\n>>> "+format, args...) }

// value prints a result; structs show their field names
// ({All:[database] Current:database}).
func (p printer) value(v any) { p.line("%+v", v) }

// json prints configurations as indented JSON: encoding/json sorts map keys,
// so the output is the same on every run.
func (p printer) json(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	p.line("%s", b)
	return nil
}
