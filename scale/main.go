// Command scale measures how a change fans out from one Persist to many
// watching managers, spread over several processes on this machine,
// against Debian's etcd (started here, on free loopback ports) directly or
// through its gRPC proxy. SCALE.md records its runs; `make scale` runs the
// full set and the tests of this package a small smoke run.
//
//	go run ./scale -managers 1000 -procs 4 -changes 20
//	go run ./scale -managers 10000 -procs 8 -shared -proxy
//	go run ./scale -managers 1000 -presence 5s
//
// Each worker process starts its managers at once (the start-up storm:
// each loads the namespace and watches it, retrying with jittered backoff),
// then reports its memory. The coordinator persists a change of one
// configuration, carrying the time it was sent, waits until every manager
// received it, and so on; at the end the workers report when each manager
// got each change. It prints one line of figures (and appends it, with the
// command line, to -out).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// namespace is the namespace every manager watches.
const namespace = "scale"

// options are the command's flags.
type options struct {
	Managers int
	Procs    int
	Changes  int
	Shared   bool
	Proxy    bool
	Presence time.Duration
	Warmup   int
	Pause    time.Duration
	Wait     time.Duration
	Out      string
}

func main() {
	var o options
	worker := flag.String("worker", "", "run as a worker with this JSON configuration (used by the coordinator)")
	flag.IntVar(&o.Managers, "managers", 1000, "watching managers in all")
	flag.IntVar(&o.Procs, "procs", 4, "worker processes the managers are spread over")
	flag.IntVar(&o.Changes, "changes", 20, "changes persisted, one after the other")
	flag.BoolVar(&o.Shared, "shared", false, "the managers of a process share one etcd client (else one client each)")
	flag.BoolVar(&o.Proxy, "proxy", false, "the watchers go through etcd's gRPC proxy")
	flag.DurationVar(&o.Presence, "presence", 0, "run a presence Reporter per manager with this interval (0: none)")
	flag.IntVar(&o.Warmup, "warmup", 1, "changes made first and not measured (the first after the start-up storm meets cold caches)")
	flag.DurationVar(&o.Pause, "pause", 200*time.Millisecond, "pause after every manager got a change")
	flag.DurationVar(&o.Wait, "wait", 60*time.Second, "how long to wait for every manager to get a change")
	flag.StringVar(&o.Out, "out", "", "append the result line to this file")
	flag.Parse()
	if *worker != "" {
		var cfg workerConfig
		if err := json.Unmarshal([]byte(*worker), &cfg); err != nil {
			fmt.Fprintln(os.Stderr, "scale worker:", err)
			os.Exit(2)
		}
		if err := runWorker(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "scale worker:", err)
			os.Exit(1)
		}
		return
	}
	res, err := run(context.Background(), o, os.Args[0], nil, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	line := res.String()
	fmt.Println(line)
	if o.Out != "" {
		f, err := os.OpenFile(o.Out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s  # %s: go run ./scale %s\n", line, time.Now().UTC().Format(time.RFC3339), strings.Join(os.Args[1:], " "))
			f.Close()
		}
	}
}

// workerProc is one running worker.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	msgs  chan message
}

// spawn starts a worker: bin with args, plus env, configured by cfg.
func spawn(bin string, args, env []string, cfg workerConfig, logs io.Writer) (*workerProc, error) {
	conf, _ := json.Marshal(cfg)
	cmd := exec.Command(bin, append(slices.Clone(args), "-worker", string(conf))...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &workerProc{cmd: cmd, stdin: stdin, msgs: make(chan message, 1024)}
	go func() {
		defer close(w.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<30)
		for sc.Scan() {
			var m message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = message{Type: "error", Error: "bad line: " + sc.Text()}
			}
			w.msgs <- m
		}
	}()
	return w, nil
}

// next returns the worker's next message of type typ (errors are logged),
// or fails after d.
func (w *workerProc) next(typ string, d time.Duration, logs io.Writer) (message, error) {
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				return message{}, fmt.Errorf("worker %d exited", w.cmd.Process.Pid)
			}
			if m.Type == typ {
				return m, nil
			}
			if m.Type == "error" {
				fmt.Fprintln(logs, "worker:", m.Error)
			}
		case <-timeout:
			return message{}, fmt.Errorf("no %q from worker %d in %s", typ, w.cmd.Process.Pid, d)
		}
	}
}

// stop tells the worker to exit and waits (killing it after 60 s).
func (w *workerProc) stop() {
	io.WriteString(w.stdin, "exit\n")
	w.stdin.Close()
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

// run measures one configuration o. Workers are bin with args and env (the
// test binary in tests). Progress goes to logs.
func run(ctx context.Context, o options, bin string, env []string, logs io.Writer) (*result, error) {
	if o.Procs < 1 || o.Managers < o.Procs {
		return nil, fmt.Errorf("need managers >= procs >= 1")
	}
	dir, err := os.MkdirTemp("", "confo-scale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	server, ep, err := startEtcd(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer server.stop()
	watchEP := ep
	var proxy *process
	if o.Proxy {
		if proxy, watchEP, err = startProxy(ctx, ep); err != nil {
			return nil, err
		}
		defer proxy.stop()
	}

	// The writer: one manager straight on the server.
	wb, err := etcd.New(ctx, etcd.Config{Endpoints: []string{ep}})
	if err != nil {
		return nil, err
	}
	writer := confo.New()
	defer writer.Close()
	if err := writer.AddBackend("etcd", wb); err != nil {
		return nil, err
	}
	if err := writer.ActivateBackend("etcd"); err != nil {
		return nil, err
	}
	if err := writer.CreateNamespace(ctx, namespace); err != nil {
		return nil, err
	}
	if err := writer.UseNamespace(ctx, namespace); err != nil {
		return nil, err
	}
	if err := writer.Set("tick", map[string]any{"seq": 0, "sent": 0}); err != nil {
		return nil, err
	}
	if err := writer.Persist(ctx); err != nil {
		return nil, err
	}

	res := &result{opts: o}
	start := time.Now()
	workers := make([]*workerProc, o.Procs)
	for i := range workers {
		n := o.Managers / o.Procs
		if i < o.Managers%o.Procs {
			n++
		}
		first := i*(o.Managers/o.Procs) + min(i, o.Managers%o.Procs)
		cfg := workerConfig{Endpoint: watchEP, Managers: n, First: first, Changes: o.Changes, Shared: o.Shared, Presence: o.Presence}
		if workers[i], err = spawn(bin, nil, env, cfg, logs); err != nil {
			return nil, err
		}
		defer workers[i].stop()
	}
	var loadMillis []int64
	for _, w := range workers {
		m, err := w.next("ready", 15*time.Minute, logs)
		if err != nil {
			return nil, err
		}
		res.loaded += m.Loaded
		res.failed += m.Failed
		res.retries += m.Retries
		res.heap += int64(m.HeapAfter) - int64(m.HeapBefore)
		res.rss += m.RSSAfter - m.RSSBefore
		for _, ms := range m.LoadMillis {
			if ms > 0 {
				loadMillis = append(loadMillis, ms)
			}
		}
	}
	res.storm = time.Since(start)
	res.loadP50, res.loadP99, res.loadMax = percentiles(loadMillis)
	fmt.Fprintf(logs, "scale: %d managers ready in %s (%d failed, %d retries)\n", res.loaded, res.storm.Round(time.Millisecond), res.failed, res.retries)

	// Baselines of the change phase.
	cpuBefore := make([]time.Duration, len(workers))
	for i, w := range workers {
		cpuBefore[i], _, _ = procStat(w.cmd.Process.Pid)
	}
	etcdCPUBefore, _, _ := procStat(server.pid())
	var proxyCPUBefore time.Duration
	if proxy != nil {
		proxyCPUBefore, _, _ = procStat(proxy.pid())
	}
	revBefore, err := revision(ctx, wb)
	if err != nil {
		return nil, err
	}

	for seq := 1; seq <= o.Warmup; seq++ {
		if err := change(ctx, writer, -seq, workers, o, logs); err != nil {
			return nil, err
		}
	}
	changeStart := time.Now()
	for seq := 1; seq <= o.Changes; seq++ {
		if err := change(ctx, writer, seq, workers, o, logs); err != nil {
			return nil, err
		}
	}
	res.changePhase = time.Since(changeStart)
	for i, w := range workers {
		cpu, _, _ := procStat(w.cmd.Process.Pid)
		res.clientCPU += cpu - cpuBefore[i]
	}
	etcdCPU, etcdRSS, _ := procStat(server.pid())
	res.etcdCPU, res.etcdRSS = etcdCPU-etcdCPUBefore, etcdRSS
	if proxy != nil {
		cpu, rss, _ := procStat(proxy.pid())
		res.proxyCPU, res.proxyRSS = cpu-proxyCPUBefore, rss
	}
	revAfter, err := revision(ctx, wb)
	if err != nil {
		return nil, err
	}
	res.presenceWrites = revAfter - revBefore - int64(o.Changes)

	var all, last []int64
	for _, w := range workers {
		io.WriteString(w.stdin, "report\n")
		m, err := w.next("report", 5*time.Minute, logs)
		if err != nil {
			return nil, err
		}
		res.reporterWrites += m.PresenceWrite
		res.presenceErrors += m.PresenceErrors
		for seq := 1; seq < len(m.Micros); seq++ {
			for len(last) < seq {
				last = append(last, 0)
			}
			for _, us := range m.Micros[seq] {
				if us < 0 {
					res.missed++
					continue
				}
				all = append(all, us)
				last[seq-1] = max(last[seq-1], us)
			}
		}
	}
	res.delivered = len(all)
	res.p50, res.p99, res.max = percentiles(all)
	res.lastP50, res.lastP99, _ = percentiles(last)
	return res, nil
}

// change persists change seq (negative: a warm-up change) and waits until
// every worker says all its managers got it, or o.Wait passes.
func change(ctx context.Context, writer *confo.Manager, seq int, workers []*workerProc, o options, logs io.Writer) error {
	if err := writer.Set("tick", map[string]any{"seq": seq, "sent": time.Now().UnixNano()}); err != nil {
		return err
	}
	if err := writer.Persist(ctx); err != nil {
		return fmt.Errorf("persist change %d: %w", seq, err)
	}
	for _, w := range workers {
		for {
			m, err := w.next("got", o.Wait, logs)
			if err != nil {
				fmt.Fprintf(logs, "scale: change %d: %v\n", seq, err)
				break
			}
			if m.Seq == seq {
				break
			}
		}
	}
	time.Sleep(o.Pause)
	return nil
}

// revision returns the store's current revision.
func revision(ctx context.Context, b *etcd.Backend) (int64, error) {
	resp, err := b.Client().Get(ctx, "scale-revision-probe")
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}
