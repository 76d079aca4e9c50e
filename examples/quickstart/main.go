// Command quickstart walks through the etcd chapter of the original Confo's
// documentation, step for step, with Confo for Go, printing each call and
// its result.
//
// With CONFO_ENDPOINTS (or its former name CONFO_ETCD_ENDPOINTS) set to a
// comma-separated list of host:port, it uses that etcd cluster, under the
// default key prefix /confo; running it again works, since the second run
// loads what the first stored. Without it, it starts an etcd server inside
// the process, in a temporary directory removed at the end, so it needs
// nothing installed (the first build compiles that server: about 100 s on
// an empty build cache).
//
// The same walk-through runs on the file, ZooKeeper, Redis and PostgreSQL
// backends in this package's tests.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd" // registers confo.EtcdBackend
	"github.com/confo-go/confo/internal/embedetcd"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // nothing may hang
	defer cancel()
	endpoints := cmp.Or(os.Getenv("CONFO_ENDPOINTS"), os.Getenv("CONFO_ETCD_ENDPOINTS"))
	if endpoints == "" {
		dir, err := os.MkdirTemp("", "confo-quickstart-")
		check(err)
		defer os.RemoveAll(dir)
		srv, err := embedetcd.Start(ctx, dir)
		check(err)
		defer srv.Close()
		endpoints = strings.Join(srv.Endpoints(), ",")
		fmt.Printf("an in-process etcd at %s (set CONFO_ENDPOINTS to use your own cluster)\n", endpoints)
	}
	var eps []string // "a:2379, b:2379" as confo takes it: spaces trimmed, empty items dropped
	for ep := range strings.SplitSeq(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	creds := confo.Credentials{"endpoints": eps}
	check(walkThrough(ctx, os.Stdout, confo.EtcdBackend, creds))
}

// walkThrough runs the original's walk-through on a store of kind reached
// with creds, printing each call and its result to w. Its two managers are
// two instances of a service: the second reads what the first persisted.
func walkThrough(ctx context.Context, w io.Writer, kind confo.BackendType, creds confo.Credentials) error {
	name := strings.ToUpper(string(kind)) + "_backend"
	say := func(call string, result any) { fmt.Fprintf(w, "\n>>> %s\n%+v\n", call, result) }

	// The original's Confo() is a process-wide singleton, confo.Default();
	// the example uses independent managers, confo.New().
	config := confo.New()
	defer config.Close()
	if err := config.LoadBackend(ctx, name, kind, creds); err != nil {
		return err
	}
	say("config.GetBackends()", config.GetBackends()) // Active is "" until one is activated
	if err := config.ActivateBackend(name); err != nil {
		return err
	}
	say(fmt.Sprintf("config.ActivateBackend(%q); config.GetBackends()", name), config.GetBackends())

	// CreateNamespace is idempotent; UseNamespace loads the namespace.
	if err := config.CreateNamespace(ctx, "database"); err != nil {
		return err
	}
	if err := config.UseNamespace(ctx, "database"); err != nil {
		return err
	}
	namespaces, err := config.GetNamespaces(ctx)
	if err != nil {
		return err
	}
	say(`config.CreateNamespace(ctx, "database"); config.UseNamespace(ctx, "database"); config.GetNamespaces(ctx)`, namespaces)
	count, err := config.GetCount(ctx) // namespaces, as the original's get_count
	if err != nil {
		return err
	}
	say("config.GetCount(ctx)", count)

	// set(name, value) is Set; set(name, value, key) is SetField.
	if err := config.Set("postgress", map[string]any{"driver": "postgress", "host": "127.0.0.1", "port": 5678}); err != nil {
		return err
	}
	if err := config.Set("mysql", map[string]any{"driver": "mysql", "host": "localhost", "port": 1234}); err != nil {
		return err
	}
	host, err := config.GetField("mysql", "host")
	if err != nil {
		return err
	}
	say(`config.Set("postgress", ...); config.Set("mysql", ...); config.GetField("mysql", "host")`, host)

	// Persist writes what differs from the store, guarded; Reload reads
	// it back (the store wins).
	if err := config.Persist(ctx); err != nil {
		return err
	}
	if err := config.Reload(ctx); err != nil {
		return err
	}
	say("config.Persist(ctx); config.Reload(ctx)", "persisted and reloaded")

	// A second instance reads what the first persisted.
	config2 := confo.New()
	defer config2.Close()
	if err := config2.LoadBackend(ctx, name+"2", kind, creds); err != nil {
		return err
	}
	if err := config2.ActivateBackend(name + "2"); err != nil {
		return err
	}
	if err := config2.UseNamespace(ctx, "database"); err != nil {
		return err
	}
	all, err := config2.GetAll()
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	say(`config2.UseNamespace(ctx, "database"); config2.GetAll()`, string(out))
	return nil
}

func check(err error) {
	if err != nil {
		log.Fatal("quickstart: ", err)
	}
}
