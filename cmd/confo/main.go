// Command confo inspects, edits, migrates and watches the configuration
// that services read through the confo library, in any store it supports.
//
//	go install github.com/confo-go/confo/cmd/confo@latest
//
// Pick the store with --backend (etcd, file, memory, zookeeper, redis,
// database) and its flags, or with the environment: CONFO_BACKEND,
// CONFO_ENDPOINTS (CONFO_ETCD_ENDPOINTS is an alias), CONFO_USER,
// CONFO_PASSWORD, CONFO_CONFIG_PATH, CONFO_DSN. A flag always wins over the
// environment; there is no default store. The password is never a flag: it
// comes from CONFO_PASSWORD or, when stdin is a terminal, a prompt.
//
//	export CONFO_ENDPOINTS=127.0.0.1:2379
//	confo ns ls
//	confo ns create database
//	confo set database mysql host=db.internal port:=3306
//	confo get database mysql
//	confo edit database mysql
//	confo export database ./config/database
//	confo import ./config/database database
//	confo copy --from etcd://127.0.0.1:2379?ns=database --to file:///srv/config
//	confo watch database
//
// set takes FIELD=VALUE for a string and FIELD:=JSON for any JSON value.
//
// Exit status: 0 success, 1 error (from the store, or a source with nothing
// to copy or export), 2 usage (unknown command or flag, wrong number of
// arguments, an invalid name, a malformed value or endpoint), 3 conflict
// (someone else changed a configuration since it was read; nothing of it
// was written). Errors are printed on stderr as "confo: <error>".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	goredis "github.com/redis/go-redis/v9"

	"github.com/confo-go/confo"
)

// quietRedis discards go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitConflict = 3
)

func main() {
	// go-redis logs some dial failures through its process-wide logger; the
	// command reports them as errors instead, so they must not print too.
	goredis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "confo: %s\n", message(err))
	code := exitCode(err)
	if code == exitUsage {
		cmd, _, ferr := root.Find(args)
		if ferr != nil || cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// usageError is a mistake in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// message is err's text without the "confo: " its sentinel errors carry,
// since the command prints one "confo: " in front.
func message(err error) string {
	msg := strings.ReplaceAll(err.Error(), ": confo: ", ": ")
	return strings.TrimPrefix(msg, "confo: ")
}

// exitCode maps err to the exit status the README's table documents.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, confo.ErrInvalidName):
		return exitUsage
	case errors.Is(err, confo.ErrConflict):
		return exitConflict
	}
	return exitError
}
