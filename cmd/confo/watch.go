package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
)

func (a *app) watchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "watch NS",
		Short: "Print the changes made to a namespace, as they happen",
		Long: `Print one line per change made to the namespace from now on: the store
revision, put or delete, the configuration's name and its new value as
compact JSON (nothing for a delete). With --json, one JSON object per line.
Runs until interrupted (Ctrl-C, SIGTERM), then exits 0. A slow reader gets
the latest change of each configuration.`,
		Example: `  confo watch database
  confo watch database --json | jq -c 'select(.name == "mysql")'`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns := argv[0]
			if err := checkNames("NS", ns); err != nil {
				return err
			}
			ctx := cmd.Context()
			open, cancel := context.WithTimeout(ctx, a.timeout)
			m, err := a.open(open)
			cancel()
			if err != nil {
				return err
			}
			defer m.Close()
			events, err := m.Watch(ctx, ns)
			if err != nil {
				return err
			}
			for ev := range events {
				if err := a.printEvent(ev); err != nil {
					return err
				}
			}
			if ctx.Err() != nil {
				return nil // interrupted: the normal end
			}
			return errors.New("watch: the store ended the watch")
		},
	}
}

func (a *app) printEvent(ev confo.Event) error {
	if a.json {
		line, err := json.Marshal(struct {
			Revision int64          `json:"revision"`
			Type     string         `json:"type"`
			Name     string         `json:"name"`
			Value    map[string]any `json:"value,omitempty"`
		}{ev.Revision, ev.Type.String(), ev.Name, ev.Value})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", line)
		return err
	}
	if ev.Type == confo.EventDelete {
		_, err := fmt.Fprintf(a.stdout, "%d\t%s\t%s\n", ev.Revision, ev.Type, ev.Name)
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "%d\t%s\t%s\t%s\n", ev.Revision, ev.Type, ev.Name, compact(ev.Value))
	return err
}
