package jsonvalue

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unsafe"
)

// Number converts a JSON number to the normalized value that holds it
// exactly: an int64 when its value is a whole number within int64's range,
// a float64 when float64 holds its decimal value exactly (the shortest
// decimal of the float64 has the same value), and otherwise the text itself
// as a json.Number, so that integers beyond int64 and decimals with more
// digits than float64 keeps are written back as they were read. It returns
// an error for text that is not a JSON number. s may alias memory that
// changes after the call: it is not kept.
func Number(s string) (any, error) {
	if !validNumber(s) {
		return nil, fmt.Errorf("number %s: invalid", strconv.Quote(s))
	}
	return numberOf(s), nil
}

// numberOf is Number for s already known to be a JSON number.
func numberOf(s string) any {
	whole := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || c == 'e' || c == 'E' {
			whole = false
			break
		}
	}
	if whole {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !exact(s, f) {
		return json.Number(strings.Clone(s))
	}
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return f
}

// exact reports whether f, parsed from the JSON number s, has the value of
// s: true for at most 15 significant digits in the normal range (every such
// decimal survives a round trip through float64), false for a number that
// is not zero but underflowed to zero (1e-400), else checked exactly. The
// exact check only runs for a finite non-zero f, whose decimal exponent is
// bounded by the float64 range and the digits of s, so its cost is bounded
// by the length of s.
func exact(s string, f float64) bool {
	digits, leading := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 'e' || c == 'E' {
			break
		}
		if c < '0' || c > '9' || leading && c == '0' {
			continue
		}
		leading = false
		digits++
	}
	a := math.Abs(f)
	switch {
	case a == 0:
		return digits == 0 // 0.0e7 is zero; 1e-400 is not
	case digits <= 15 && a >= 0x1p-1022:
		return true
	}
	var want, got big.Rat
	if _, ok := want.SetString(s); !ok {
		return false
	}
	if _, ok := got.SetString(strconv.FormatFloat(f, 'g', -1, 64)); !ok {
		return false
	}
	return want.Cmp(&got) == 0
}

// validNumber reports whether s is a number in JSON's grammar.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// number decodes the number at p.pos, following the JSON grammar, into an
// int64, a float64 or a json.Number (see Number).
func (p *parser) number() (any, error) {
	data, start := p.data, p.pos
	neg := data[p.pos] == '-'
	if neg {
		p.pos++
	}
	digits := p.pos
	switch {
	case p.pos < len(data) && data[p.pos] == '0':
		p.pos++
	case p.pos < len(data) && data[p.pos] >= '1' && data[p.pos] <= '9':
		for p.pos < len(data) && data[p.pos] >= '0' && data[p.pos] <= '9' {
			p.pos++
		}
	default:
		return nil, p.fail("invalid number")
	}
	whole := true
	if p.pos < len(data) && data[p.pos] == '.' {
		whole = false
		p.pos++
		if !p.digits() {
			return nil, p.fail("invalid number: no digit after '.'")
		}
	}
	if p.pos < len(data) && (data[p.pos] == 'e' || data[p.pos] == 'E') {
		whole = false
		p.pos++
		if p.pos < len(data) && (data[p.pos] == '+' || data[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return nil, p.fail("invalid number: no digit in exponent")
		}
	}
	if whole && p.pos-digits <= 18 { // fits an int64 whatever the digits
		var n int64
		for _, c := range data[digits:p.pos] {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return p.d.internInt(n), nil
	}
	n := numberOf(unsafe.String(&data[start], p.pos-start))
	switch x := n.(type) {
	case int64:
		return p.d.internInt(x), nil
	case float64:
		return p.d.internFloat(x), nil
	}
	return n, nil
}

// internFloat returns f boxed, shared with earlier equal floats.
func (d *Decoder) internFloat(f float64) any {
	bits := math.Float64bits(f)
	if v, ok := d.flts[bits]; ok {
		return v
	}
	var v any = f
	if d.flts == nil {
		d.flts = make(map[uint64]any)
	}
	if len(d.flts) < maxInterned {
		d.flts[bits] = v
	}
	return v
}

func (p *parser) digits() bool {
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}
