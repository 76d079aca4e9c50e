package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"
	_ "github.com/confo-go/confo/backends/file"
	_ "github.com/confo-go/confo/backends/memory"
	_ "github.com/confo-go/confo/backends/postgres"
	_ "github.com/confo-go/confo/backends/redis"
	_ "github.com/confo-go/confo/backends/zookeeper"
	"github.com/confo-go/confo/changelog"
	"github.com/confo-go/confo/schema"
)

// app holds what every command shares: the standard streams and the
// global flags.
type app struct {
	stdin          *os.File
	stdout, stderr io.Writer
	opts           storeOptions // the flags; the store is chosen by selectStore
	json           bool
	timeout        time.Duration
	identities     []age.Identity // sealed fields (seal.go)
	root           *cobra.Command
	dryRun         bool   // --dry-run (preview.go)
	author         string // --author (log.go)
	message        string // --message (log.go)
}

func newApp(stdin *os.File, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr}
}

const rootLong = `confo reads and changes the configuration that services load through the
confo library: namespaces of named JSON objects, kept in etcd, in a folder
of JSON files, or in another store.

Choosing the store (a flag always wins over the environment):
  --backend      etcd, file, memory, zookeeper, redis,    CONFO_BACKEND
                 database
  --endpoints    host:port,... of etcd, zookeeper, redis  CONFO_ENDPOINTS
                 or database; picks etcd unless the       (or CONFO_ETCD_ENDPOINTS)
                 backend is named
  --config-path  the file backend's directory; picks it   CONFO_CONFIG_PATH
  --user         user name; the password comes from       CONFO_USER
                 CONFO_PASSWORD, or a prompt when stdin
                 is a terminal (never from a flag)
  The database backend also takes a connection string from CONFO_DSN.
  There is no default store: with none of these, confo says so (exit 2).

Values: set takes FIELD=VALUE for a string and FIELD:=JSON for any JSON
value (port:=3306, tls:=true, tags:='["a","b"]').

Exit status: 0 success, 1 error (from the store, or a source with nothing
to copy), 2 usage (unknown command or flag, wrong arguments, an invalid
name or value, a malformed endpoint), 3 conflict (the configuration changed
in the store since it was read; nothing was written).`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "confo",
		Short: "Inspect, edit, migrate and watch confo configuration",
		Long:  rootLong,
		Example: `  confo --endpoints 10.0.0.1:2379 ns ls
  export CONFO_ENDPOINTS=10.0.0.1:2379
  confo set database mysql host=db.internal port:=3306
  confo get database mysql
  confo --config-path ./config ls database`,
		Args:              a.subcommand,
		RunE:              a.group,
		PersistentPreRunE: a.checkFlags,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Version:           version(),
	}
	a.root = root
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate("confo {{.Version}}\n")
	root.SetHelpCommand(a.helpCommand())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)

	f := root.PersistentFlags()
	f.StringVar(&a.opts.Backend, "backend", "", "store type: "+strings.Join(storeKinds(), ", ")+" (env "+envBackend+")")
	f.StringSliceVar(&a.opts.Endpoints, "endpoints", nil, "store endpoints, host:port,...; picks etcd unless --backend names another (env "+envEndpoints+")")
	f.StringVar(&a.opts.Prefix, "prefix", "", "key prefix of the store (etcd: default /confo)")
	f.StringVar(&a.opts.User, "user", "", "user name; password from "+envPassword+" or a prompt (env "+envUser+")")
	f.StringVar(&a.opts.CAFile, "ca-file", "", "PEM file of the CAs that sign the servers' certificates (turns TLS on)")
	f.StringVar(&a.opts.CertFile, "cert-file", "", "client certificate (PEM), with --key-file")
	f.StringVar(&a.opts.KeyFile, "key-file", "", "client key (PEM), with --cert-file")
	f.StringVar(&a.opts.ConfigPath, "config-path", "", "directory of the file backend; picks it (env "+envConfigPath+")")
	f.DurationVar(&a.opts.DialTimeout, "dial-timeout", 5*time.Second, "how long to try to connect to the store")
	f.DurationVar(&a.timeout, "timeout", time.Minute, "bound on each command's store operations (not on watch or the editor)")
	f.BoolVar(&a.json, "json", false, "print JSON for scripts instead of tables")

	root.AddCommand(
		a.nsCommand(),
		a.lsCommand(), a.revealing(a.getCommand()), a.previewing(a.setCommand()), a.previewing(a.putCommand()), a.rmCommand(), a.previewing(a.editCommand()),
		a.historyCommand(), a.previewing(a.rollbackCommand()), a.watchCommand(),
		a.exportCommand(), a.previewing(a.importCommand()), a.diffCommand(), a.copyCommand(),
	)
	root.AddCommand(a.schemaCommand(), a.logCommand()) // schema.go, log.go
	a.changeFlags(root)                                // log.go: --author, --message
	root.AddCommand(a.statusCommand())                 // status.go: presence of the instances
	root.AddCommand(a.sealCommands()...)
	root.AddCommand(a.uiCommand())
	return root
}

// checkFlags checks the flags every command shares.
func (a *app) checkFlags(cmd *cobra.Command, _ []string) error {
	if a.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if a.opts.DialTimeout <= 0 {
		return usagef("--dial-timeout must be positive")
	}
	a.changeInfo(cmd) // log.go
	return nil
}

// selectStore returns the store the flags and the environment choose (see
// [chooseStore]): a flag always wins over its variable.
func (a *app) selectStore() (storeOptions, error) {
	f := a.root.PersistentFlags()
	var g storeFlags
	if f.Changed("backend") {
		g.Backend = &a.opts.Backend
	}
	if f.Changed("endpoints") {
		g.Endpoints = &a.opts.Endpoints
	}
	if f.Changed("config-path") {
		g.ConfigPath = &a.opts.ConfigPath
	}
	if f.Changed("user") {
		g.User = &a.opts.User
	}
	o, err := chooseStore(g, os.Getenv)
	if err != nil {
		return storeOptions{}, err
	}
	o.Prefix, o.DialTimeout = a.opts.Prefix, a.opts.DialTimeout
	o.CAFile, o.CertFile, o.KeyFile = a.opts.CAFile, a.opts.CertFile, a.opts.KeyFile
	return o, nil
}

// subcommand is the Args of a command that only groups others: it turns an
// unknown subcommand into a usage error.
func (a *app) subcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	}
	if s := suggest(cmd, args[0]); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usageError{fmt.Errorf("%s", msg)}
}

// group is the RunE of a command that only groups others: it prints help.
func (a *app) group(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// args checks the number of positional arguments: between min and max
// (max < 0: no upper bound).
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		want := strings.TrimSpace(strings.TrimPrefix(cmd.Use, cmd.Name()))
		if want == "" {
			want = "no arguments"
		}
		path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		return usagef("%s: want %s, got %d argument(s)", path, want, len(args))
	}
}

// password returns the password for user: CONFO_PASSWORD (or the first of
// envs that is set), else a prompt when stdin is a terminal, else "".
func (a *app) password(user string, envs ...string) (string, error) {
	for _, e := range append(envs, envPassword) {
		if v, ok := os.LookupEnv(e); ok {
			return v, nil
		}
	}
	if user == "" || !term.IsTerminal(int(a.stdin.Fd())) {
		return "", nil
	}
	fmt.Fprintf(a.stderr, "Password for %s: ", user)
	pw, err := term.ReadPassword(int(a.stdin.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(pw), nil
}

// openStore connects to the store o selects and returns a manager whose
// active backend it is, named after its type.
func (a *app) openStore(ctx context.Context, o storeOptions) (*confo.Manager, error) {
	kind, creds, err := o.Credentials()
	if err != nil {
		return nil, err
	}
	layers := []confo.Layer{a.sealLayer(), schema.Layer(), changelog.Layer()} // sealed outermost: a schema sees values as stored, never plaintext
	if a.dryRun {
		layers = append([]confo.Layer{a.previewLayer()}, layers...) // preview.go
	}
	m := confo.New(confo.WithLayers(layers...))
	name := string(kind)
	if err := m.LoadBackend(ctx, name, kind, creds); err != nil {
		return nil, err
	}
	if err := m.ActivateBackend(name); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// withStore opens the store the flags select, runs fn with a context
// bounded by --timeout, and closes the store.
func (a *app) withStore(cmd *cobra.Command, fn func(ctx context.Context, m *confo.Manager) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	m, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	return fn(ctx, m)
}

// open connects to the store the flags select.
func (a *app) open(ctx context.Context) (*confo.Manager, error) {
	o, err := a.selectStore()
	if err != nil {
		return nil, err
	}
	if _, _, err := o.Credentials(); err != nil {
		return nil, err // before asking for a password
	}
	pw, err := a.password(o.User)
	if err != nil {
		return nil, err
	}
	o.Password = pw
	return a.openStore(ctx, o)
}

// table prints rows under header, aligned.
func (a *app) table(header []string, rows [][]string) error {
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

// printJSON prints v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// compact returns v as one line of JSON.
func compact(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// done reports a change: text for people, v as JSON with --json.
func (a *app) done(v any, format string, args ...any) error {
	if a.json {
		return a.printJSON(v)
	}
	_, err := fmt.Fprintf(a.stdout, format+"\n", args...)
	return err
}

// terminal reports whether f is a terminal.
func terminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks a yes/no question on the terminal; false when stdin is not
// one.
func (a *app) confirm(question string) (bool, error) {
	if !terminal(a.stdin) {
		return false, nil
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, fmt.Errorf("read answer: %w", err)
	}
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes", nil
}

// progress returns a function that shows "verb n/total" on stderr, on one
// line rewritten with \r, when stderr is a terminal and total is above
// threshold; nil otherwise. finish ends the line.
func (a *app) progress(verb string, threshold int) (update func(done, total int), finish func()) {
	if !terminal(a.stderr) {
		return nil, func() {}
	}
	shown := false
	update = func(done, total int) {
		if total <= threshold {
			return
		}
		shown = true
		fmt.Fprintf(a.stderr, "\r%s %d/%d", verb, done, total)
	}
	return update, func() {
		if shown {
			fmt.Fprintln(a.stderr)
		}
	}
}

// count returns "1 configuration" or "n configurations".
func count(n int) string {
	if n == 1 {
		return "1 configuration"
	}
	return fmt.Sprintf("%d configurations", n)
}
