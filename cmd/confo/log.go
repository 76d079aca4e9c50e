package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/changelog"
)

// envAuthor names who the command's changes are recorded as.
const envAuthor = "CONFO_AUTHOR"

// defaultAuthor is CONFO_AUTHOR, else the OS user at the host.
func defaultAuthor() string {
	if a := os.Getenv(envAuthor); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return name
	}
	return name + "@" + host
}

// changeFlags adds --author and --message, recorded with each change.
func (a *app) changeFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&a.author, "author", "", "who the change is recorded as (default: env "+envAuthor+", else user@host)")
	f.StringVarP(&a.message, "message", "m", "", "why: recorded with the change (see confo log)")
}

// changeInfo puts the author and message in cmd's context, for the change
// records of what it writes.
func (a *app) changeInfo(cmd *cobra.Command) {
	author := a.author
	if author == "" {
		author = defaultAuthor()
	}
	cmd.SetContext(confo.WithChangeInfo(cmd.Context(), confo.ChangeInfo{Author: author, Message: a.message}))
}

func (a *app) logCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "log NS [NAME]",
		Short: "List the change records of a namespace, or of one configuration",
		Long: `List the change records of namespace NS, newest first: when, who, why, and
which configurations each change wrote (at which revision). Every change
made through the library with the changelog layer, or through this command,
is recorded in the same transaction as the change. Records are kept within
1000 per namespace and 90 days.`,
		Example: `  confo log database
  confo log database mysql
  confo set database mysql port=3307 -m "bigger pool"`,
		Args: args(1, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], ""
			if len(argv) == 2 {
				name = argv[1]
			}
			return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
				b, err := m.Layered(m.GetBackends().Active)
				if err != nil {
					return err
				}
				ms, ok := b.(confo.MetaStore)
				if !ok {
					return fmt.Errorf("log: backend %q keeps no metadata: %w", m.GetBackends().Active, errors.ErrUnsupported)
				}
				records, err := changelog.Records(ctx, ms, ns, name)
				if err != nil {
					return err
				}
				if limit > 0 && len(records) > limit {
					records = records[:limit]
				}
				if a.json {
					type rec struct {
						changelog.Record
						Revision int64 `json:"revision"`
					}
					out := make([]rec, len(records))
					for i, r := range records {
						out[i] = rec{r, r.Revision}
					}
					return a.printJSON(out)
				}
				rows := make([][]string, len(records))
				for i, r := range records {
					var names []string
					for _, w := range r.Configurations {
						n := w.Name
						if w.Deleted {
							n += " (deleted)"
						}
						names = append(names, n)
					}
					author := r.Author
					if author == "" {
						author = "(unknown)"
					}
					rows[i] = []string{r.Time.Local().Format(time.DateTime), strconv.FormatInt(r.Revision, 10), author,
						strings.Join(names, ","), r.Message}
				}
				return a.table([]string{"TIME", "REVISION", "AUTHOR", "CONFIGURATIONS", "MESSAGE"}, rows)
			})
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "show at most this many records")
	return cmd
}
