package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBinary is Debian's etcd-server binary, which also runs the gRPC proxy.
var etcdBinary = "/usr/bin/etcd"

// process is a server this program started.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

// stop asks the process to end (SIGTERM, SIGKILL after 10 s) and waits.
func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// pid returns the process's ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// lockedWriter guards a buffer the process writes to.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// launch starts name with args, its output kept, dying with this process.
func launch(name string, args ...string) (*process, error) {
	if _, err := os.Stat(etcdBinary); err != nil {
		return nil, fmt.Errorf("no etcd binary at %s (apt-get install etcd-server): %w", etcdBinary, err)
	}
	p := &process{name: name, log: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(etcdBinary, args...)
	p.cmd.Stdout = lockedWriter{&p.mu, p.log}
	p.cmd.Stderr = lockedWriter{&p.mu, p.log}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// output returns what the process printed.
func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd starts Debian's etcd on free loopback ports with its data in
// dir and waits until it answers.
func startEtcd(ctx context.Context, dir string) (*process, string, error) {
	client, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peer, err := freePort()
	if err != nil {
		return nil, "", err
	}
	ep := "127.0.0.1:" + strconv.Itoa(client)
	p, err := launch("etcd",
		"--name", "scale", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", "http://"+ep, "--advertise-client-urls", "http://"+ep,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer),
		"--initial-cluster", "scale=http://127.0.0.1:"+strconv.Itoa(peer),
		"--log-level", "error", "--logger", "zap",
		"--quota-backend-bytes", strconv.Itoa(4<<30),
		"--auto-compaction-mode", "revision", "--auto-compaction-retention", "100000",
	)
	if err != nil {
		return nil, "", err
	}
	if err := waitAnswers(ctx, p, ep); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, ep, nil
}

// startProxy starts etcd's gRPC proxy in front of the server at ep.
func startProxy(ctx context.Context, ep string) (*process, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	p, err := launch("grpc-proxy", "grpc-proxy", "start", "--endpoints", ep, "--listen-addr", listen)
	if err != nil {
		return nil, "", err
	}
	if err := waitAnswers(ctx, p, listen); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, listen, nil
}

// waitAnswers waits until a Get through ep succeeds, or p exits.
func waitAnswers(ctx context.Context, p *process, ep string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		gctx, gcancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Get(gctx, "health")
		gcancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %s", p.name, p.output())
		case <-ctx.Done():
			return fmt.Errorf("%s at %s does not answer: %w", p.name, ep, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// procStat returns the CPU time (user+system) and resident memory of pid.
func procStat(pid int) (cpu time.Duration, rss int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	cpu = time.Duration(utime+stime) * time.Second / hz
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return cpu, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return cpu, rss, nil
}
