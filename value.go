package confo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// MaxNameLen is the longest namespace or configuration name, in bytes.
const MaxNameLen = 255

// ValidateName reports whether name may name a namespace or a configuration:
// not empty, at most [MaxNameLen] bytes of valid UTF-8, no "/", no NUL or
// other control character, and not "." or "..". The error wraps
// [ErrInvalidName] and says which rule the name breaks. The Manager checks
// every name with it before any I/O.
func ValidateName(name string) error {
	if reason := nameProblem(name); reason != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, reason)
	}
	return nil
}

func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxNameLen:
		return "longer than " + strconv.Itoa(MaxNameLen) + " bytes"
	case name == "." || name == "..":
		return "reserved"
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf { // fast path for ASCII
			switch {
			case c == '/':
				return `contains "/"`
			case c < 0x20 || c == 0x7f:
				return "contains a control character"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			return "not valid UTF-8"
		}
		if unicode.IsControl(r) {
			return "contains a control character"
		}
		i += size
	}
	return ""
}

// validateField checks a field name: any non-empty valid UTF-8 string.
func validateField(field string) error {
	if field == "" {
		return fmt.Errorf("%w %q: empty field", ErrInvalidName, field)
	}
	if !utf8.ValidString(field) {
		return fmt.Errorf("%w %q: field not valid UTF-8", ErrInvalidName, field)
	}
	return nil
}

// normalize turns a caller's configuration into the form Reload produces
// from the store, so that values round-trip with the same Go types: JSON
// objects become map[string]any, arrays []any, numbers int64 when their
// value is a whole number within int64's range, float64 when that holds it
// exactly and json.Number otherwise (see jsonvalue.Number), and strings,
// booleans and nil stay as they are. Structs, typed maps and slices
// are converted as encoding/json marshals them.
func normalize(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		if obj, ok := jsonvalue.Normalize(m); ok { // plain values: no JSON round trip
			return obj, nil
		}
	}
	return normalizeJSON(v)
}

// normalizeJSON is normalize by a round trip through JSON, the path for
// every value jsonvalue.Normalize does not take.
func normalizeJSON(v any) (map[string]any, error) {
	raw, err := encodeValue(v)
	if err != nil {
		return nil, err
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidValue, err)
	}
	return obj, nil
}

// normalizeField normalizes a single field value the same way.
func normalizeField(v any) (any, error) {
	obj, err := normalize(map[string]any{"v": v})
	if err != nil {
		return nil, err
	}
	return obj["v"], nil
}

// encodeValue encodes v as compact JSON with sorted object keys and without
// HTML escaping, so that etcdctl shows what was set.
func encodeValue(v any) ([]byte, error) {
	if m, ok := v.(map[string]any); ok {
		if raw, ok := jsonvalue.AppendObject(nil, m); ok { // normalized values
			return raw, nil
		}
	}
	return encodeValueStd(v)
}

// encodeValueStd is encodeValue with encoding/json: the reference
// jsonvalue.AppendObject is tested against, and the path for other types.
func encodeValueStd(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidValue, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

var errNotObject = errors.New("not a JSON object")

// decodeObject decodes a stored value, which must be exactly one JSON object
// in valid UTF-8, into its normalized form.
func decodeObject(raw []byte) (map[string]any, error) {
	return decodeObjectWith(nil, raw)
}

// decodeObjectWith is decodeObject with the decoder d (nil for a new one),
// which shares the memory of object keys between the values it decodes. The
// fast decoder of package jsonvalue accepts exactly what decodeObjectStd
// accepts and returns the same values (FuzzDecodeObject); on any error the
// value is decoded again with encoding/json, so that the error reported is
// encoding/json's.
func decodeObjectWith(d *jsonvalue.Decoder, raw []byte) (map[string]any, error) {
	if d == nil {
		d = new(jsonvalue.Decoder)
	}
	if obj, err := d.DecodeObject(raw); err == nil {
		return obj, nil
	}
	return decodeObjectStd(raw)
}

// decodeObjectStd is decodeObject with encoding/json, UseNumber and
// normalizeNumbers: the reference the fast decoder is tested against.
func decodeObjectStd(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty value")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	if err := normalizeNumbers(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// normalizeNumbers replaces every json.Number in v, in place.
func normalizeNumbers(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if n, ok := e.(json.Number); ok {
				x, err := number(n)
				if err != nil {
					return err
				}
				v[k] = x
			} else if err := normalizeNumbers(e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if n, ok := e.(json.Number); ok {
				x, err := number(n)
				if err != nil {
					return err
				}
				v[i] = x
			} else if err := normalizeNumbers(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// number converts a JSON number as jsonvalue.Number does: int64, float64
// or, when neither holds it exactly, the json.Number itself.
func number(n json.Number) (any, error) { return jsonvalue.Number(string(n)) }

// copyValue deep-copies a normalized value.
func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyObject(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}

// copyObject deep-copies a normalized object.
func copyObject(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = copyValue(e)
	}
	return out
}

// equalObjects reports whether two normalized objects are equal.
func equalObjects(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !equalValues(x, y) {
			return false
		}
	}
	return true
}

// equalValues reports whether two normalized values are equal.
func equalValues(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		return ok && equalObjects(x, y)
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case nil:
		return y == nil
	case string, bool, int64, float64, json.Number:
		return x == y
	}
	return false
}
