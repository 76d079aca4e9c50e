package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
)

const layoutNote = `DIR holds one namespace in the file backend's layout: DIR/<name>.json, one
JSON object per file (files not ending in .json, and hidden files, are
ignored). So DIR can be <config_path>/<namespace> of a file backend, or a
folder kept in version control.`

func (a *app) exportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "export NS DIR",
		Short: "Make DIR hold exactly the configurations of a namespace, one file each",
		Long: "Write every configuration of a namespace to DIR/<name>.json (indented JSON,\n" +
			"sorted keys), creating DIR if needed, and remove the DIR/<name>.json files of\n" +
			"configurations the namespace no longer holds (it names them), so that DIR\n" +
			"equals the namespace and a later import brings nothing back. Hidden files and\n" +
			"files not ending in .json are left alone. A namespace with no configuration\n" +
			"is an error (exit 1) and changes nothing: the source may be mistyped. Files\n" +
			"are written 0600 (a DIR it creates 0700): configurations may hold secrets.\n\n" + layoutNote,
		Example: `  confo export database ./config/database
  confo --config-path ./config export database ./backup/database`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, dir := argv[0], argv[1]
			if err := checkNames("NS", ns); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				configs, err := transfer.Load(ctx, m, ns, false)
				if err != nil {
					return err
				}
				if len(configs) == 0 {
					return fmt.Errorf("export namespace %q: it holds no configuration: nothing exported, %s left as it was", ns, dir)
				}
				if err := transfer.WriteDir(dir, configs); err != nil {
					return fmt.Errorf("export namespace %q: %w", ns, err)
				}
				removed, err := pruneDir(dir, configs)
				if err != nil {
					return fmt.Errorf("export namespace %q: %w", ns, err)
				}
				if a.json {
					if removed == nil {
						removed = []string{}
					}
					return a.printJSON(map[string]any{"namespace": ns, "dir": dir, "exported": len(configs), "removed": removed})
				}
				fmt.Fprintf(a.stdout, "exported %s of namespace %q to %s\n", count(len(configs)), ns, dir)
				for _, name := range removed {
					fmt.Fprintf(a.stdout, "removed %s: no configuration %q in namespace %q\n", filepath.Join(dir, name+transfer.Ext), name, ns)
				}
				return nil
			})
		},
	}
}

// printPlan prints what an import did or would do.
func (a *app) printPlan(plan transfer.Plan) error {
	if a.json {
		return a.printJSON(plan)
	}
	var rows [][]string
	for _, c := range []struct {
		what  string
		names []string
	}{{"added", plan.Added}, {"changed", plan.Changed}, {"removed", plan.Removed}} {
		for _, n := range c.names {
			rows = append(rows, []string{c.what, n})
		}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(a.stdout, "no differences")
		return err
	}
	return a.table([]string{"CHANGE", "NAME"}, rows)
}

func (a *app) importCommand() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "import DIR NS",
		Short: "Make a namespace hold exactly the configurations of DIR",
		Long: `Make namespace NS (created if missing) hold exactly the configurations of
DIR: add the new ones, change those that differ, and remove those DIR lacks
(unless --no-delete). Run diff first to see what it will do.

The changes are written in batches of 128 (one etcd transaction each),
guarded by the revisions read at the start: a configuration someone changes
meanwhile stops the import with a conflict (exit 3), and the message says
how many changes were applied before. A progress counter shows on a
terminal for long imports.

` + layoutNote,
		Example: `  confo diff ./config/database database
  confo import ./config/database database
  confo import --no-delete ./seed database`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			dir, ns := argv[0], argv[1]
			configs, err := readDir(dir, ns)
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				update, finish := a.progress("importing", transfer.DefaultBatch)
				plan, err := transfer.Apply(ctx, m, ns, configs, transfer.Options{Prune: !keep, Progress: update})
				finish()
				if err != nil {
					return fmt.Errorf("import %s into namespace %q: %w", dir, ns, err)
				}
				if a.json {
					return a.printJSON(plan)
				}
				_, err = fmt.Fprintf(a.stdout, "imported %s into namespace %q: %d added, %d changed, %d removed\n",
					dir, ns, len(plan.Added), len(plan.Changed), len(plan.Removed))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&keep, "no-delete", false, "keep the configurations DIR lacks")
	return cmd
}

func (a *app) diffCommand() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "diff DIR NS  |  diff NS NAME REV1 [REV2]",
		Short: "Show what import DIR NS would change, or how two versions of a configuration differ",
		Long: `Show what import DIR NS would change, changing nothing: the configurations
it would add, change and remove (not removed with --no-delete). A missing
namespace counts as empty. The exit status is 0 whether or not there are
differences; use --json to read them from a script.

With NS NAME REV1 [REV2], show the fields of configuration NAME that differ
between the versions written at revisions REV1 and REV2 (default: the
current version), as history lists them.

` + layoutNote,
		Example: `  confo diff ./config/database database
  confo diff ./config/database database --json | jq '.changed'
  confo diff database mysql 41 57     # the fields that differ between two revisions
  confo diff database mysql 41        # ... between revision 41 and the current one`,
		Args: args(2, 4),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if len(argv) > 2 {
				return a.revisionDiff(cmd, argv) // diff NS NAME REV1 [REV2] (revdiff.go)
			}
			dir, ns := argv[0], argv[1]
			configs, err := readDir(dir, ns)
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				plan, err := transfer.Apply(ctx, m, ns, configs, transfer.Options{Prune: !keep, DryRun: true})
				if err != nil {
					return err
				}
				return a.printPlan(plan)
			})
		},
	}
	cmd.Flags().BoolVar(&keep, "no-delete", false, "as import --no-delete: do not list configurations DIR lacks")
	return cmd
}

// readDir validates the namespace name, then reads DIR.
func readDir(dir, ns string) (transfer.Configs, error) {
	if err := checkNames("NS", ns); err != nil {
		return nil, err
	}
	configs, err := transfer.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return configs, nil
}

const copyLong = `Copy namespaces from one store to another: each target namespace (created
if missing) is made to hold exactly the source's configurations, as import
does (--no-delete keeps the target's extra ones). The store flags do not
apply; each store is a URL:

  etcd://HOST:PORT[,HOST:PORT...][/PREFIX][?ns=NS]     prefix default /confo
  file:///ABSOLUTE/PATH[?ns=NS]   file:RELATIVE/PATH[?ns=NS]
  zookeeper://HOST:PORT[,...][/PREFIX][?ns=NS]
  redis://HOST:PORT/[?prefix=P&ns=NS]
  database://HOST:PORT/DBNAME[?ns=NS]
  memory://

Query parameters: ns, prefix, dial_timeout (5s), ca_file, cert_file,
key_file. A user goes before the host (etcd://app@10.0.0.1:2379); passwords
come from CONFO_FROM_PASSWORD and CONFO_TO_PASSWORD (else CONFO_PASSWORD),
never from the URL.

Without ?ns= on --from, every namespace of the source is copied, to the
same names. With it, the namespace goes to the ?ns= of --to, or to the same
name.`

func (a *app) copyCommand() *cobra.Command {
	var from, to string
	var keep bool
	cmd := &cobra.Command{
		Use:   "copy --from URL --to URL",
		Short: "Copy namespaces between two stores",
		Long:  copyLong,
		Example: `  confo copy --from etcd://127.0.0.1:2379 --to file:///srv/config-backup
  confo copy --from 'file:./config?ns=database' --to 'etcd://10.0.0.1:2379?ns=database'
  CONFO_TO_PASSWORD=... confo copy --from etcd://old:2379 --to etcd://root@new:2379/app`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usagef("copy: both --from and --to are required")
			}
			src, srcNS, err := parseStoreURL(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			dst, dstNS, err := parseStoreURL(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if srcNS == "" && dstNS != "" {
				return usagef("copy: --to names namespace %q but --from names none: add ?ns= to --from", dstNS)
			}
			if dstNS == "" {
				dstNS = srcNS
			}
			for _, o := range []*storeOptions{&src, &dst} {
				if o.DialTimeout == 0 {
					o.DialTimeout = a.opts.DialTimeout
				}
			}
			if src.Password, err = a.password(src.User, "CONFO_FROM_PASSWORD"); err != nil {
				return err
			}
			if dst.Password, err = a.password(dst.User, "CONFO_TO_PASSWORD"); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
			defer cancel()
			sm, err := a.openStore(ctx, src)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			defer sm.Close()
			dm, err := a.openStore(ctx, dst)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			defer dm.Close()
			return a.copy(ctx, sm, srcNS, dm, dstNS, keep)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "source store URL")
	cmd.Flags().StringVar(&to, "to", "", "target store URL")
	cmd.Flags().BoolVar(&keep, "no-delete", false, "keep the target's configurations the source lacks")
	return cmd
}

func (a *app) copy(ctx context.Context, src *confo.Manager, srcNS string, dst *confo.Manager, dstNS string, keep bool) error {
	pairs := [][2]string{{srcNS, dstNS}}
	if srcNS == "" {
		nss, err := src.GetNamespaces(ctx)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		pairs = pairs[:0]
		for _, ns := range nss.All {
			pairs = append(pairs, [2]string{ns, ns})
		}
	}
	type result struct {
		From string `json:"from"`
		To   string `json:"to"`
		transfer.Plan
	}
	if len(pairs) == 0 {
		return errors.New("--from: the source store has no namespaces: nothing copied (is the URL's prefix or path right?)")
	}
	var results []result
	for _, p := range pairs {
		configs, err := transfer.Load(ctx, src, p[0], false)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		if len(configs) == 0 && srcNS != "" {
			return fmt.Errorf("--from: namespace %q holds no configuration: nothing copied", p[0])
		}
		update, finish := a.progress("copying "+p[0], transfer.DefaultBatch)
		plan, err := transfer.Apply(ctx, dst, p[1], configs, transfer.Options{Prune: !keep, Progress: update})
		finish()
		if err != nil {
			return fmt.Errorf("copy namespace %q to %q: %w", p[0], p[1], err)
		}
		results = append(results, result{p[0], p[1], plan})
		if !a.json {
			fmt.Fprintf(a.stdout, "copied namespace %q to %q: %d added, %d changed, %d removed\n",
				p[0], p[1], len(plan.Added), len(plan.Changed), len(plan.Removed))
		}
	}
	if a.json {
		if results == nil {
			results = []result{}
		}
		return a.printJSON(results)
	}
	return nil
}
