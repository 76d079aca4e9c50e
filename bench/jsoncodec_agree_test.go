package bench

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bytedance/sonic"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// decodeInputs are stored values at the edges of what Confo accepts.
var decodeInputs = []string{
	`{}`, " \t\r\n{ } \n", `{"a":1}`, `{"a":-0}`, `{"a":-0.0}`, `{"a":2.5}`, `{"a":1e2}`, `{"a":1E-2}`,
	`{"a":1e-400}`, `{"a":9007199254740993}`, `{"a":-9007199254740993}`, `{"a":9223372036854775807}`,
	`{"a":-9223372036854775808}`, `{"a":9223372036854775808}`, `{"a":12345678901234567890}`, `{"a":1e21}`,
	`{"a":0.1}`, `{"a":123456789.123456789}`, `{"a":[-12345678901234567890.5e-3]}`, `{"a":-1e-400}`, `{"a":5e-324}`, `{"a":1.7976931348623157e308}`,
	`{"a":true,"b":false,"c":null}`, `{"a":[],"b":[1,"x",[null]],"c":{"d":{}}}`, `{"a":1,"a":2}`,
	`{"a":"\"\\\/\b\f\n\r\t"}`, `{"\u0061\u00e9":"\u20ac"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\ud800"}`,
	`{"a":"\ud800\u0041"}`, `{"a":"\udc00\ud800\udc00"}`, `{"a":"\u0000"}`, "{\"a\":\"é\u2028\x7f\"}",
	// refused by Confo
	``, ` `, `[]`, `1`, `"a"`, `null`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
	`{"a":[1,]}`, `{"a":[,1]}`, `{"a":tru}`, `{"a":True}`, `{'a':1}`, `{a:1}`, `{"a":1}x`, `{"a":1}{}`,
	"\ufeff{}", "\v{}", `{"a":01}`, `{"a":.5}`, `{"a":5.}`, `{"a":-}`, `{"a":+1}`, `{"a":1e}`,
	`{"a":0x1}`, `{"a":1e400}`, `{"a":"\x"}`, `{"a":"\'"}`, `{"a":"\u12G4"}`, `{"a":"\u12"}`,
	"{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{\"a\xc3\":1}", `{"a":"x`, `{"a":[`,
	`{"a":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}`,
}

// encodeInputs are normalized values at the edges of what Persist encodes.
var encodeInputs = []map[string]any{
	{"f": 1e21}, {"f": 1e20 + 1}, {"f": 1e-6}, {"f": 1e-7}, {"f": 0.1}, {"f": -0.5}, {"f": 123456789.125},
	{"f": 5e-324}, {"f": 1.7976931348623157e308}, {"f": 1.0 / 3}, {"f": 9.223372036854776e18},
	{"i": int64(-9223372036854775808)}, {"i": int64(9223372036854775807)},
	{"n": json.Number("12345678901234567890"), "d": json.Number("0.1000000000000000000001"), "e": json.Number("1e400")},
	{"s": "<&>"}, {"s": "\u2028\u2029"}, {"s": "\x00\x1f\x7f"}, {"s": "é😀"}, {"s": "\"\\/"}, {"s": "\b\f\n\r\t"},
	{"b": "z", "B": int64(1), "a": nil, "é": true, "😀": false, "\uffff": int64(2), "": int64(3)},
	{"m": map[string]any{}, "l": []any{}, "n": map[string]any{"x": []any{map[string]any{"y": nil}}}},
}

// needsExact reports whether v holds a number that reading through float64
// loses: an integer beyond 2^53 or a json.Number.
func needsExact(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if needsExact(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if needsExact(e) {
				return true
			}
		}
	case int64:
		return v > 1<<53 || v < -(1<<53)
	case json.Number:
		return true
	}
	return false
}

// TestCodecsAgree holds each codec to jsonvalue on the edge inputs: the
// same values or both an error when decoding (but for the numbers that the
// codecs which are not exact cannot read), and the same bytes when
// encoding, or, for a codec that escapes otherwise, bytes that decode to the
// same values.
func TestCodecsAgree(t *testing.T) {
	if sonic.APIKind != sonic.UseSonicJSON {
		t.Errorf("sonic falls back to encoding/json on this platform")
	}
	for _, c := range codecs {
		if c.newDecoder != nil {
			for _, in := range decodeInputs {
				want, werr := jsonvalue.DecodeObject([]byte(in))
				got, gerr := c.newDecoder()([]byte(in))
				switch {
				case werr == nil && !c.exact && needsExact(want):
					t.Logf("%s decode %s: %#v, %v (not exact)", c.lib, in, got["a"], gerr)
				case werr != nil && gerr == nil:
					t.Errorf("%s decode %q: accepts (%.80v); jsonvalue: %v", c.lib, in, got, werr)
				case werr == nil && gerr != nil:
					t.Errorf("%s decode %q: %v; jsonvalue: %.80v", c.lib, in, gerr, want)
				case werr == nil && !reflect.DeepEqual(got, want):
					t.Errorf("%s decode %q: %#v; jsonvalue: %#v", c.lib, in, got, want)
				}
			}
		}
		if c.encode != nil {
			for _, in := range encodeInputs {
				want, ok := jsonvalue.AppendObject(nil, in)
				if !ok {
					t.Fatalf("jsonvalue cannot encode %v", in)
				}
				got, err := c.encode(in)
				if err != nil {
					t.Errorf("%s encode %v: %v", c.lib, in, err)
					continue
				}
				if bytes.Equal(got, want) {
					continue
				}
				if back, err := jsonvalue.DecodeObject(got); c.escapes == "" || err != nil || !reflect.DeepEqual(back, in) {
					t.Errorf("%s encode %v: %s; jsonvalue: %s", c.lib, in, got, want)
					continue
				}
				t.Logf("%s encode: %s; jsonvalue: %s (%s)", c.lib, got, want, c.escapes)
			}
		}
	}
}
