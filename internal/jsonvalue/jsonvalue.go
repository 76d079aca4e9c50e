// Package jsonvalue decodes a stored configuration, one JSON object, into
// the normalized Go values the Manager keeps: map[string]any for objects,
// []any for arrays, string, bool, nil, and for numbers int64 when the value
// is a whole number within int64's range, float64 when float64 holds the
// decimal value exactly, and json.Number (the text) otherwise (see Number).
//
// It accepts exactly what encoding/json accepts for one object followed by
// nothing but white space, in valid UTF-8, and produces the values
// encoding/json with UseNumber and the Manager's number rule produce. The
// Manager still treats any error here as "ask encoding/json", so that the
// errors it reports stay those of encoding/json; the differential fuzz test
// of package confo holds the two to the same results.
package jsonvalue

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays decoded; deeper
// values are an error (encoding/json's own limit is 10000).
const MaxDepth = 1000

// maxInterned bounds the keys, and again the values, one Decoder shares;
// maxInternedLen bounds the length of the string values it shares.
const (
	maxInterned    = 4096
	maxInternedLen = 32
)

var (
	errInvalidUTF8 = errors.New("not valid UTF-8")
	errEmpty       = errors.New("empty value")
	errNotObject   = errors.New("not a JSON object")
	errTrailing    = errors.New("data after the JSON object")
	errDepth       = errors.New("nested too deep")
)

// ErrRange is wrapped by the error for a number beyond float64's range.
var ErrRange = errors.New("number out of range")

// SyntaxError is a violation of the JSON grammar at byte Offset.
type SyntaxError struct {
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.msg) }

// Decoder decodes objects, sharing the memory of the object keys they have
// in common (many configurations have the same field names) and of short
// string values and integers that repeat (regions, ports, flags). Values are
// never modified once decoded, so sharing is safe. The zero value is ready
// to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	keys  map[string]string
	strs  map[string]any // boxed short string values
	ints  map[int64]any  // boxed integers
	flts  map[uint64]any // boxed floats, by their bits
	arrs  map[string]any // boxed short arrays of scalars, by their text
	stack []any          // elements of the arrays being decoded
	buf   []byte         // unescaped string being decoded
}

// DecodeObject decodes data, which must be exactly one JSON object in valid
// UTF-8, optionally surrounded by white space.
func DecodeObject(data []byte) (map[string]any, error) {
	var d Decoder
	return d.DecodeObject(data)
}

// DecodeObject decodes data as the package-level DecodeObject does.
func (d *Decoder) DecodeObject(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, errInvalidUTF8
	}
	p := parser{data: data, d: d}
	p.space()
	if p.pos == len(data) {
		return nil, errEmpty
	}
	if data[p.pos] != '{' {
		return nil, errNotObject
	}
	obj, err := p.object()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(data) {
		return nil, errTrailing
	}
	return obj, nil
}

// parser is the state of one DecodeObject.
type parser struct {
	data  []byte
	pos   int
	depth int
	d     *Decoder
}

func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.pos, msg: msg} }

// space skips JSON white space.
func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value decodes the value at p.pos, after white space.
func (p *parser) value() (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.string(false)
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.fail("invalid character looking for beginning of value")
}

func (p *parser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.fail("invalid literal")
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return errDepth
	}
	return nil
}

// object decodes the object at p.pos, which is '{'.
func (p *parser) object() (map[string]any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++
	obj := make(map[string]any)
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return obj, nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a string key")
		}
		key, err := p.string(true)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':' after object key")
		}
		p.pos++
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		obj[key.(string)] = v
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of input in object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.space()
		case '}':
			p.pos++
			p.depth--
			return obj, nil
		default:
			return nil, p.fail("expected ',' or '}' after object value")
		}
	}
}

// array decodes the array at p.pos, which is '['. Its elements gather on
// the decoder's stack, so the slice is allocated once, at its final size.
// A short array of scalars is shared with earlier arrays of the same text.
func (p *parser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	start := p.pos
	p.pos++
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}, nil
	}
	base := len(p.d.stack)
	defer func() {
		clear(p.d.stack[base:])
		p.d.stack = p.d.stack[:base]
	}()
	scalars := true
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		switch v.(type) {
		case map[string]any, []any:
			scalars = false
		}
		p.d.stack = append(p.d.stack, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of input in array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.space()
		case ']':
			p.pos++
			p.depth--
			if !scalars || p.pos-start > maxInternedLen*2 {
				return append([]any(nil), p.d.stack[base:]...), nil
			}
			text := p.data[start:p.pos]
			if v, ok := p.d.arrs[string(text)]; ok {
				return v, nil
			}
			var v any = append([]any(nil), p.d.stack[base:]...)
			if p.d.arrs == nil {
				p.d.arrs = make(map[string]any)
			}
			if len(p.d.arrs) < maxInterned {
				p.d.arrs[string(text)] = v
			}
			return v, nil
		default:
			return nil, p.fail("expected ',' or ']' after array element")
		}
	}
}

// string decodes the string at p.pos, which is '"'. Keys are interned.
// It returns an any so that a string value is boxed once.
func (p *parser) string(key bool) (any, error) {
	p.pos++
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			b := p.data[start:p.pos]
			p.pos++
			if key {
				return p.d.intern(b), nil
			}
			return p.d.internValue(b), nil
		case c == '\\':
			return p.escaped(start, key)
		case c < 0x20:
			return nil, p.fail("invalid control character in string")
		}
		p.pos++
	}
	return nil, p.fail("unexpected end of input in string")
}

// escaped finishes a string that has an escape at p.pos, unescaping it as
// encoding/json does (an invalid UTF-16 surrogate becomes U+FFFD).
func (p *parser) escaped(start int, key bool) (any, error) {
	buf := append(p.d.buf[:0], p.data[start:p.pos]...)
	defer func() { p.d.buf = buf[:0] }()
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if key {
				return p.d.intern(buf), nil
			}
			return p.d.internValue(buf), nil
		case c < 0x20:
			return nil, p.fail("invalid control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		// An escape.
		if p.pos+1 >= len(p.data) {
			return nil, p.fail("unexpected end of input in string escape")
		}
		switch e := p.data[p.pos+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := hex4(p.data[p.pos+2:])
			if r < 0 {
				return nil, p.fail("invalid \\u escape")
			}
			p.pos += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					r2 = hex4(p.data[p.pos+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					p.pos += 6
					r = dec
				} else {
					r = unicode.ReplacementChar
				}
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return nil, p.fail("invalid escape in string")
		}
		p.pos += 2
	}
	return nil, p.fail("unexpected end of input in string")
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// intern returns b as a string, shared with earlier equal keys.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.keys == nil {
		d.keys = make(map[string]string)
	}
	if len(d.keys) < maxInterned {
		d.keys[s] = s
	}
	return s
}

// internValue returns b as a boxed string, shared with earlier equal short
// values.
func (d *Decoder) internValue(b []byte) any {
	if len(b) > maxInternedLen {
		return string(b)
	}
	if v, ok := d.strs[string(b)]; ok {
		return v
	}
	var v any = string(b)
	if d.strs == nil {
		d.strs = make(map[string]any)
	}
	if len(d.strs) < maxInterned {
		d.strs[v.(string)] = v
	}
	return v
}

// internInt returns n boxed, shared with earlier equal integers.
func (d *Decoder) internInt(n int64) any {
	if n >= 0 && n < 256 {
		return n // boxing these costs nothing
	}
	if v, ok := d.ints[n]; ok {
		return v
	}
	var v any = n
	if d.ints == nil {
		d.ints = make(map[int64]any)
	}
	if len(d.ints) < maxInterned {
		d.ints[n] = v
	}
	return v
}
