package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/changelog"
	"github.com/confo-go/confo/console"
	"github.com/confo-go/confo/presence"
	"github.com/confo-go/confo/schema"
	"github.com/confo-go/confo/seal"
)

// Environment variables of confo ui.
const (
	envUIUser     = "CONFO_UI_USER"
	envUIPassword = "CONFO_UI_PASSWORD"
)

func (a *app) uiCommand() *cobra.Command {
	var (
		addr     string
		readOnly bool
	)
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web console on 127.0.0.1 and print its one-time sign-in link",
		Long: `Serve the web console over the store on 127.0.0.1, on a port the kernel
picks unless --addr says otherwise, and print the link to open: it holds a
one-time access token, exchanged at the first visit for a session cookie
(HttpOnly, SameSite=Strict). With ` + envUIUser + ` and ` + envUIPassword + ` set, the
login form also takes that user and password (any number of times).

Every write needs the session's CSRF token; --read-only refuses them all.
Sealed fields are shown masked; with --identity (or ` + seal.EnvIdentityFile + ` /
` + seal.EnvIdentity + `) a click on one opens it. Runs until interrupted.`,
		Example: `  confo --endpoints 10.0.0.1:2379 ui
  confo ui --read-only
  confo --backend file --config-path ./config ui --addr 127.0.0.1:8080`,
		Args: args(0, 0),
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on (host:port; port 0 picks a free one)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "refuse every write")
	identity := a.identityFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		// The console's manager seals without identities, so that no page
		// shows a sealed field in clear; the identities only serve reveal.
		var ids []age.Identity
		if *identity != "" || os.Getenv(seal.EnvIdentityFile) != "" || os.Getenv(seal.EnvIdentity) != "" {
			saved := a.identities
			if err := a.loadIdentities(*identity); err != nil {
				return err
			}
			ids, a.identities = a.identities, saved
		}
		open, cancel := context.WithTimeout(ctx, a.timeout)
		m, err := a.open(open)
		cancel()
		if err != nil {
			return err
		}
		defer m.Close()
		return a.serveUI(ctx, m, addr, readOnly, ids)
	}
	return cmd
}

// serveUI serves the console over m on addr until ctx is done.
func (a *app) serveUI(ctx context.Context, m *confo.Manager, addr string, readOnly bool, ids []age.Identity) error {
	opts := console.Options{
		Token:    console.NewToken(),
		User:     os.Getenv(envUIUser),
		Password: os.Getenv(envUIPassword),
		ReadOnly: readOnly,
		Logger:   slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Schemas checked as the user types and on save; each save
		// recorded with its message; sealed fields kept sealed and shown
		// masked.
		// The changelog layer also gives each version in the history its
		// author, message and time.
		Layers:    []confo.Layer{schema.Layer(), changelog.Layer(), seal.Layer()},
		Instances: presenceLister{m},
	}
	if opts.User != "" && opts.Password == "" {
		return usagef("%s is set without %s", envUIUser, envUIPassword)
	}
	if len(ids) > 0 {
		opts.Revealer = sealRevealer{m: m, ids: ids}
	}
	h, err := console.New(m, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(a.stderr, "confo ui: warning: listening on %s, not on loopback: anyone who reaches it may try to sign in, over plain HTTP\n", ln.Addr())
	}
	base := "http://" + net.JoinHostPort(host, port) + "/"
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(a.stdout, "confo console on %s (%s)\n", base, m.GetBackends().Active)
	fmt.Fprintf(a.stdout, "open (one-time link): %slogin?token=%s\n", base, opts.Token)
	if readOnly {
		fmt.Fprintln(a.stdout, "read-only: writes are refused")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ui: %w", err)
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ui: %w", err)
	}
	return nil
}

// sealRevealer opens a sealed field for the console, on a click, by
// reading the configuration through a seal layer holding the identities.
type sealRevealer struct {
	m   *confo.Manager
	ids []age.Identity
}

// Reveal returns the plain value of the top-level field at ptr.
func (r sealRevealer) Reveal(ctx context.Context, backend, ns, name, ptr, _ string) (any, error) {
	field, ok := strings.CutPrefix(ptr, "/")
	if !ok || strings.Contains(field, "/") {
		return nil, fmt.Errorf("reveal %q: only a configuration's own fields are sealed", ptr)
	}
	field = strings.ReplaceAll(strings.ReplaceAll(field, "~1", "/"), "~0", "~")
	b, err := r.m.Backend(backend)
	if err != nil {
		return nil, err
	}
	for { // down to the store's own Backend
		u, ok := b.(confo.Unwrapper)
		if !ok || u.Unwrap() == nil {
			break
		}
		b = u.Unwrap()
	}
	snap, err := seal.Wrap(b, r.ids...).Load(ctx, ns) // never closed: b is the manager's
	if err != nil {
		return nil, err
	}
	e, ok := snap.Entries[name]
	if !ok {
		return nil, fmt.Errorf("reveal %q in %q: %w", name, ns, confo.ErrConfigNotFound)
	}
	if e.Err != nil {
		return nil, e.Err
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(e.Value))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("reveal %q in %q: %w", name, ns, confo.ErrCorruptValue)
	}
	plain, ok := v[field]
	if !ok {
		return nil, fmt.Errorf("reveal %q of %q: %w", field, name, confo.ErrFieldNotFound)
	}
	return plain, nil
}

// presenceLister lists the instances that report a namespace (presence).
type presenceLister struct{ m *confo.Manager }

// Instances returns the live instances of ns with the revision each
// applied.
func (p presenceLister) Instances(ctx context.Context, backend, ns string) ([]console.Instance, error) {
	b, err := p.m.Backend(backend)
	if err != nil {
		return nil, err
	}
	l, err := presence.List(ctx, b, ns)
	if err != nil {
		return nil, err
	}
	out := make([]console.Instance, 0, len(l.Instances))
	for _, in := range l.Instances {
		out = append(out, console.Instance{ID: in.ID, Applied: in.Applied, Lag: in.Lag, Seen: in.Updated})
	}
	return out, nil
}
