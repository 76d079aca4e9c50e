package testserver

import (
	"bufio"
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
}

// StartRedis starts redis-server (Debian package redis-server) on a free
// loopback port with persistence off and a temporary directory.
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
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\ndaemonize no\nlogfile \"\"\n", port, dir)
	if cfg.Password != "" {
		conf += "requirepass " + strconv.Quote(cfg.Password) + "\n"
	}
	s := &Server{Host: "127.0.0.1", Port: port, Dir: dir, name: "redis-server", interrupt: syscall.SIGTERM}
	s.cmd = exec.Command(bin, "-")
	s.cmd.Stdin = strings.NewReader(conf)
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitReady(func() error { return redisPing(s.Addr(), cfg.Password) }); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// redisPing sends PING (after AUTH when password is set) and expects PONG.
func redisPing(addr, password string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
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
