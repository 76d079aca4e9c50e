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
	"github.com/confo-go/confo/schema"
)

// withSchemas runs fn with the schema layer of the store the flags select.
func (a *app) withSchemas(cmd *cobra.Command, fn func(ctx context.Context, s *schema.Backend) error) error {
	return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
		b, err := m.Layered(m.GetBackends().Active)
		if err != nil {
			return err
		}
		s := schema.Of(b)
		if s == nil {
			return fmt.Errorf("schemas: backend %q has no schema layer", m.GetBackends().Active)
		}
		return fn(ctx, s)
	})
}

func (a *app) schemaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Manage the JSON Schemas that configurations must match",
		Long: `Manage the JSON Schemas (draft 2020-12) kept in the store beside a namespace:
one per configuration name, or a namespace's default for the configurations
without one. Every manager, this command and the console refuse a value that
fails its schema, and a Persist is guarded by the schema's revision. A schema
cannot load anything over the network or from files.`,
		Args: a.subcommand,
		RunE: a.group,
	}
	var def, force bool
	set := &cobra.Command{
		Use:   "set NS NAME FILE|-  |  set NS --default FILE|-",
		Short: "Set the schema of a configuration, or the namespace's default",
		Long: `Set the schema of configuration NAME of namespace NS (or, with --default, of
every configuration of NS without a schema of its own) from FILE or stdin.
Every current configuration it applies to is checked first: if any fails,
nothing is written, they are listed, and the exit status is 1, unless
--force. The write is guarded: a schema changed meanwhile is exit status 3.`,
		Example: `  confo schema set database mysql mysql.schema.json
  confo schema set database --default base.schema.json
  confo schema set database mysql strict.json --force`,
		Args: args(2, 3),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name, file, err := schemaArgs(argv, def, true)
			if err != nil {
				return err
			}
			doc, err := a.readInput(file)
			if err != nil {
				return err
			}
			var opts []schema.SetOption
			if force {
				opts = append(opts, schema.Force())
			}
			return a.withSchemas(cmd, func(ctx context.Context, s *schema.Backend) error {
				rev, err := s.Set(ctx, ns, name, doc, opts...)
				if err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "schema": schema.Key(name), "revision": rev, "action": "set"},
					"set schema %q of namespace %q (revision %d)", schema.Key(name), ns, rev)
			})
		},
	}
	set.Flags().BoolVar(&def, "default", false, "the namespace's default schema")
	set.Flags().BoolVar(&force, "force", false, "set it even though current configurations fail it")

	var getDef bool
	get := &cobra.Command{
		Use:   "get NS [NAME]",
		Short: "Print a schema, or list the schemas of a namespace",
		Example: `  confo schema get database
  confo schema get database mysql
  confo schema get database --default`,
		Args: args(1, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withSchemas(cmd, func(ctx context.Context, s *schema.Backend) error {
				if len(argv) == 1 && !getDef {
					all, err := s.List(ctx, argv[0])
					if err != nil {
						return err
					}
					keys := slices.Sorted(maps.Keys(all))
					if a.json {
						out := make(map[string]any, len(all))
						for k, v := range all {
							out[k] = map[string]any{"revision": v.Revision}
						}
						return a.printJSON(out)
					}
					rows := make([][]string, len(keys))
					for i, k := range keys {
						rows[i] = []string{k, strconv.FormatInt(all[k].Revision, 10)}
					}
					return a.table([]string{"SCHEMA", "REVISION"}, rows)
				}
				name := ""
				if len(argv) == 2 {
					name = argv[1]
				}
				sch, err := s.Get(ctx, argv[0], name)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", sch.Document)
				return err
			})
		},
	}
	get.Flags().BoolVar(&getDef, "default", false, "the namespace's default schema")

	var rmDef bool
	rm := &cobra.Command{
		Use:     "rm NS NAME  |  rm NS --default",
		Short:   "Remove a schema",
		Example: `  confo schema rm database mysql`,
		Args:    args(1, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name, _, err := schemaArgs(argv, rmDef, false)
			if err != nil {
				return err
			}
			return a.withSchemas(cmd, func(ctx context.Context, s *schema.Backend) error {
				if err := s.Remove(ctx, ns, name); err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "schema": schema.Key(name), "action": "removed"},
					"removed schema %q of namespace %q", schema.Key(name), ns)
			})
		},
	}
	rm.Flags().BoolVar(&rmDef, "default", false, "the namespace's default schema")

	check := &cobra.Command{
		Use:   "check NS",
		Short: "Check every configuration of a namespace against its schema",
		Long: `Check every configuration of namespace NS against its schema as the store
has them. Exit status 0 when all pass, 1 when any fails (each failure listed
with its JSON pointer).`,
		Example: `  confo schema check database`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withSchemas(cmd, func(ctx context.Context, s *schema.Backend) error {
				failures, err := s.Check(ctx, argv[0])
				if err != nil {
					return err
				}
				if a.json {
					out := []map[string]any{}
					for _, f := range failures {
						var ve *schema.ValidationError
						if errors.As(f, &ve) {
							out = append(out, map[string]any{"name": ve.Name, "schema": ve.Schema, "failures": ve.Failures})
						} else {
							out = append(out, map[string]any{"error": f.Error()})
						}
					}
					if err := a.printJSON(out); err != nil {
						return err
					}
				} else {
					for _, f := range failures {
						fmt.Fprintln(a.stdout, invalidText(f))
					}
				}
				if len(failures) > 0 {
					return fmt.Errorf("%w: %d configurations of namespace %q fail their schema", confo.ErrInvalidValue, len(failures), argv[0])
				}
				if !a.json {
					fmt.Fprintf(a.stdout, "every configuration of namespace %q matches its schema\n", argv[0])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(set, get, rm, check)
	return cmd
}

// invalidText prints a validation failure one line per failure.
func invalidText(err error) string {
	var ve *schema.ValidationError
	if !errors.As(err, &ve) {
		return "invalid: " + err.Error()
	}
	s := fmt.Sprintf("invalid: %q fails schema %q (revision %d)", ve.Name, ve.Schema, ve.Revision)
	for _, f := range ve.Failures {
		ptr := f.Pointer
		if ptr == "" {
			ptr = "(root)"
		}
		s += fmt.Sprintf("\n  %s: %s", ptr, f.Message) // the pointer unquoted, as JSON pointers are written
	}
	return s
}

// schemaArgs reads NS [NAME] [FILE] of a schema command.
func schemaArgs(argv []string, def, withFile bool) (ns, name, file string, err error) {
	want := 2
	if withFile {
		want = 3
	}
	if def {
		want--
	}
	if len(argv) != want {
		if def {
			return "", "", "", usagef("schema: with --default, want NS%s", map[bool]string{true: " FILE|-", false: ""}[withFile])
		}
		return "", "", "", usagef("schema: want NS NAME%s, or --default", map[bool]string{true: " FILE|-", false: ""}[withFile])
	}
	ns = argv[0]
	if !def {
		name = argv[1]
	}
	if withFile {
		file = argv[len(argv)-1]
	}
	return ns, name, file, nil
}

// readInput reads FILE, or stdin for "-".
func (a *app) readInput(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(a.stdin)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return raw, nil
}
