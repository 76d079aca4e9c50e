package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Roles of the server [StartPostgres] starts. PostgresUser is the
// superuser, trusted on 127.0.0.1 without a password. PasswordUser must
// give PasswordUserPassword (SCRAM): use it to test authentication.
const (
	PostgresUser         = "postgres"
	PasswordUser         = "confo_pw"
	PasswordUserPassword = "confo-test-secret"
)

// Postgres is a running PostgreSQL server.
type Postgres struct {
	*Server
}

// DSN returns a connection URL for user (trusted users need no password)
// to the postgres database over TCP without TLS.
func (p *Postgres) DSN(user, password string) string {
	u := user
	if password != "" {
		u += ":" + password
	}
	return fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", u, p.Addr())
}

// PostgresConfig configures [StartPostgresConfig].
type PostgresConfig struct {
	// Durable keeps PostgreSQL's defaults fsync=on, synchronous_commit=on
	// and full_page_writes=on, so that a commit is on disk before it is
	// acknowledged, for the crash tests. Without it the three are off,
	// which is faster and loses acknowledged commits when the server is
	// killed.
	Durable bool
}

// StartPostgres is StartPostgresConfig with the fast settings.
func StartPostgres() (*Postgres, error) { return StartPostgresConfig(PostgresConfig{}) }

// StartPostgresConfig initializes a cluster in a temporary directory and
// starts postgres (Debian package postgresql) on a free loopback port, its
// unix socket in the same directory. Run as root, the server runs as the
// postgres OS user, since PostgreSQL refuses to run as root. The server can
// be killed and restarted ([Server.Kill], [Server.Restart]).
func StartPostgresConfig(cfg PostgresConfig) (*Postgres, error) {
	initdb, err := postgresBinary("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := postgresBinary("postgres")
	if err != nil {
		return nil, err
	}
	psql, err := lookBinary("psql", "postgresql-client", "/usr/bin/psql")
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres OS user (Debian package postgresql): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	dir, err := os.MkdirTemp("", "confo-postgres-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) error {
		cmd := exec.Command(name, args...)
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
		}
		return nil
	}
	if err := run(initdb, "-D", data, "-U", PostgresUser, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	hba := "local all all trust\n" +
		"host all " + PasswordUser + " 127.0.0.1/32 scram-sha-256\n" +
		"host all all 127.0.0.1/32 trust\n"
	hbaPath := filepath.Join(data, "pg_hba.conf")
	if err := os.WriteFile(hbaPath, []byte(hba), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(hbaPath, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: port, Dir: dir, name: "postgres", interrupt: syscall.SIGINT}
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir,
		"-c", "shared_buffers=16MB", "-c", "max_connections=60", "-c", "password_encryption=scram-sha-256"}
	if cfg.Durable {
		args = append(args, "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
	} else {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.command = func() *exec.Cmd {
		cmd := exec.Command(postgres, args...)
		cmd.Dir = dir
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}
	s.ready = func() error {
		if !strings.Contains(s.Log(), "ready to accept connections") {
			return fmt.Errorf("not ready yet")
		}
		return nil
	}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	err = s.waitReady(s.ready)
	if err != nil {
		s.Stop()
		return nil, err
	}
	sql := fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", PasswordUser, PasswordUserPassword)
	if err := run(psql, "-X", "-q", "-h", dir, "-p", strconv.Itoa(port), "-U", PostgresUser, "-d", "postgres", "-c", sql); err != nil {
		s.Stop()
		return nil, err
	}
	return &Postgres{Server: s}, nil
}

// postgresBinary finds a PostgreSQL server program on PATH or in Debian's
// versioned directory, newest version first.
func postgresBinary(name string) (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.SortFunc(found, func(a, b string) int { return postgresVersion(b) - postgresVersion(a) })
	return lookBinary(name, "postgresql", found...)
}

func postgresVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}
