package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/schema"
)

// previewing adds --dry-run to a command that writes (set, put, edit,
// import, rollback).
func (a *app) previewing(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().BoolVar(&a.dryRun, "dry-run", false,
		"print the diff of what would be written and whether it is valid; write nothing (exit 1 when invalid)")
	cmd.Example += "\n  confo " + cmd.Name() + " --dry-run ..."
	return cmd
}

// previewLayer is the outermost layer with --dry-run: every Commit prints
// what it would write and its validation result instead of writing.
func (a *app) previewLayer() confo.Layer {
	out := a.stdout
	// What the command prints after its write would describe a write that
	// did not happen: only the preview shows.
	mute := func() { a.stdout = io.Discard }
	return func(b confo.Backend) confo.Backend { return &preview{Backend: b, out: out, mute: mute} }
}

// preview is a Backend whose Commit writes nothing (see previewLayer).
type preview struct {
	confo.Backend
	out  io.Writer
	mute func()
}

var (
	_ confo.Historian    = (*preview)(nil)
	_ confo.BatchLimiter = (*preview)(nil)
	_ confo.Unwrapper    = (*preview)(nil)
)

func (p *preview) Unwrap() confo.Backend { return p.Backend }

func (p *preview) BatchLimits() confo.BatchLimits {
	if l, ok := p.Backend.(confo.BatchLimiter); ok {
		return l.BatchLimits()
	}
	return confo.BatchLimits{}
}

func (p *preview) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	h, ok := p.Backend.(confo.Historian)
	if !ok {
		return nil, fmt.Errorf("history of %q in namespace %q: %w", name, ns, errors.ErrUnsupported)
	}
	return h.History(ctx, ns, name, limit)
}

func (p *preview) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	h, ok := p.Backend.(confo.Historian)
	if !ok {
		return confo.Version{}, 0, fmt.Errorf("version of %q in namespace %q: %w", name, ns, errors.ErrUnsupported)
	}
	return h.Version(ctx, ns, name, rev)
}

// Commit prints the diff of each op against the store, validates each put
// against its schema, and writes nothing. It fails with the validation
// errors when a put is invalid, and otherwise reports success with made-up
// revisions (the process ends without writing).
func (p *preview) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	snap, err := p.Backend.Load(ctx, ns)
	if err != nil {
		return nil, err
	}
	checker := schema.Of(p.Backend)
	var invalid []error
	revs := make([]int64, len(ops))
	for i, op := range ops {
		cur, exists := snap.Entries[op.Name]
		var before, after map[string]any
		if exists {
			before, _ = decodeObject(cur.Value)
		}
		if op.Value != nil {
			after, _ = decodeObject(op.Value)
			revs[i] = snap.Revision + 1
		}
		fmt.Fprint(p.out, fieldDiff(op.Name, fmt.Sprintf("store, revision %d", cur.Revision), "would be written", before, after, exists, op.Value != nil))
		if op.Value == nil || checker == nil {
			continue
		}
		if _, err := checker.CheckValue(ns, op.Name, after); err != nil {
			fmt.Fprintln(p.out, invalidText(err))
			invalid = append(invalid, err)
		} else if c, _ := checker.List(ctx, ns); len(c) > 0 {
			fmt.Fprintf(p.out, "valid: %q matches its schema\n", op.Name)
		}
	}
	if len(invalid) > 0 {
		return nil, fmt.Errorf("dry run, nothing written: %w", errors.Join(invalid...))
	}
	fmt.Fprintf(p.out, "dry run, nothing written to namespace %q\n", ns)
	p.mute()
	return revs, nil
}

// decodeObject decodes a stored configuration, numbers as json.Number.
func decodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var obj map[string]any
	err := d.Decode(&obj)
	return obj, err
}

// fieldDiff shows the fields of a configuration that differ between
// before and after: "-" removed or old, "+" added or new.
func fieldDiff(name, fromLabel, toLabel string, before, after map[string]any, existed, exists bool) string {
	var b bytes.Buffer
	if !existed {
		fromLabel = "absent"
	}
	if !exists {
		toLabel = "deleted"
	}
	fmt.Fprintf(&b, "--- %s (%s)\n+++ %s (%s)\n", name, fromLabel, name, toLabel)
	keys := slices.Sorted(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	same := 0
	for _, k := range keys {
		old, had := before[k]
		cur, has := after[k]
		o, c := compact(old), compact(cur)
		switch {
		case had && has && o == c:
			same++
		case had && has:
			fmt.Fprintf(&b, "- %s: %s\n+ %s: %s\n", k, o, k, c)
		case had:
			fmt.Fprintf(&b, "- %s: %s\n", k, o)
		default:
			fmt.Fprintf(&b, "+ %s: %s\n", k, c)
		}
	}
	if same > 0 {
		fmt.Fprintf(&b, "  (%d fields unchanged)\n", same)
	}
	return b.String()
}
