package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
)

func (a *app) nsCommand() *cobra.Command {
	ns := &cobra.Command{
		Use:   "ns",
		Short: "List, create and remove namespaces",
		Example: `  confo ns ls
  confo ns create database sales
  confo ns rm sales --yes`,
		Args: a.subcommand,
		RunE: a.group,
	}
	ns.AddCommand(a.nsLsCommand(), a.nsCreateCommand(), a.nsRmCommand())
	return ns
}

func (a *app) nsLsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the namespaces of the store",
		Example: `  confo ns ls
  confo ns ls --json`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				nss, err := m.GetNamespaces(ctx)
				if err != nil {
					return err
				}
				if a.json {
					return a.printJSON(nss.All)
				}
				rows := make([][]string, len(nss.All))
				for i, ns := range nss.All {
					rows[i] = []string{ns}
				}
				return a.table([]string{"NAMESPACE"}, rows)
			})
		},
	}
}

func (a *app) nsCreateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "create NS...",
		Short: "Create namespaces (one that exists is reported, not an error)",
		Example: `  confo ns create database
  confo ns create sales analytics`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, names []string) error {
			for _, ns := range names {
				if err := checkNames("NS", ns); err != nil {
					return err
				}
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				before, err := m.GetNamespaces(ctx)
				if err != nil {
					return err
				}
				for _, ns := range names {
					existed := slices.Contains(before.All, ns)
					if err := m.CreateNamespace(ctx, ns); err != nil {
						return err
					}
					action, text := "created", "created namespace %q"
					if existed {
						action, text = "exists", "namespace %q exists already"
					}
					before.All = append(before.All, ns)
					if err := a.done(map[string]any{"namespace": ns, "action": action}, text, ns); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func (a *app) nsRmCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "rm NS",
		Short: "Remove a namespace and every configuration in it",
		Long: `Remove a namespace and every configuration in it. Asks for confirmation on
a terminal; elsewhere --yes is required.

The etcd, file and memory stores delete the namespace in one step (etcd: one
transaction). Other stores delete its configurations with guarded writes, in
batches (a configuration changed by someone else meanwhile stops the removal
with a conflict, exit 3) and keep the namespace listed, empty.`,
		Example: `  confo ns rm sales
  confo ns rm sales --yes --json`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns := argv[0]
			if err := checkNames("NS", ns); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				current, err := transfer.Load(ctx, m, ns, false)
				if err != nil {
					return err
				}
				if !yes {
					ok, err := a.confirm(fmt.Sprintf("Remove namespace %q and its %s?", ns, count(len(current))))
					if err != nil {
						return err
					}
					if !ok {
						if !terminal(a.stdin) {
							return usagef("ns rm: removing namespace %q deletes its %s: confirm with --yes", ns, count(len(current)))
						}
						return errors.New("ns rm: not confirmed")
					}
				}
				return a.removeNamespace(ctx, m, ns, len(current))
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// removeNamespace deletes namespace ns, which holds n configurations, with
// the backend's DeleteNamespace, or else by deleting every configuration.
func (a *app) removeNamespace(ctx context.Context, m *confo.Manager, ns string, n int) error {
	active := m.GetBackends().Active
	b, err := m.Backend(active)
	if err != nil {
		return err
	}
	if nd, ok := b.(confo.NamespaceDeleter); ok {
		if err := nd.DeleteNamespace(ctx, ns); err != nil {
			return fmt.Errorf("remove namespace %q: %w", ns, err)
		}
		return a.done(map[string]any{"namespace": ns, "action": "removed", "configurations": n},
			"removed namespace %q and its %s", ns, count(n))
	}
	update, finish := a.progress("removing", transfer.DefaultBatch)
	plan, err := transfer.Apply(ctx, m, ns, nil, transfer.Options{Prune: true, Progress: update})
	finish()
	if err != nil {
		return fmt.Errorf("remove namespace %q: %w", ns, err)
	}
	return a.done(map[string]any{"namespace": ns, "action": "emptied", "configurations": len(plan.Removed)},
		"removed the %s of namespace %q; the %s backend cannot delete a namespace, so it stays listed, empty",
		count(len(plan.Removed)), ns, active)
}
