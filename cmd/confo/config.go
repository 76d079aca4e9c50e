package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
)

// use validates the names, then loads namespace ns into m.
func use(ctx context.Context, m *confo.Manager, ns string, names ...string) error {
	for _, n := range append([]string{ns}, names...) {
		if err := confo.ValidateName(n); err != nil {
			return err
		}
	}
	err := m.UseNamespace(ctx, ns)
	if errors.Is(err, confo.ErrNamespaceNotFound) {
		return fmt.Errorf("%w (create it with: confo ns create %s)", err, ns)
	}
	return err
}

func (a *app) lsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "ls NS",
		Aliases: []string{"list"},
		Short:   "List the configurations of a namespace",
		Example: `  confo ls database
  confo ls database --json`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if err := checkNames("NS", argv[0]); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				if err := use(ctx, m, argv[0]); err != nil {
					return err
				}
				all, err := m.GetAll()
				if err != nil {
					return err
				}
				names := slices.Sorted(maps.Keys(all))
				if a.json {
					return a.printJSON(names)
				}
				rows := make([][]string, len(names))
				for i, name := range names {
					rows[i] = []string{name, strconv.Itoa(len(all[name]))}
				}
				return a.table([]string{"NAME", "FIELDS"}, rows)
			})
		},
	}
}

func (a *app) getCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get NS NAME [FIELD]",
		Short: "Show a configuration, or one of its fields",
		Long: `Show a configuration as a table of its fields, or the value of one field
(strings as they are, other values as JSON). With --json, the configuration
or the field's value as JSON.`,
		Example: `  confo get database mysql
  confo get database mysql host
  confo get database mysql --json | jq .port`,
		Args: args(2, 3),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			if err := checkNames("NS", ns, "NAME", name); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				if err := use(ctx, m, ns, name); err != nil {
					return err
				}
				if len(argv) == 3 {
					v, err := m.GetField(name, argv[2])
					if err != nil {
						return err
					}
					if a.json {
						return a.printJSON(v)
					}
					if s, ok := v.(string); ok {
						_, err = fmt.Fprintln(a.stdout, s)
						return err
					}
					_, err = fmt.Fprintln(a.stdout, compact(v))
					return err
				}
				obj, err := m.Get(name)
				if err != nil {
					return err
				}
				if a.json {
					return a.printJSON(obj)
				}
				rows := make([][]string, 0, len(obj))
				for _, f := range slices.Sorted(maps.Keys(obj)) {
					rows = append(rows, []string{f, compact(obj[f])})
				}
				return a.table([]string{"FIELD", "VALUE"}, rows)
			})
		},
	}
}

func (a *app) setCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set NS NAME FIELD=VALUE|FIELD:=JSON...",
		Short: "Set fields of a configuration (created if missing)",
		Long: `Set fields of a configuration, creating it if it does not exist, and print
what was stored. The syntax is httpie's: FIELD=VALUE stores VALUE as a
string, exactly as typed (version=1.10 is the string "1.10"); FIELD:=JSON
stores any JSON value (port:=3306, tls:=true, tags:='["a","b"]',
pool:='{"max":10}', note:=null); numbers keep every digit typed
(12345678901234567890 is not rounded). JSON that does not parse (a leading
zero, True) is refused with exit 2 naming the argument, and nothing is
written.

The output shows the values stored, so a secret typed here shows on the
terminal and in logs: seal secrets instead, from stdin (confo seal NS NAME
FIELD=-). The write is guarded: if someone changed the configuration since
it was read, nothing is written and the exit status is 3.`,
		Example: `  confo set database mysql host=db.internal port:=3306 tls:=true
  confo set database mysql version=10 tags:='["a","b"]'
  confo set database mysql port:=3307 --json`,
		Args: args(3, -1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			if err := checkNames("NS", ns, "NAME", name); err != nil {
				return err
			}
			pairs, err := parseAssignments(argv[2:])
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				if err := use(ctx, m, ns, name); err != nil {
					return err
				}
				for _, p := range pairs {
					if err := m.SetField(name, p.field, p.value); err != nil {
						return err
					}
				}
				if err := m.PersistConfig(ctx, ns, name); err != nil {
					return err
				}
				stored, err := m.Get(name)
				if err != nil {
					return err
				}
				fields := make(map[string]any, len(pairs))
				rows := make([][]string, len(pairs))
				for i, p := range pairs {
					fields[p.field] = stored[p.field]
					rows[i] = []string{p.field, compact(stored[p.field])}
				}
				if a.json {
					return a.printJSON(map[string]any{"namespace": ns, "name": name, "action": "set", "fields": fields})
				}
				what := "1 field"
				if len(pairs) != 1 {
					what = fmt.Sprintf("%d fields", len(pairs))
				}
				fmt.Fprintf(a.stdout, "set %s of %q in namespace %q:\n", what, name, ns)
				return a.table([]string{"FIELD", "VALUE"}, rows)
			})
		},
	}
}

func (a *app) putCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "put NS NAME [FILE|-]",
		Short: "Replace a whole configuration with a JSON object from a file or stdin",
		Long: `Replace a whole configuration (created if missing) with the JSON object read
from FILE, or from stdin when FILE is "-" or left out. The write is guarded
as for set. It prints what was stored.`,
		Example: `  confo put database mysql mysql.json
  echo '{"host":"db.internal","port":3306}' | confo put database mysql`,
		Args: args(2, 3),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			if err := checkNames("NS", ns, "NAME", name); err != nil {
				return err
			}
			src, r := "stdin", io.Reader(a.stdin)
			if len(argv) == 3 && argv[2] != "-" {
				f, err := os.Open(argv[2])
				if err != nil {
					return fmt.Errorf("put: %w", err)
				}
				defer f.Close()
				src, r = argv[2], f
			}
			if src == "stdin" && terminal(a.stdin) {
				fmt.Fprintln(a.stderr, "reading the JSON object from stdin; end with Ctrl-D")
			}
			raw, err := io.ReadAll(r)
			if err != nil {
				return fmt.Errorf("put: read %s: %w", src, err)
			}
			obj, err := transfer.Decode(raw)
			if err != nil {
				return fmt.Errorf("put: %s: %w", src, err)
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				if err := use(ctx, m, ns, name); err != nil {
					return err
				}
				if err := m.Set(name, obj); err != nil {
					return err
				}
				if err := m.PersistConfig(ctx, ns, name); err != nil {
					return err
				}
				stored, err := m.Get(name)
				if err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "name": name, "action": "put", "value": stored},
					"put %q in namespace %q: %s", name, ns, compact(stored))
			})
		},
	}
}

func (a *app) rmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NS NAME",
		Short: "Remove a configuration",
		Long: `Remove a configuration. The delete is guarded: if someone changed the
configuration since it was read, nothing is deleted and the exit status is 3.`,
		Example: `  confo rm database mysql`,
		Args:    args(2, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			if err := checkNames("NS", ns, "NAME", name); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				if err := use(ctx, m, ns, name); err != nil {
					return err
				}
				if err := m.Delete(name); err != nil {
					return err
				}
				if err := m.PersistConfig(ctx, ns, name); err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "name": name, "action": "removed"},
					"removed %q from namespace %q", name, ns)
			})
		},
	}
}
