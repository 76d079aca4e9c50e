package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/presence"
)

func (a *app) statusCommand() *cobra.Command {
	var (
		waitRev int64
		minimum string
	)
	cmd := &cobra.Command{
		Use:   "status NS",
		Short: "List the instances that use a namespace and the revision each applied",
		Long: `List the live instances that use the namespace (services that run a
presence.Reporter): the store revision each applied, how far it is behind
the namespace's latest change (LAG, in store revisions), whether it serves
the namespace from its last-known-good mirror, and its problems
(quarantined configurations).

With --wait REV, wait until at least --min of the instances (a percentage
such as 100% or 90%, or a count such as 3) applied revision REV or later,
then print them; give up after --timeout (exit 1, saying how many did).
A deploy script runs it after a change, with the change's revision (the
first line of "confo history NS NAME"):

  confo status database --wait 1234 --min 100% --timeout 2m

On etcd the records live under leases (a dead instance leaves within the
lease's TTL); on ZooKeeper, ephemeral znodes; on Redis, keys with a time
to live; on the file
backend they are metadata entries with an expiry, which status deletes once
expired. Other stores keep none, and status says so.`,
		Example: `  confo status database
  confo status database --json
  confo status database --wait 1234 --min 90% --timeout 60s`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns := argv[0]
			if err := confo.ValidateName(ns); err != nil {
				return err
			}
			waiting := cmd.Flags().Changed("wait")
			goal, err := parseGoal(minimum)
			if err != nil {
				return err
			}
			if waiting && waitRev <= 0 {
				return usagef("--wait must be a positive store revision")
			}
			if !waiting && cmd.Flags().Changed("min") {
				return usagef("--min needs --wait")
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				b, err := m.Backend(m.GetBackends().Active)
				if err != nil {
					return err
				}
				var l presence.Listing
				if waiting {
					l, err = presence.Wait(ctx, b, ns, waitRev, goal, 250*time.Millisecond)
				} else {
					l, err = presence.List(ctx, b, ns)
				}
				if err != nil {
					return err
				}
				return a.printStatus(l, waiting, waitRev)
			})
		},
	}
	f := cmd.Flags()
	f.Int64Var(&waitRev, "wait", 0, "wait until enough instances applied this store revision")
	f.StringVar(&minimum, "min", "100%", "with --wait: how many instances, a percentage (90%) or a count (3)")
	return cmd
}

// parseGoal reads --min: "N%" or a count.
func parseGoal(s string) (presence.Goal, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v <= 0 || v > 100 {
			return presence.Goal{}, usagef("--min %q: want a percentage in (0, 100] or a count", s)
		}
		return presence.Goal{Percent: v}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return presence.Goal{}, usagef("--min %q: want a percentage in (0, 100] or a count", s)
	}
	return presence.Goal{Count: n}, nil
}

// printStatus prints a listing: a table, or JSON with --json.
func (a *app) printStatus(l presence.Listing, waited bool, rev int64) error {
	if a.json {
		return a.printJSON(l)
	}
	if waited {
		fmt.Fprintf(a.stdout, "%d of %d instances applied revision %d\n", l.Applied(rev), len(l.Instances), rev)
	} else {
		fmt.Fprintf(a.stdout, "namespace %s, latest change at revision %d, %d instance(s)\n", l.Namespace, l.Revision, len(l.Instances))
	}
	if len(l.Instances) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(l.Instances))
	for _, st := range l.Instances {
		if st.Err != "" {
			rows = append(rows, []string{st.ID, "-", "-", "-", st.Err, "-", "-"})
			continue
		}
		problems := make([]string, 0, len(st.Problems))
		for _, p := range st.Problems {
			problems = append(problems, p.Name+": "+p.Error)
		}
		stale := "no"
		if st.Stale {
			stale = "yes"
		}
		rows = append(rows, []string{
			st.ID, strconv.FormatInt(st.Applied, 10), strconv.FormatInt(st.Lag, 10), stale,
			orDash(strings.Join(problems, "; ")), st.Updated.Format(time.RFC3339), orDash(labels(st.Labels)),
		})
	}
	return a.table([]string{"INSTANCE", "APPLIED", "LAG", "STALE", "PROBLEMS", "UPDATED", "LABELS"}, rows)
}

// labels formats labels as k=v,k=v, sorted.
func labels(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
