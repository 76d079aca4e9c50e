package main

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
)

func (a *app) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history NS NAME",
		Short: "List the versions of a configuration the store still keeps",
		Long: `List the versions of a configuration the store still keeps, newest first:
on etcd, the key's revisions back to the cluster's last compaction. Stores
without history (file, zookeeper, redis, database) report that they keep
none. Each version shows the author and message of the change record that
wrote it, "-" when there is none (written before the records, or by other
means; see confo log).`,
		Example: `  confo history database mysql
  confo history database mysql --json`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			if err := checkNames("NS", ns, "NAME", name); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				versions, err := m.History(ctx, ns, name)
				if err != nil {
					return err
				}
				if a.json {
					type version struct {
						Revision int64          `json:"revision"`
						Deleted  bool           `json:"deleted,omitempty"`
						Value    map[string]any `json:"value,omitempty"`
						Error    string         `json:"error,omitempty"`
						Author   string         `json:"author,omitempty"` // who changed it, and why: the change record
						Message  string         `json:"message,omitempty"`
						Time     *time.Time     `json:"time,omitempty"`
					}
					out := make([]version, len(versions))
					for i, v := range versions {
						out[i] = version{Revision: v.Revision, Deleted: v.Deleted, Value: v.Value, Author: v.Author, Message: v.Message}
						if !v.Time.IsZero() {
							out[i].Time = &v.Time
						}
						if v.Err != nil {
							out[i].Error = v.Err.Error()
						}
					}
					return a.printJSON(out)
				}
				rows := make([][]string, len(versions))
				for i, v := range versions {
					value := compact(v.Value)
					switch {
					case v.Deleted:
						value = "(deleted)"
					case v.Err != nil:
						value = "(not a JSON object)"
					}
					rows[i] = []string{strconv.FormatInt(v.Revision, 10), orDash(v.Author), orDash(v.Message), value}
				}
				return a.table([]string{"REVISION", "AUTHOR", "MESSAGE", "VALUE"}, rows)
			})
		},
	}
}

func (a *app) rollbackCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback NS NAME REV",
		Short: "Write an earlier version of a configuration back as the current one",
		Long: `Write the version of a configuration written at revision REV (one that
history lists) back to the store as a new revision. The write is guarded: if
someone changes the configuration meanwhile, nothing is written and the exit
status is 3. Rolling back to a deletion deletes the configuration.`,
		Example: `  confo history database mysql
  confo rollback database mysql 42`,
		Args: args(3, 3),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			if err := checkNames("NS", ns, "NAME", name); err != nil {
				return err
			}
			rev, err := strconv.ParseInt(argv[2], 10, 64)
			if err != nil || rev <= 0 {
				return usagef("rollback: REV %q: want a positive revision number (see confo history)", argv[2])
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				if err := m.Rollback(ctx, ns, name, rev); err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "name": name, "action": "rolled back", "revision": rev},
					"rolled back %q in namespace %q to revision %d", name, ns, rev)
			})
		},
	}
}
