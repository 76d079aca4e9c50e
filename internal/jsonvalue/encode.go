package jsonvalue

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxCopyDepth bounds the nesting Normalize and AppendObject follow: the
// same as DecodeObject's. Deeper values (or cycles) make them report false,
// and the caller falls back to encoding/json, which reports the error.
const maxCopyDepth = MaxDepth

// Normalize returns the normalized copy of obj that encoding it with
// encoding/json and decoding it with DecodeObject would return, without
// encoding it, when every value in obj is of a plain type: map[string]any,
// []any, string and keys in valid UTF-8, bool, nil, the integer types, and
// finite float64. It reports false for anything else (structs, float32,
// json.Number, typed maps, invalid UTF-8, NaN, cycles, ...), which the
// caller must normalize through encoding/json.
func Normalize(obj map[string]any) (map[string]any, bool) {
	if obj == nil {
		return nil, false
	}
	out, ok := normalizeValue(obj, 0)
	if !ok {
		return nil, false
	}
	return out.(map[string]any), true
}

func normalizeValue(v any, depth int) (any, bool) {
	if depth > maxCopyDepth {
		return nil, false
	}
	// Values already in normalized form are returned as the interface they
	// came in, so that they are not boxed again.
	switch x := v.(type) {
	case nil, bool, int64:
		return v, true
	case string:
		return v, utf8.ValidString(x)
	case float64:
		// encoding/json writes the shortest text that reads back exactly,
		// so through JSON only the number rule applies.
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
			return v, true
		}
		return int64(x), true
	}
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case int16:
		return int64(v), true
	case int8:
		return int64(v), true
	case json.Number:
		x, err := Number(string(v))
		return x, err == nil
	case uint:
		return uintValue(uint64(v))
	case uint64:
		return uintValue(v)
	case uint32:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint8:
		return int64(v), true
	case map[string]any:
		if v == nil {
			return nil, true // encodes as null
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if !utf8.ValidString(k) {
				return nil, false
			}
			x, ok := normalizeValue(e, depth+1)
			if !ok {
				return nil, false
			}
			out[k] = x
		}
		return out, true
	case []any:
		if v == nil {
			return nil, true // encodes as null
		}
		out := make([]any, len(v))
		for i, e := range v {
			x, ok := normalizeValue(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = x
		}
		return out, true
	}
	return nil, false
}

// uintValue is what a uint64 becomes through JSON: int64 when it fits,
// else what Number makes of its digits (a float64 when that writes the same
// digits back, a json.Number otherwise).
func uintValue(u uint64) (any, bool) {
	if u <= math.MaxInt64 {
		return int64(u), true
	}
	x, err := Number(strconv.FormatUint(u, 10))
	return x, err == nil
}

// AppendObject appends obj encoded as encoding/json encodes it with HTML
// escaping off (object keys sorted, compact), when obj holds only
// normalized values: map[string]any, []any, string, bool, nil, int64 and
// finite float64. It reports false for anything else, leaving buf's
// contents past its length undefined; the caller then encodes with
// encoding/json.
func AppendObject(buf []byte, obj map[string]any) ([]byte, bool) {
	e := encoder{buf: buf}
	if !e.value(obj, 0) {
		return buf, false
	}
	return e.buf, true
}

type encoder struct {
	buf  []byte
	keys []string // sorted keys of the objects being encoded, stacked
}

func (e *encoder) value(v any, depth int) bool {
	if depth > maxCopyDepth {
		return false
	}
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.string(v)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case float64:
		return e.float(v)
	case json.Number:
		if !validNumber(string(v)) {
			return false
		}
		e.buf = append(e.buf, v...)
	case map[string]any:
		if v == nil {
			e.buf = append(e.buf, "null"...)
			return true
		}
		base := len(e.keys)
		for k := range v {
			e.keys = append(e.keys, k)
		}
		keys := e.keys[base:]
		slices.Sort(keys)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.string(k)
			e.buf = append(e.buf, ':')
			if !e.value(v[k], depth+1) {
				return false
			}
		}
		e.buf = append(e.buf, '}')
		clear(e.keys[base:])
		e.keys = e.keys[:base]
	case []any:
		if v == nil {
			e.buf = append(e.buf, "null"...)
			return true
		}
		e.buf = append(e.buf, '[')
		for i, x := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if !e.value(x, depth+1) {
				return false
			}
		}
		e.buf = append(e.buf, ']')
	default:
		return false
	}
	return true
}

// float appends f as encoding/json's float64 encoder does.
func (e *encoder) float(f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.buf = strconv.AppendFloat(e.buf, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(e.buf)
		if n >= 4 && e.buf[n-4] == 'e' && e.buf[n-3] == '-' && e.buf[n-2] == '0' {
			e.buf[n-2] = e.buf[n-1]
			e.buf = e.buf[:n-1]
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// string appends s quoted as encoding/json quotes it without HTML escaping:
// invalid UTF-8 becomes \ufffd, U+2028 and U+2029 are escaped.
func (e *encoder) string(s string) {
	b := append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	e.buf = append(b, '"')
}
