package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo/internal/credential"
)

// version returns the command's version from its build information: the
// module version ("v1.2.0" for go install ...@v1.2.0, "(devel)" for a
// build in the repository), with the VCS revision and time when the build
// recorded them.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: built without module information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += fmt.Sprintf(" (%s %s%s)", rev, at, dirty)
	}
	return v + ", " + info.GoVersion
}

// helpCommand replaces cobra's help command, which prints a note and exits
// 0 for an unknown topic: here that is a usage error (exit 2), with the
// nearest command suggested.
func (a *app) helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application.",
		RunE: func(cmd *cobra.Command, topic []string) error {
			root := cmd.Root()
			target, rest, err := root.Find(topic)
			if err != nil || target == nil || len(rest) > 0 {
				name := strings.Join(topic, " ")
				msg := fmt.Sprintf("help: unknown command %q", name)
				if len(topic) > 0 {
					if s := suggest(root, topic[0]); s != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", s)
					}
				}
				return usagef("%s", msg)
			}
			target.InitDefaultHelpFlag()
			target.InitDefaultVersionFlag()
			return target.Help()
		},
	}
}

// suggest returns the subcommand of cmd nearest to typed, "" when none is
// close: the closest of cobra's suggestions, which come in the order the
// commands were added ("sett" is "set", not "get").
func suggest(cmd *cobra.Command, typed string) string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	s := cmd.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	if near := credential.Nearest(typed, s); near != "" {
		return near
	}
	return s[0]
}
