// Package transfer moves whole namespaces: between a directory of JSON
// files and a store (export, import and the dry run of import, diff), and
// between two stores (copy).
//
// A directory holds one namespace in the file backend's layout for it:
// DIR/<name>.json, one JSON object per file. So DIR may be
// <config_path>/<namespace> of a file backend, or a folder kept in version
// control. Files whose name does not end in ".json", hidden files and
// subdirectories are ignored.
package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/atomicfile"
	"github.com/confo-go/confo/internal/jsonvalue"
)

// Ext ends the name of every configuration file.
const Ext = ".json"

// DefaultBatch is how many configurations Apply persists at a time: etcd's
// default transaction size, so that each step is one transaction there.
const DefaultBatch = 128

// Configs are the configurations of one namespace, by name.
type Configs = map[string]map[string]any

// ReadDir reads every DIR/<name>.json. A file that is not one JSON object,
// or whose name is not a valid configuration name, is an error naming the
// file; nothing is returned then. Files are opened through an [os.Root]
// on DIR: a symbolic link leading out of DIR is an error, never read.
func ReadDir(dir string) (Configs, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read directory: %w", err)
	}
	defer root.Close()
	d, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("read directory: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("read directory: %w", err)
	}
	slices.SortFunc(entries, func(x, y os.DirEntry) int { return strings.Compare(x.Name(), y.Name()) })
	out := make(Configs)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), Ext)
		if !ok || strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := confo.ValidateName(name); err != nil {
			return nil, fmt.Errorf("file %s: %w", path, err)
		}
		raw, err := root.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("read configuration %s: %w", path, err)
		}
		obj, err := Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", path, err)
		}
		out[name] = obj
	}
	return out, nil
}

// Decode decodes one configuration: exactly one JSON object, its numbers
// normalized as [confo.Manager.Set] normalizes them (int64 for whole
// numbers within int64's range, float64 otherwise), so that it compares
// equal to what the store returns.
func Decode(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty: want a JSON object")
		}
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a JSON %s, not an object", kindOf(v))
	}
	x, err := normalize(obj)
	if err != nil {
		return nil, err
	}
	return x.(map[string]any), nil
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// ParseValue reads the VALUE of a FIELD=VALUE argument: JSON when it is
// valid JSON (numbers normalized as Decode does), else the string itself.
func ParseValue(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	if _, err := dec.Token(); err != io.EOF {
		return s
	}
	x, err := normalize(v)
	if err != nil {
		return s
	}
	return x
}

// normalize replaces every json.Number in v by an int64 or float64.
func normalize(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			x, err := normalize(e)
			if err != nil {
				return nil, err
			}
			v[k] = x
		}
	case []any:
		for i, e := range v {
			x, err := normalize(e)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
	case json.Number:
		return jsonvalue.Number(string(v))
	}
	return v, nil
}

// Encode returns a configuration as people read it in a file: indented
// JSON, sorted keys, no HTML escaping, a final newline.
func Encode(obj map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FilePerm and DirPerm are the permission bits (less the umask) of the
// files and directories WriteDir creates: private, since a configuration
// may hold a secret.
const (
	FilePerm fs.FileMode = 0o600
	DirPerm  fs.FileMode = 0o700
)

// WriteDir writes every configuration to DIR/<name>.json, creating DIR
// (with [DirPerm]) if needed; files get [FilePerm]. Files of other names
// are left as they are. Configurations come from a store, which anyone
// with access to it may have written, so every name is checked first with
// [confo.ValidateName]: one that is not valid is an error wrapping
// [confo.ErrInvalidName] naming it, and nothing is written. Files are
// written through an [os.Root] on DIR, so neither a name nor a symbolic
// link planted in DIR leads a write outside it; each goes to a temporary
// file first and is renamed (replacing a link of that name, never
// following it), so a reader never sees half of one.
func WriteDir(dir string, configs Configs) error {
	names := slices.Sorted(maps.Keys(configs))
	for _, name := range names {
		if err := confo.ValidateName(name); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := os.MkdirAll(dir, DirPerm); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer root.Close()
	for _, name := range names {
		raw, err := Encode(configs[name])
		if err != nil {
			return fmt.Errorf("encode %q: %w", name, err)
		}
		if err := atomicfile.WriteIn(root, name+Ext, raw, FilePerm); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, name+Ext), err)
		}
	}
	return nil
}

// Plan is what Apply changes to make a namespace equal a set of
// configurations, each list sorted.
type Plan struct {
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

// Len returns how many configurations the plan touches.
func (p Plan) Len() int { return len(p.Added) + len(p.Changed) + len(p.Removed) }

// Diff returns what turns current into desired: the names only in desired
// (added), in both with different values (changed) and, when prune is set,
// only in current (removed).
func Diff(current, desired Configs, prune bool) Plan {
	p := Plan{Added: []string{}, Changed: []string{}, Removed: []string{}}
	for _, name := range slices.Sorted(maps.Keys(desired)) {
		cur, ok := current[name]
		switch {
		case !ok:
			p.Added = append(p.Added, name)
		case !reflect.DeepEqual(cur, desired[name]):
			p.Changed = append(p.Changed, name)
		}
	}
	if prune {
		for _, name := range slices.Sorted(maps.Keys(current)) {
			if _, ok := desired[name]; !ok {
				p.Removed = append(p.Removed, name)
			}
		}
	}
	return p
}

// Load makes ns the namespace m uses and returns its configurations. With
// create, a missing namespace is created first.
func Load(ctx context.Context, m *confo.Manager, ns string, create bool) (Configs, error) {
	if create {
		if err := m.CreateNamespace(ctx, ns); err != nil {
			return nil, err
		}
	}
	if err := m.UseNamespace(ctx, ns); err != nil {
		return nil, err
	}
	return m.GetAll()
}

// Options tune Apply.
type Options struct {
	// Prune removes the configurations of the namespace that are not in
	// desired.
	Prune bool
	// DryRun computes the plan and changes nothing (the namespace is not
	// created either).
	DryRun bool
	// Batch is how many configurations are persisted at a time; zero
	// means DefaultBatch.
	Batch int
	// Progress, when not nil, is called after each persisted batch with
	// the number of configurations done and the total.
	Progress func(done, total int)
}

// Apply makes namespace ns of m's active backend hold desired (creating
// the namespace if needed): it adds and changes what differs and, with
// Prune, removes what desired lacks, and returns the plan it carried out.
// Changes are persisted in batches, each atomic and guarded by the
// revisions read at the start: a configuration someone else changes
// meanwhile fails that batch with an error wrapping [confo.ErrConflict].
// An error after some batches went through says how many were applied;
// the returned plan is the whole plan.
func Apply(ctx context.Context, m *confo.Manager, ns string, desired Configs, opts Options) (Plan, error) {
	var current Configs
	var err error
	if opts.DryRun {
		current, err = Load(ctx, m, ns, false)
		if errors.Is(err, confo.ErrNamespaceNotFound) {
			current, err = Configs{}, nil
		}
	} else {
		current, err = Load(ctx, m, ns, true)
	}
	if err != nil {
		return Plan{}, err
	}
	plan := Diff(current, desired, opts.Prune)
	if opts.DryRun {
		return plan, nil
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	total, done, pending := plan.Len(), 0, 0
	step := func(name string, change func() error) error {
		if err := change(); err != nil {
			return err
		}
		pending++
		if pending == batch {
			return flush(ctx, m, ns, &done, &pending, total, opts.Progress)
		}
		return nil
	}
	for _, name := range slices.Concat(plan.Added, plan.Changed) {
		if err := step(name, func() error { return m.Set(name, desired[name]) }); err != nil {
			return plan, appliedErr(done, total, err)
		}
	}
	for _, name := range plan.Removed {
		if err := step(name, func() error { return m.Delete(name) }); err != nil {
			return plan, appliedErr(done, total, err)
		}
	}
	if err := flush(ctx, m, ns, &done, &pending, total, opts.Progress); err != nil {
		return plan, appliedErr(done, total, err)
	}
	return plan, nil
}

func flush(ctx context.Context, m *confo.Manager, ns string, done, pending *int, total int, progress func(int, int)) error {
	if *pending == 0 {
		return nil
	}
	if err := m.PersistNamespace(ctx, ns); err != nil {
		return err
	}
	*done += *pending
	*pending = 0
	if progress != nil {
		progress(*done, total)
	}
	return nil
}

func appliedErr(done, total int, err error) error {
	if done == 0 {
		return err
	}
	return fmt.Errorf("%d of %d changes applied before: %w", done, total, err)
}
