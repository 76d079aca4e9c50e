package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// prefix is the key prefix of every key the suite writes; the suite deletes
// it before and after the run, so an etcd named by CONFO_ETCD_ENDPOINTS
// keeps nothing of it.
const prefix = "/confo-bench"

var (
	// endpoints are the client endpoints of the etcd under test.
	endpoints []string
	// inProcess reports that the suite started the etcd itself, so that
	// serverRPCs counts every RPC it handles, the peers' included.
	inProcess bool
	// cli is the client Confo and the raw baseline share; clientRPCs
	// counts its calls.
	cli        *clientv3.Client
	clientRPCs rpcCounter
	serverRPCs atomic.Int64
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	if eps := os.Getenv("CONFO_ETCD_ENDPOINTS"); eps != "" {
		endpoints = strings.Split(eps, ",")
	} else {
		dir, err := os.MkdirTemp("", "confo-bench-etcd-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		e, err := startEtcd(dir)
		if err != nil {
			return 0, err
		}
		defer func() {
			e.Close()
			<-e.Server.StopNotify()
		}()
		for _, l := range e.Clients {
			endpoints = append(endpoints, l.Addr().String())
		}
		inProcess = true
	}

	var err error
	cli, err = clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{
			grpc.WithChainUnaryInterceptor(clientRPCs.unary),
			grpc.WithChainStreamInterceptor(clientRPCs.stream),
		},
	})
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", strings.Join(endpoints, ","), err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := clean(ctx); err != nil {
		return 0, err
	}
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return code, clean(ctx)
}

// startEtcd starts a single-member etcd in dir on loopback ports the kernel
// picks, logging nothing, with etcd's default limits (128 operations and
// 1.5 MiB per request) and a server interceptor that counts every RPC.
func startEtcd(dir string) (*embed.Etcd, error) {
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg := embed.NewConfig()
	cfg.Name = "bench"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// etcd formats a request it deems slow for a warning even when it logs
	// nothing; on a loaded machine that is most requests, and the work
	// grows with the request, so it would tax the larger ones unfairly.
	cfg.WarningUnaryRequestDuration = time.Hour
	cfg.WarningApplyDuration = time.Hour
	cfg.GRPCAdditionalServerOptions = []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			serverRPCs.Add(1)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			serverRPCs.Add(1)
			return h(srv, ss)
		}),
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("start etcd in %s: %w", dir, err)
	case <-time.After(time.Minute):
		e.Close()
		return nil, fmt.Errorf("start etcd in %s: not ready after a minute", dir)
	}
}

// clean deletes every key of the suite.
func clean(ctx context.Context) error {
	if _, err := cli.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	return nil
}

// compact discards the history of the in-process etcd, so that the
// benchmarks that write and delete do not make it grow without end. It does
// nothing to an etcd named by CONFO_ETCD_ENDPOINTS.
func compact(tb testing.TB) {
	tb.Helper()
	if !inProcess {
		return
	}
	resp, err := cli.Get(tb.Context(), prefix, clientv3.WithCountOnly())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := cli.Compact(tb.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		tb.Fatal(err)
	}
}

// rpcCounter counts the gRPC calls of a client (each attempt of a retried
// call counts) and the puts they carry.
type rpcCounter struct {
	calls, puts atomic.Int64
}

func (c *rpcCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.calls.Add(1)
	switch r := req.(type) {
	case *pb.PutRequest:
		c.puts.Add(1)
	case *pb.TxnRequest:
		for _, op := range r.Success {
			if op.GetRequestPut() != nil {
				c.puts.Add(1)
			}
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *rpcCounter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.calls.Add(1)
	return streamer(ctx, desc, cc, method, opts...)
}

// tally adds up the RPCs and the CPU time of the timed part of a
// benchmark's iterations.
type tally struct {
	n                        int
	calls, puts, server, cpu int64
	c0, p0, s0, cpu0         int64
}

// begin marks the start of the timed part of one iteration.
func (t *tally) begin() {
	t.c0, t.p0, t.s0 = clientRPCs.calls.Load(), clientRPCs.puts.Load(), serverRPCs.Load()
	t.cpu0 = cpuTime()
}

// end marks its end.
func (t *tally) end() {
	t.cpu += cpuTime() - t.cpu0
	t.n++
	t.calls += clientRPCs.calls.Load() - t.c0
	t.puts += clientRPCs.puts.Load() - t.p0
	t.server += serverRPCs.Load() - t.s0
}

// cpuTime returns the user and system CPU time of the process so far, in
// nanoseconds: the client's work and, when etcd runs in process, the
// server's. On a loaded machine it varies much less than wall time, which
// includes waiting for a CPU.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// report reports the RPCs per iteration of the shared client (Confo and
// raw) and the puts they carried.
func (t *tally) report(b *testing.B, puts bool) {
	if t.n == 0 {
		return
	}
	b.ReportMetric(float64(t.calls)/float64(t.n), "rpcs/op")
	b.ReportMetric(float64(t.cpu)/float64(t.n), "cpu-ns/op")
	if puts {
		b.ReportMetric(float64(t.puts)/float64(t.n), "puts/op")
	}
}

// reportServer reports the RPCs per iteration the in-process etcd handled,
// for the peers, whose clients the suite cannot intercept.
func (t *tally) reportServer(b *testing.B) {
	if t.n == 0 {
		return
	}
	if inProcess {
		b.ReportMetric(float64(t.server)/float64(t.n), "rpcs/op")
	}
	b.ReportMetric(float64(t.cpu)/float64(t.n), "cpu-ns/op")
}
