package confo

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// current returns the view in use for a read or write, or the error that
// says why there is none.
func (m *Manager) current(op string) (*view, error) {
	v, err := m.inUse()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// inUse returns the view in use, or the sentinel error that says why there
// is none.
func (m *Manager) inUse() (*view, error) {
	rs := m.read.Load()
	switch {
	case rs.closed:
		return nil, ErrClosed
	case rs.backend == "":
		return nil, ErrBackendNotActive
	case rs.view == nil:
		return nil, ErrNamespaceNotLoaded
	}
	return rs.view, nil
}

// ConfigCount returns the number of configurations in the namespace in use,
// counting unsaved changes.
func (m *Manager) ConfigCount() (int, error) {
	v, err := m.current("config count")
	if err != nil {
		return 0, err
	}
	n := 0
	v.each(func(_ string, it *item) bool {
		if it.value != nil {
			n++
		}
		return true
	})
	return n, nil
}

// Set replaces configuration name in the namespace in use with a copy of
// value: a map[string]any, a struct, or any value that encodes to a JSON
// object as encoding/json marshals it (nil means an empty object); anything
// else is [ErrInvalidValue]. Numbers are normalized as Reload would read
// them back: see the package documentation. The change is in memory until
// Persist; setting a configuration to what the store holds is no change.
//
// Set is guarded by the revision the view holds when it is called: if the
// store has changed the configuration since (another writer, seen by a
// watch or not), Persist returns [ErrConflict]. Under [Manager.Watch] the
// view moves between a Get and a Set, so a read-modify-write goes through
// [Manager.Update], or [Manager.GetRevision] and [Manager.SetIf].
//
// It returns [ErrInvalidName], [ErrInvalidValue] (also when a layer such as
// a schema refuses the value), [ErrStale], and [ErrBackendNotActive] or
// [ErrNamespaceNotLoaded] when there is nowhere to set it.
func (m *Manager) Set(name string, value any) error {
	obj, err := m.prepare("set", name, value)
	if err != nil {
		return err
	}
	return m.edit("set", name, nil, func(map[string]any) (map[string]any, error) { return obj, nil })
}

// SetIf is Set guarded by rev, the revision [Manager.GetRevision] returned
// with the value the caller read: if the view's configuration is no longer
// based on rev, it returns [ErrConflict] at once and changes nothing. The
// Persist that follows is guarded by rev too.
func (m *Manager) SetIf(name string, value any, rev int64) error {
	obj, err := m.prepare("set if", name, value)
	if err != nil {
		return err
	}
	return m.edit("set if", name, &rev, func(map[string]any) (map[string]any, error) { return obj, nil })
}

// prepare validates name and normalizes value for Set and SetIf.
func (m *Manager) prepare(op, name string, value any) (map[string]any, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if value == nil {
		return map[string]any{}, nil
	}
	obj, err := normalize(value)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, name, err)
	}
	return obj, nil
}

// GetRevision returns a copy of configuration name of the namespace in use
// with the revision it is based on (0 for one not yet in the store), to
// pass to [Manager.SetIf] once the caller has changed it. It returns
// [ErrConfigNotFound] if there is none.
func (m *Manager) GetRevision(name string) (map[string]any, int64, error) {
	it, err := m.lookup("get revision", name)
	if err != nil {
		return nil, 0, err
	}
	return copyObject(it.value), it.rev, nil
}

// SetField sets one field of configuration name to a copy of value,
// creating the configuration if it does not exist. It is guarded as Set is.
func (m *Manager) SetField(name, field string, value any) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("set field: %w", err)
	}
	if err := validateField(field); err != nil {
		return fmt.Errorf("set field of %q: %w", name, err)
	}
	x, err := normalizeField(value)
	if err != nil {
		return fmt.Errorf("set field %q of %q: %w", field, name, err)
	}
	return m.edit("set field", name, nil, func(old map[string]any) (map[string]any, error) {
		obj := make(map[string]any, len(old)+1)
		maps.Copy(obj, old) // a shallow copy is enough: values are never modified
		obj[field] = x
		return obj, nil
	})
}

// Update changes configuration name of the namespace in use by a
// read-modify-write that cannot lose an update: fn gets a copy of the
// current value (nil when there is none) and returns the new one (nil
// deletes it), and the change is recorded guarded by the revision of the
// value fn saw, atomically with respect to the watch: if another writer
// changed the configuration in the store before the Persist that follows,
// that Persist returns [ErrConflict] instead of overwriting it. fn runs
// with the namespace's lock held: it must be quick and must not call the
// Manager. An error from fn is returned, wrapped, and changes nothing.
func (m *Manager) Update(name string, fn func(old map[string]any) (map[string]any, error)) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if fn == nil {
		return fmt.Errorf("update %q: %w: nil func", name, ErrInvalidValue)
	}
	return m.edit("update", name, nil, func(old map[string]any) (map[string]any, error) {
		var in map[string]any
		if old != nil {
			in = copyObject(old)
		}
		out, err := fn(in)
		if err != nil || out == nil {
			return nil, err
		}
		return normalize(out)
	})
}

// Delete removes configuration name from the namespace in use. The store
// keeps it until Persist. It returns [ErrConfigNotFound] if there is no such
// configuration.
func (m *Manager) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return m.edit("delete", name, nil, func(old map[string]any) (map[string]any, error) {
		if old == nil {
			return nil, ErrConfigNotFound
		}
		return nil, nil
	})
}

// edit applies a local change to the view in use.
func (m *Manager) edit(op, name string, rev *int64, change func(old map[string]any) (map[string]any, error)) error {
	v, err := m.current(fmt.Sprintf("%s %q", op, name))
	if err != nil {
		return err
	}
	if err := v.edit(name, rev, change); err != nil {
		return fmt.Errorf("%s %q in namespace %q: %w", op, name, v.ns, err)
	}
	return nil
}

// Get returns a copy of configuration name in the namespace in use, which
// the caller may change. It returns [ErrConfigNotFound] if there is none,
// and [ErrCorruptValue] (naming the revision) if the stored value is
// quarantined and no good value was seen before it.
func (m *Manager) Get(name string) (map[string]any, error) {
	it, err := m.lookup("get", name)
	if err != nil {
		return nil, err
	}
	return copyObject(it.value), nil
}

// GetField returns one field of configuration name. Objects and arrays are
// returned as copies; a number is an int64, a float64, or a json.Number when
// neither holds its value exactly (see the package documentation). It
// returns [ErrConfigNotFound], [ErrCorruptValue] or [ErrFieldNotFound].
func (m *Manager) GetField(name, field string) (any, error) {
	it, err := m.lookup("get field", name)
	if err != nil {
		return nil, err
	}
	x, ok := it.value[field]
	if !ok {
		return nil, fmt.Errorf("get field %q of %q: %w", field, name, ErrFieldNotFound)
	}
	switch x.(type) {
	case map[string]any, []any:
		return copyValue(x), nil
	}
	return x, nil
}

// GetAll returns a copy of every configuration in the namespace in use, by
// name. Quarantined configurations with no good value are left out (see
// [Manager.Problems]).
func (m *Manager) GetAll() (map[string]map[string]any, error) {
	v, err := m.current("get all")
	if err != nil {
		return nil, err
	}
	all := make(map[string]map[string]any)
	v.each(func(name string, it *item) bool {
		if it.value != nil {
			all[name] = copyObject(it.value)
		}
		return true
	})
	return all, nil
}

// Decode stores configuration name into out, a pointer to a struct or map,
// as encoding/json would (json tags apply), decoding the stored bytes in
// one pass. It returns [ErrConfigNotFound] if there is no such
// configuration, and an error wrapping both [ErrInvalidValue] and
// encoding/json's error (such as a [*json.UnmarshalTypeError]) when the
// configuration does not fit out's type. It is safe for concurrent use.
func (m *Manager) Decode(name string, out any) error {
	it, err := m.lookup("decode", name)
	if err != nil {
		return err
	}
	if err := decodeItem(it, out); err != nil {
		return fmt.Errorf("decode %q: %w", name, err)
	}
	return nil
}

// decodeItem decodes it into out from its stored bytes, or from its value
// encoded when it is a local edit.
func decodeItem(it *item, out any) error {
	raw := it.raw
	if raw == nil {
		var err error
		if raw, err = encodeValue(it.value); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		var bad *json.InvalidUnmarshalError // out is nil or not a pointer: the caller's mistake
		if errors.As(err, &bad) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrInvalidValue, err)
	}
	return nil
}

func (m *Manager) lookup(op, name string) (*item, error) {
	v, err := m.inUse()
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, name, err)
	}
	if it := v.get(name); it != nil && it.value != nil {
		return it, nil
	}
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return configIn(v, op, name)
}

// configIn returns the item of configuration name of v if it has a value,
// else the error that says why not: quarantined, or not found.
func configIn(v *view, op, name string) (*item, error) {
	it := v.get(name)
	switch {
	case it != nil && it.value != nil:
		return it, nil
	case it != nil && it.err != nil:
		return nil, fmt.Errorf("%s: %w", op, it.err)
	}
	return nil, fmt.Errorf("%s %q in namespace %q: %w", op, name, v.ns, ErrConfigNotFound)
}
