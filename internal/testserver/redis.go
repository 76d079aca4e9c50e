package testserver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisConfig configures [StartRedis].
type RedisConfig struct {
	// Password, when set, is the server's requirepass.
	Password string
	// CertFile and KeyFile, when set, make the server speak TLS only (PEM
	// files; clients need no certificate).
	CertFile, KeyFile string
	// Durable turns on the append-only file, synced before each reply
	// (appendonly yes, appendfsync always), for the crash tests; without
	// it nothing is persisted, which is faster.
	Durable bool
}

// StartRedis starts redis-server (Debian package redis-server) on a free
// loopback port with a temporary directory, persistence off unless
// cfg.Durable. The server can be killed and restarted ([Server.Kill],
// [Server.Restart]).
func StartRedis(cfg RedisConfig) (*Server, error) {
	bin, err := lookBinary("redis-server", "redis-server", "/usr/bin/redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "confo-redis-")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The configuration goes through stdin ("-") so that a password never
	// shows in the process list.
	persistence := "appendonly no\n"
	if cfg.Durable {
		persistence = "appendonly yes\nappendfsync always\n"
	}
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsave \"\"\n%sdir %s\ndaemonize no\nlogfile \"\"\n", port, persistence, dir)
	if cfg.Password != "" {
		conf += "requirepass " + strconv.Quote(cfg.Password) + "\n"
	}
	if cfg.CertFile != "" {
		conf = strings.Replace(conf, fmt.Sprintf("port %d\n", port), fmt.Sprintf("port 0\ntls-port %d\n", port), 1)
		conf += fmt.Sprintf("tls-cert-file %s\ntls-key-file %s\ntls-auth-clients no\n", strconv.Quote(cfg.CertFile), strconv.Quote(cfg.KeyFile))
	}
	s := &Server{Host: "127.0.0.1", Port: port, Dir: dir, name: "redis-server", interrupt: syscall.SIGTERM}
	s.command = func() *exec.Cmd {
		cmd := exec.Command(bin, "-")
		cmd.Stdin = strings.NewReader(conf)
		return cmd
	}
	s.ready = func() error { return redisPing(s.Addr(), cfg.Password, cfg.CertFile != "") }
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitReady(s.ready); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// redisPing sends PING (after AUTH when password is set) and expects PONG.
func redisPing(addr, password string, useTLS bool) error {
	var c net.Conn
	var err error
	if useTLS {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} // a readiness probe
		c, err = d.Dial("tcp", addr)
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if password != "" {
		fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(password), password)
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("AUTH answered %q", strings.TrimSpace(line))
		}
	}
	fmt.Fprint(c, "*1\r\n$4\r\nPING\r\n")
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
