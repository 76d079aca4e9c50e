package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/transfer"
)

func (a *app) editCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "edit NS NAME",
		Short: "Edit a configuration in $EDITOR",
		Long: `Open the configuration as indented JSON in $VISUAL or $EDITOR (vi when
neither is set), then write what was saved back to the store, guarded by the
revision read before the editor opened: if someone changed the configuration
in the meantime, nothing is written, the exit status is 3, and the edit is
kept in its temporary file (the message names it) so it is not lost. An
edit that is not a JSON object is refused the same way (exit 1). A missing
configuration starts as {} and is created.`,
		Example: `  confo edit database mysql
  EDITOR="code --wait" confo edit database mysql`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if err := checkNames("NS", argv[0], "NAME", argv[1]); err != nil {
				return err
			}
			return a.edit(cmd, argv[0], argv[1])
		},
	}
}

func (a *app) edit(cmd *cobra.Command, ns, name string) error {
	// The store calls get --timeout each; the editor has all the time it
	// needs.
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	m, err := a.open(ctx)
	if err != nil {
		cancel()
		return err
	}
	defer m.Close()
	err = use(ctx, m, ns, name)
	cancel()
	if err != nil {
		return err
	}
	before, err := m.Get(name)
	if errors.Is(err, confo.ErrConfigNotFound) {
		before, err = map[string]any{}, nil
	}
	if err != nil {
		return err
	}
	raw, err := transfer.Encode(before)
	if err != nil {
		return fmt.Errorf("edit %q: %w", name, err)
	}
	f, err := os.CreateTemp("", "confo-"+ns+"-"+safe(name)+"-*.json")
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	path := f.Name()
	_, werr := f.Write(raw)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("edit: write %s: %w", path, err)
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(path)
		}
	}()

	if err := a.runEditor(cmd.Context(), path); err != nil {
		return err
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("edit: read %s: %w", path, err)
	}
	if bytes.Equal(edited, raw) {
		return a.done(map[string]any{"namespace": ns, "name": name, "action": "unchanged"}, "no change to %q", name)
	}
	after, err := transfer.Decode(edited)
	if err != nil {
		keep = true
		return fmt.Errorf("edit %q: %w; nothing written, your edit is kept in %s", name, err, path)
	}
	if reflect.DeepEqual(after, before) {
		return a.done(map[string]any{"namespace": ns, "name": name, "action": "unchanged"}, "no change to %q", name)
	}
	if err := m.Set(name, after); err != nil {
		keep = true
		return fmt.Errorf("%w; your edit is kept in %s", err, path)
	}
	ctx, cancel = context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	if err := m.PersistConfig(ctx, ns, name); err != nil {
		keep = true
		if errors.Is(err, confo.ErrConflict) {
			return fmt.Errorf("edit %q: changed in the store while you were editing, nothing written (run edit again to start from the new value); your edit is kept in %s: %w", name, path, err)
		}
		return fmt.Errorf("%w; your edit is kept in %s", err, path)
	}
	return a.done(map[string]any{"namespace": ns, "name": name, "action": "edited"}, "saved %q in namespace %q", name, ns)
}

// safe makes name usable in a temporary file's name.
func safe(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '*' || r == os.PathSeparator || r < ' ' {
			return '_'
		}
		return r
	}, name)
}

// runEditor runs $VISUAL or $EDITOR (a command with its arguments,
// separated by spaces) on path, attached to the terminal.
func (a *app) runEditor(ctx context.Context, path string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	argv := strings.Fields(editor)
	c := exec.CommandContext(ctx, argv[0], append(argv[1:], path)...)
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("edit: editor %q: %w", editor, err)
	}
	return nil
}
