package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/presence"
)

// workerConfig is what the coordinator tells a worker process.
type workerConfig struct {
	Endpoint string        `json:"endpoint"`
	Managers int           `json:"managers"`
	First    int           `json:"first"`   // index of the first manager, for presence IDs
	Changes  int           `json:"changes"` // sequence numbers 1..Changes are expected
	Shared   bool          `json:"shared"`  // one etcd client for every manager of the process
	Presence time.Duration `json:"presence"`
}

// message is one line a worker prints.
type message struct {
	Type string `json:"type"` // "ready", "got", "report", "error"

	// ready
	Loaded      int     `json:"loaded,omitempty"`
	Failed      int     `json:"failed,omitempty"`
	Retries     int64   `json:"retries,omitempty"`
	LoadMillis  []int64 `json:"load_ms,omitempty"` // per manager: start to watching
	HeapBefore  uint64  `json:"heap_before,omitempty"`
	HeapAfter   uint64  `json:"heap_after,omitempty"`
	RSSBefore   int64   `json:"rss_before,omitempty"`
	RSSAfter    int64   `json:"rss_after,omitempty"`
	Goroutines  int     `json:"goroutines,omitempty"`
	StartMillis int64   `json:"start_ms,omitempty"` // storm: first start to last watching

	// got: every manager of the worker received change Seq
	Seq int `json:"seq,omitempty"`

	// report: microseconds from Persist to delivery, per change, per manager
	// (-1: never delivered)
	Micros         [][]int64 `json:"micros,omitempty"`
	PresenceWrite  int       `json:"presence_writes,omitempty"`
	PresenceErrors int64     `json:"presence_errors,omitempty"`

	Error string `json:"error,omitempty"`
}

// tick is the value the coordinator persists for each change.
type tick struct {
	Seq  int   `json:"seq"`
	Sent int64 `json:"sent"` // UnixNano at Persist
}

// runWorker runs cfg's managers until stdin says "report" then "exit" (or
// closes).
func runWorker(cfg workerConfig) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	say := func(m message) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(m)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	_, rssBefore, _ := procStat(os.Getpid())

	var shared *clientv3.Client
	if cfg.Shared {
		var err error
		shared, err = clientv3.New(clientv3.Config{Endpoints: []string{cfg.Endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer shared.Close()
	}

	micros := make([][]int64, cfg.Changes+1)
	for i := range micros {
		micros[i] = make([]int64, cfg.Managers)
		for j := range micros[i] {
			micros[i][j] = -1
		}
	}
	var microsMu sync.Mutex // guards micros, counts and want
	counts := make([]int, cfg.Changes+1)
	want := cfg.Managers // managers that must receive a change before "got"
	warm := make(map[int]int)

	managers := make([]*confo.Manager, cfg.Managers)
	reporters := make([]*presence.Reporter, cfg.Managers)
	loadMillis := make([]int64, cfg.Managers)
	var retries atomic.Int64
	var presenceErrors atomic.Int64 // failed presence writes, retried by the Reporters
	var failed atomic.Int64
	var wg sync.WaitGroup
	stormStart := time.Now()
	for i := range cfg.Managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			m, events, err := startManager(ctx, cfg, shared, &retries)
			if err != nil {
				failed.Add(1)
				say(message{Type: "error", Error: fmt.Sprintf("manager %d: %v", cfg.First+i, err)})
				return
			}
			loadMillis[i] = time.Since(start).Milliseconds()
			managers[i] = m
			if cfg.Presence > 0 {
				rep, err := presence.Start(ctx, m, presence.Instance{ID: fmt.Sprintf("i%06d", cfg.First+i)},
					presence.Options{Interval: cfg.Presence, TTL: 30 * time.Second, Namespaces: []string{namespace},
						OnError: func(error) { presenceErrors.Add(1) }})
				if err != nil {
					say(message{Type: "error", Error: fmt.Sprintf("presence %d: %v", cfg.First+i, err)})
				}
				reporters[i] = rep
			}
			go func() {
				for ev := range events {
					now := time.Now().UnixNano()
					if ev.Name != "tick" {
						continue
					}
					t := tick{Seq: int(asInt(ev.Value["seq"])), Sent: asInt(ev.Value["sent"])}
					if t.Seq < 0 { // a warm-up change: counted, not timed
						microsMu.Lock()
						warm[t.Seq]++
						all := warm[t.Seq] == want
						microsMu.Unlock()
						if all {
							say(message{Type: "got", Seq: t.Seq})
						}
						continue
					}
					if t.Seq == 0 || t.Seq > cfg.Changes {
						continue
					}
					microsMu.Lock()
					first := micros[t.Seq][i] < 0
					if first {
						micros[t.Seq][i] = (now - t.Sent) / 1000
						counts[t.Seq]++
					}
					all := first && counts[t.Seq] == want
					microsMu.Unlock()
					if all {
						say(message{Type: "got", Seq: t.Seq})
					}
				}
			}()
		}()
	}
	wg.Wait()
	stormMillis := time.Since(stormStart).Milliseconds()
	microsMu.Lock()
	want = cfg.Managers - int(failed.Load())
	microsMu.Unlock()

	runtime.GC()
	debug.FreeOSMemory()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	_, rssAfter, _ := procStat(os.Getpid())
	say(message{Type: "ready", Loaded: cfg.Managers - int(failed.Load()), Failed: int(failed.Load()), Retries: retries.Load(),
		LoadMillis: loadMillis, HeapBefore: before.HeapInuse + before.StackInuse, HeapAfter: after.HeapInuse + after.StackInuse, RSSBefore: rssBefore, RSSAfter: rssAfter,
		Goroutines: runtime.NumGoroutine(), StartMillis: stormMillis})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "report":
			writes := 0
			for _, r := range reporters {
				if r != nil {
					writes += r.Writes()
				}
			}
			microsMu.Lock()
			say(message{Type: "report", Micros: micros, PresenceWrite: writes, PresenceErrors: presenceErrors.Load()})
			microsMu.Unlock()
		case "exit":
			return closeAll(managers, reporters)
		}
	}
	return closeAll(managers, reporters)
}

// closeAll closes the reporters, then the managers.
func closeAll(managers []*confo.Manager, reporters []*presence.Reporter) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range reporters {
		if r != nil {
			r.Close(ctx)
		}
	}
	for _, m := range managers {
		if m != nil {
			m.Close()
		}
	}
	return nil
}

// startManager opens a manager on the namespace and watches it, retrying
// with jittered exponential backoff so that a storm of starts does not
// retry in lockstep.
func startManager(ctx context.Context, cfg workerConfig, shared *clientv3.Client, retries *atomic.Int64) (*confo.Manager, <-chan confo.Event, error) {
	backoff := 100 * time.Millisecond
	var last error
	for attempt := 0; attempt < 10; attempt++ {
		if attempt > 0 {
			retries.Add(1)
			time.Sleep(backoff/2 + rand.N(backoff))
			backoff = min(2*backoff, 5*time.Second)
		}
		m := confo.New()
		var b confo.Backend
		if shared != nil {
			b = etcd.NewFromClient(shared, etcd.Config{})
		} else {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			eb, err := etcd.New(actx, etcd.Config{Endpoints: []string{cfg.Endpoint}, DialTimeout: 30 * time.Second})
			cancel()
			if err != nil {
				last = err
				continue
			}
			b = eb
		}
		if err := m.AddBackend("etcd", b); err != nil {
			return nil, nil, err
		}
		if err := m.ActivateBackend("etcd"); err != nil {
			return nil, nil, err
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := m.UseNamespace(lctx, namespace)
		var events <-chan confo.Event
		if err == nil {
			events, err = m.Watch(ctx, namespace)
		}
		cancel()
		if err == nil {
			return m, events, nil
		}
		last = err
		m.Close()
	}
	return nil, nil, last
}

// asInt returns a whole number of a decoded value (int64 as the Manager
// normalizes it), 0 for anything else.
func asInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return 0
}
