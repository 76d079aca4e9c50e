// Command quickstart walks through the etcd chapter of the original Confo's
// documentation, step for step, with Confo for Go, and prints each result as
// the original's documentation shows it.
//
//	go run ./examples/quickstart
//
// With no CONFO_ETCD_ENDPOINTS in the environment it starts an etcd server
// inside the process, in a temporary directory that it removes at the end,
// so it needs nothing installed. With CONFO_ETCD_ENDPOINTS set to a
// comma-separated list of host:port, it uses that cluster instead, under the
// default key prefix /confo, as the original did; running it again against
// the same cluster works, since the second run loads what the first stored
// before changing it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd" // registers confo.EtcdBackend
	"github.com/confo-go/confo/internal/embedetcd"
)

// EndpointsEnv names the environment variable that points the example at an
// etcd cluster of one's own.
const EndpointsEnv = "CONFO_ETCD_ENDPOINTS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // nothing may hang
	defer cancel()

	if err := run(ctx, os.Stdout, os.Getenv(EndpointsEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		stop()
		cancel()
		os.Exit(1)
	}
}

// run prints the walk-through to w against the etcd cluster at endpoints
// (comma-separated host:port), or against an in-process etcd when endpoints
// is empty.
func run(ctx context.Context, w io.Writer, endpoints string) (err error) {
	creds, where, cleanup, err := etcdCredentials(ctx, endpoints)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	p := printer{w: w}
	p.line("Confo quick start against %s", where)

	// ── Backend operations ──────────────────────────────────────────────
	//
	// The original's Confo() is a process-wide singleton; its port is
	// confo.Default(). The example builds its managers with confo.New so
	// that run can be called more than once in a process (its test does).
	config := confo.New()
	defer func() { err = errors.Join(err, config.Close()) }()

	p.call("config.LoadBackend(ctx, %q, confo.EtcdBackend, %s)", "ETCD_backend", creds.show)
	if err := config.LoadBackend(ctx, "ETCD_backend", confo.EtcdBackend, creds.creds); err != nil {
		return err
	}

	// get_backends returned {'all_backends': [...], 'active_backend': None};
	// GetBackends returns a confo.Backends, whose Active is "" while no
	// backend is active. Until one is, every configuration call returns
	// confo.ErrBackendNotActive (the original's BackendsActivationException).
	p.call("config.GetBackends()")
	p.value(config.GetBackends())

	p.call("config.ActivateBackend(%q)", "ETCD_backend")
	if err := config.ActivateBackend("ETCD_backend"); err != nil {
		return err
	}
	p.call("config.GetBackends()")
	p.value(config.GetBackends())

	// ── Namespace operations ────────────────────────────────────────────
	//
	// CreateNamespace is idempotent, so a second run against the same
	// cluster is not an error. Namespace names are reported as given,
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
	// error instead, and writes only what changed, in etcd transactions
	// guarded by the revision each configuration was read at.
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
	// and shares nothing with config but the etcd cluster.
	config2 := confo.New()
	defer func() { err = errors.Join(err, config2.Close()) }()

	p.call("config2.LoadBackend(ctx, %q, confo.EtcdBackend, %s)", "ETCD_backend2", creds.show)
	if err := config2.LoadBackend(ctx, "ETCD_backend2", confo.EtcdBackend, creds.creds); err != nil {
		return err
	}
	p.call("config2.ActivateBackend(%q)", "ETCD_backend2")
	if err := config2.ActivateBackend("ETCD_backend2"); err != nil {
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

// credentials are the etcd backend's credentials and how to show them.
type credentials struct {
	creds confo.Credentials
	show  string // Go source of creds, for the printed calls
}

// etcdCredentials returns credentials for the cluster at endpoints, or
// starts an in-process etcd when endpoints is empty. cleanup stops that
// server and removes its directory.
func etcdCredentials(ctx context.Context, endpoints string) (c credentials, where string, cleanup func() error, err error) {
	if endpoints != "" {
		var list []string
		for _, ep := range strings.Split(endpoints, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				list = append(list, ep)
			}
		}
		if len(list) == 0 {
			return c, "", nil, fmt.Errorf("%s=%q names no endpoint", EndpointsEnv, endpoints)
		}
		c = credentials{
			creds: confo.Credentials{"endpoints": list},
			show:  fmt.Sprintf("confo.Credentials{\"endpoints\": %#v}", list),
		}
		return c, "etcd at " + strings.Join(list, ","), func() error { return nil }, nil
	}

	dir, err := os.MkdirTemp("", "confo-quickstart-")
	if err != nil {
		return c, "", nil, err
	}
	srv, err := embedetcd.Start(ctx, dir)
	if err != nil {
		return c, "", nil, errors.Join(err, os.RemoveAll(dir))
	}
	cleanup = func() error {
		srv.Close()
		return os.RemoveAll(dir)
	}
	// The original's credentials: host and port.
	ep := srv.Endpoints()[0]
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		return c, "", nil, errors.Join(err, cleanup())
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return c, "", nil, errors.Join(err, cleanup())
	}
	c = credentials{
		creds: confo.Credentials{"host": host, "port": port},
		show:  fmt.Sprintf("confo.Credentials{\"host\": %q, \"port\": %d}", host, port),
	}
	where = fmt.Sprintf("an in-process etcd at %s (set %s to use your own cluster)", ep, EndpointsEnv)
	return c, where, cleanup, nil
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
