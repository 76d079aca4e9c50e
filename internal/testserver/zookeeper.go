package testserver

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// zookeeperJar is where Debian's zookeeper package puts the server; its
// manifest's Class-Path names the dependencies.
const zookeeperJar = "/usr/share/java/zookeeper.jar"

// ZookeeperConfig configures [StartZookeeperConfig].
type ZookeeperConfig struct {
	// Durable makes the server sync its transaction log before it
	// acknowledges a write (zookeeper.forceSync=yes, ZooKeeper's default),
	// for the crash tests. Without it the log is written but not synced,
	// which is faster; a killed server loses nothing either way, since
	// the file system keeps what was written, but a machine crash could.
	Durable bool
}

// StartZookeeper is StartZookeeperConfig with the fast setting.
func StartZookeeper() (*Server, error) { return StartZookeeperConfig(ZookeeperConfig{}) }

// StartZookeeperConfig starts a standalone ZooKeeper server (Debian
// package zookeeperd) on a free loopback port with a temporary data
// directory and the admin server off. The server can be killed and
// restarted ([Server.Kill], [Server.Restart]).
func StartZookeeperConfig(zcfg ZookeeperConfig) (*Server, error) {
	java, err := lookBinary("java", "zookeeperd")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(zookeeperJar); err != nil {
		return nil, fmt.Errorf("%s not found: install the Debian package zookeeperd (apt-get install zookeeperd)", zookeeperJar)
	}
	dir, err := os.MkdirTemp("", "confo-zookeeper-")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg := fmt.Sprintf("tickTime=500\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"admin.enableServer=false\nmaxSessionTimeout=60000\n4lw.commands.whitelist=srvr\n", data, port)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: port, Dir: dir, name: "zookeeper", interrupt: syscall.SIGTERM}
	forceSync := "-Dzookeeper.forceSync=no"
	if zcfg.Durable {
		forceSync = "-Dzookeeper.forceSync=yes"
	}
	s.command = func() *exec.Cmd {
		return exec.Command(java,
			"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
			"-Dzookeeper.admin.enableServer=false", forceSync,
			"-cp", zookeeperJar,
			"org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath)
	}
	s.ready = func() error { return zookeeperServing(s.Addr()) }
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

// zookeeperServing asks the server's srvr four-letter word and expects it
// to report a mode (a server not serving yet says so instead).
func zookeeperServing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.Contains(string(out), "Mode:") {
		return fmt.Errorf("srvr answered %q", strings.TrimSpace(string(out)))
	}
	return nil
}
