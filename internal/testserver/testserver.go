// Package testserver starts real store servers (redis-server, ZooKeeper,
// PostgreSQL) on free loopback ports with temporary data directories, for
// the tests of the store backends, and holds the checks those tests share
// beyond the conformance suite (an unreachable server, passwords, a
// manager loading the backend by type). It is used only by tests.
//
// A missing server binary is an error that names the Debian package to
// install; tests turn it into a failure, never a skip.
package testserver

import (
	"bytes"
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
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to accept clients.
const startTimeout = 60 * time.Second

// Server is one running server process.
type Server struct {
	// Host and Port are where the server listens (Host is 127.0.0.1).
	Host string
	Port int
	// Dir is the server's temporary directory (data, configuration, log).
	Dir string

	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{} // closed when the process has exited
	stop sync.Once
	// interrupt is the signal that asks the server to shut down cleanly.
	interrupt os.Signal
	// cleanup runs after the process has exited.
	cleanup func()
	// command builds the command that starts the server, and ready tells
	// when it serves: both set by the servers that can be restarted
	// ([Server.Restart]).
	command func() *exec.Cmd
	ready   func() error
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Log returns what the server printed so far.
func (s *Server) Log() string { return s.log.String() }

// Stop shuts the server down (SIGKILL after 10 s) and removes its directory.
// It is safe to call more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cmd.Process != nil {
			_ = s.Thaw() // a frozen server cannot shut down
			_ = s.cmd.Process.Signal(s.interrupt)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if s.cleanup != nil {
			s.cleanup()
		}
		_ = os.RemoveAll(s.Dir)
	})
}

// Freeze stops every process of the server (SIGSTOP to it and all its
// descendants: PostgreSQL's backends run in sessions of their own), as a
// machine that hangs: connections stay open and nothing answers.
// [Server.Thaw] resumes it; Stop thaws it first.
func (s *Server) Freeze() error {
	pids, err := s.signalAll(syscall.SIGSTOP)
	if err != nil {
		return err
	}
	// A signal stops a process's threads asynchronously: wait until every
	// thread is stopped, or a request sent next could still be served.
	deadline := time.Now().Add(startTimeout)
	for !allStopped(pids) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not stopped %s after SIGSTOP", s.name, startTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// allStopped reports whether every thread of the processes pids is stopped
// (or gone), from the state in /proc/<pid>/task/<tid>/stat.
func allStopped(pids []int) bool {
	for _, pid := range pids {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		for _, task := range tasks {
			stat, err := os.ReadFile(task)
			if err != nil {
				continue // gone meanwhile
			}
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 || i+2 >= len(stat) {
				continue
			}
			switch stat[i+2] { // "pid (comm) S ..."
			case 'T', 't', 'Z', 'X':
			default:
				return false
			}
		}
	}
	return true
}

// Thaw resumes a server stopped by [Server.Freeze] (SIGCONT).
func (s *Server) Thaw() error {
	_, err := s.signalAll(syscall.SIGCONT)
	return err
}

// Kill kills every process of the server (SIGKILL), as a crash of the
// server (not of the machine: what it wrote to files stays), and waits
// until they are gone. Its directory stays; [Server.Restart] starts it
// again on the same data and port.
func (s *Server) Kill() error {
	pids, err := s.signalAll(syscall.SIGKILL)
	if err != nil {
		return err
	}
	<-s.done
	deadline := time.Now().Add(startTimeout)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: process %d still alive after SIGKILL", s.name, pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// Restart starts a server that [Server.Kill] killed again, on the same
// directory and port, and waits until it serves.
func (s *Server) Restart() error {
	if s.command == nil {
		return fmt.Errorf("%s cannot be restarted", s.name)
	}
	select {
	case <-s.done:
	default:
		return fmt.Errorf("%s is running", s.name)
	}
	if err := s.start(); err != nil {
		return err
	}
	return s.waitReady(s.ready)
}

// signalAll sends sig to the server's process and each of its descendants,
// found in /proc before the first signal, and returns their ids.
func (s *Server) signalAll(sig syscall.Signal) ([]int, error) {
	root := s.cmd.Process.Pid
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
	}
	all := []int{root}
	for i := 0; i < len(all); i++ {
		all = append(all, children[all[i]]...)
	}
	if err := syscall.Kill(root, sig); err != nil {
		return nil, fmt.Errorf("signal %s: %w", s.name, err)
	}
	for _, pid := range all[1:] {
		_ = syscall.Kill(pid, sig) // it may have exited
	}
	return all, nil
}

// start runs cmd with the server's log captured and a parent-death signal,
// so a crashed test binary does not leave servers behind.
func (s *Server) start() error {
	if s.command != nil {
		s.cmd = s.command()
	}
	s.log = &syncBuffer{}
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if s.cmd.SysProcAttr == nil {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	s.cmd.SysProcAttr.Setpgid = true
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.done = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	return nil
}

// waitReady polls ready until it returns nil, the process exits or
// startTimeout passes.
func (s *Server) waitReady(ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before accepting clients: %v\n%s", s.name, s.cmd.ProcessState, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("%s not ready on %s within %s: %w\n%s", s.name, s.Addr(), startTimeout, err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lookBinary finds name on PATH or at one of the given paths, or says which
// Debian package provides it.
func lookBinary(name, debianPackage string, paths ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH: install the Debian package %s (apt-get install %s)", name, debianPackage, debianPackage)
}

// Once starts a server on first use and shares it between the tests of a
// package. Call Stop from TestMain after m.Run.
type Once[S interface{ Stop() }] struct {
	once sync.Once
	srv  S
	err  error
}

// Get returns the server, starting it with start on the first call. A start
// error fails t (it never skips).
func (o *Once[S]) Get(t testing.TB, start func() (S, error)) S {
	t.Helper()
	o.once.Do(func() { o.srv, o.err = start() })
	if o.err != nil {
		t.Fatalf("start test server: %v", o.err)
	}
	return o.srv
}

// Stop stops the server if it was started.
func (o *Once[S]) Stop() {
	o.once.Do(func() { o.err = errors.New("stopped") })
	if o.err == nil {
		o.srv.Stop()
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // keep the tail bounded
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
