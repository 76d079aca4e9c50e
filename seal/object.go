package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// member is one key of a configuration with its raw JSON value, as stored.
type member struct {
	key string
	raw []byte
}

// parseObject splits a stored configuration into its members, in order,
// keeping every value's bytes as they are.
func parseObject(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("not a JSON object")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		out = append(out, member{key: key, raw: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// encodeObject joins members back into a compact JSON object, in order.
func encodeObject(ms []member) []byte {
	n := 2
	for _, m := range ms {
		n += len(m.key) + len(m.raw) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendKey(out, m.key)
		out = append(out, ':')
		out = append(out, m.raw...)
	}
	return append(out, '}')
}

func appendKey(out []byte, key string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(key) // a string always encodes
	return append(out, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}

// compact returns raw without insignificant space, for comparing values.
func compact(raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
