// Command prometheus exposes a confo Manager's metrics (package
// github.com/confo-go/confo/metrics) to Prometheus, through the
// OpenTelemetry SDK and its Prometheus exporter:
//
//	go run ./examples/prometheus                 # serves 127.0.0.1:9464/metrics
//	curl -s 127.0.0.1:9464/metrics | grep ^confo_
//	go run ./examples/prometheus -once           # prints the confo_ lines once
//
// It watches namespace "demo" and persists a change to it every second, so
// the commit, load, watch and byte figures move. With neither
// CONFO_ENDPOINTS nor its former name CONFO_ETCD_ENDPOINTS in the
// environment (the names the quick start and confo read) it starts an
// etcd server inside the process, in a temporary directory removed at the
// end; otherwise it uses that cluster (comma-separated host:port) under the
// prefix /confo.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd" // registers confo.EtcdBackend
	"github.com/confo-go/confo/internal/embedetcd"
	"github.com/confo-go/confo/metrics"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "where to serve /metrics")
	once := flag.Bool("once", false, "make one change, print the confo_ metrics and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *addr, *once, cmp.Or(os.Getenv("CONFO_ENDPOINTS"), os.Getenv("CONFO_ETCD_ENDPOINTS"))); err != nil {
		fmt.Fprintln(os.Stderr, "prometheus:", err)
		os.Exit(1)
	}
}

// run serves the metrics on addr until ctx is done, or, with once, prints
// them after one change.
func run(ctx context.Context, out io.Writer, addr string, once bool, endpoints string) error {
	var eps []string
	if strings.TrimSpace(endpoints) == "" {
		dir, err := os.MkdirTemp("", "confo-prometheus-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		srv, err := embedetcd.Start(ctx, dir)
		if err != nil {
			return err
		}
		defer srv.Close()
		eps = srv.Endpoints()
	} else {
		for _, e := range strings.Split(endpoints, ",") {
			eps = append(eps, strings.TrimSpace(e))
		}
	}

	// The SDK and exporter: only programs import them, never the library.
	registry := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return fmt.Errorf("prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer provider.Shutdown(context.Background())

	rec, err := metrics.New(provider)
	if err != nil {
		return err
	}
	m := confo.New(confo.WithLayers(rec.Layer))
	defer m.Close()
	if err := m.LoadBackend(ctx, "etcd", confo.EtcdBackend, confo.Credentials{"endpoints": eps}); err != nil {
		return err
	}
	if err := m.ActivateBackend("etcd"); err != nil {
		return err
	}
	if err := m.CreateNamespace(ctx, "demo"); err != nil {
		return err
	}
	if err := m.UseNamespace(ctx, "demo"); err != nil {
		return err
	}
	reg, err := rec.ObserveManager(m, attribute.String("instance", "example"))
	if err != nil {
		return err
	}
	defer reg.Unregister()
	events, err := m.Watch(ctx, "demo")
	if err != nil {
		return err
	}
	go func() {
		for range events {
		}
	}()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go server.Serve(ln)
	defer server.Close()

	change := func(i int) error {
		if err := m.SetField("greeting", "n", i); err != nil {
			return err
		}
		return m.Persist(ctx)
	}
	if once {
		if err := change(1); err != nil {
			return err
		}
		return printMetrics(ctx, out, "http://"+ln.Addr().String()+"/")
	}
	fmt.Fprintf(out, "serving http://%s/metrics; a change to namespace demo every second\n", ln.Addr())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := change(i); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
		}
	}
}

// printMetrics fetches url and prints its lines that start with confo_.
func printMetrics(ctx context.Context, out io.Writer, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "confo_") {
			fmt.Fprintln(out, sc.Text())
		}
	}
	return sc.Err()
}
