package jsonvalue_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/jsonvalue"
)

func TestDecodeObject(t *testing.T) {
	for in, want := range map[string]map[string]any{
		`{}`:                         {},
		" \t\r\n{ } \n":              {},
		`{"a":1}`:                    {"a": int64(1)},
		`{"a":-0}`:                   {"a": int64(0)},
		`{"a":-0.0}`:                 {"a": int64(0)},
		`{"a":2.5}`:                  {"a": 2.5},
		`{"a":1e2}`:                  {"a": int64(100)},
		`{"a":1E-2}`:                 {"a": 0.01},
		`{"a":1e-400}`:               {"a": json.Number("1e-400")},
		`{"a":-1e-400}`:              {"a": json.Number("-1e-400")},
		`{"a":0.0e-400}`:             {"a": int64(0)},
		`{"a":9223372036854775807}`:  {"a": int64(math.MaxInt64)},
		`{"a":9223372036854775808}`:  {"a": json.Number("9223372036854775808")},
		`{"a":12345678901234567890}`: {"a": json.Number("12345678901234567890")},
		`{"a":-9223372036854775809}`: {"a": json.Number("-9223372036854775809")},
		`{"a":1e400}`:                {"a": json.Number("1e400")},
		`{"a":0.1000000000000000055511151231257827}`: {"a": json.Number("0.1000000000000000055511151231257827")},
		`{"a":1.10}`:                    {"a": 1.1},
		`{"a":1.00000000000000000001}`:  {"a": json.Number("1.00000000000000000001")},
		`{"a":1e3}`:                     {"a": int64(1000)},
		`{"a":123456789012345.6}`:       {"a": 123456789012345.6},
		`{"a":-9223372036854775808}`:    {"a": int64(math.MinInt64)},
		`{"a":1e21}`:                    {"a": 1e21},
		`{"a":true,"b":false,"c":null}`: {"a": true, "b": false, "c": nil},
		`{"a":[],"b":[1,"x",[null]],"c":{"d":{}}}`: {
			"a": []any{}, "b": []any{int64(1), "x", []any{nil}}, "c": map[string]any{"d": map[string]any{}},
		},
		`{"a":1,"a":2}`:              {"a": int64(2)},
		`{"a":"\"\\\/\b\f\n\r\t"}`:   {"a": "\"\\/\b\f\n\r\t"},
		`{"\u0061\u00e9":"\u20ac"}`:  {"aé": "€"},
		`{"a":"\ud83d\ude00"}`:       {"a": "😀"},
		`{"a":"\ud800"}`:             {"a": "\ufffd"},
		`{"a":"\ud800\u0041"}`:       {"a": "\ufffdA"},
		`{"a":"\udc00\ud800\udc00"}`: {"a": "\ufffd𐀀"},
		`{"a":"\u0000"}`:             {"a": "\x00"},
		"{\"a\":\"é\u2028\x7f\"}":    {"a": "é\u2028\x7f"},
	} {
		got, err := jsonvalue.DecodeObject([]byte(in))
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
}

func TestDecodeObjectRefuses(t *testing.T) {
	for _, in := range []string{
		``, ` `, `[]`, `1`, `"a"`, `null`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
		`{"a":[1,]}`, `{"a":[,1]}`, `{"a":tru}`, `{"a":True}`, `{'a':1}`, `{a:1}`, `{"a":1}x`, `{"a":1}{}`,
		"\ufeff{}", "\v{}", `{"a":01}`, `{"a":.5}`, `{"a":5.}`, `{"a":-}`, `{"a":+1}`, `{"a":1e}`,
		`{"a":0x1}`, `{"a":"\x"}`, `{"a":"\'"}`, `{"a":"\u12G4"}`, `{"a":"\u12"}`,
		"{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{\"a\xc3\":1}", `{"a":"x`, `{"a":[`,
		`{"a":` + strings.Repeat("[", jsonvalue.MaxDepth) + strings.Repeat("]", jsonvalue.MaxDepth) + `}`,
	} {
		got, err := jsonvalue.DecodeObject([]byte(in))
		assert.Error(t, err, "%q", in)
		assert.Nil(t, got, "%q", in)
	}
}

func TestDecoderSharesKeys(t *testing.T) {
	var d jsonvalue.Decoder
	a, err := d.DecodeObject([]byte(`{"host":"a","port":1}`))
	require.NoError(t, err)
	b, err := d.DecodeObject([]byte(`{"port":2,"host":"b"}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "a", "port": int64(1)}, a)
	assert.Equal(t, map[string]any{"host": "b", "port": int64(2)}, b)
	key := func(m map[string]any, k string) *byte {
		for mk := range m {
			if mk == k {
				return unsafe.StringData(mk)
			}
		}
		return nil
	}
	assert.Same(t, key(a, "host"), key(b, "host"), "one copy of each key")
}

func TestNormalize(t *testing.T) {
	got, ok := jsonvalue.Normalize(map[string]any{
		"i": 1, "i8": int8(-2), "u": uint(3), "u64": uint64(math.MaxUint64), "f": 2.0, "g": 2.5,
		"s": "x", "b": true, "n": nil, "l": []any{1, []any(nil)}, "m": map[string]any{"k": map[string]any(nil)},
	})
	require.True(t, ok)
	assert.Equal(t, map[string]any{
		"i": int64(1), "i8": int64(-2), "u": int64(3), "u64": json.Number("18446744073709551615"), "f": int64(2), "g": 2.5,
		"s": "x", "b": true, "n": nil, "l": []any{int64(1), nil}, "m": map[string]any{"k": nil},
	}, got)

	cycle := map[string]any{}
	cycle["self"] = cycle
	for name, v := range map[string]map[string]any{
		"struct":          {"a": struct{}{}},
		"float32":         {"a": float32(1)},
		"bad json.Number": {"a": json.Number("1x")},
		"typed map":       {"a": map[string]int{}},
		"bad UTF-8":       {"a\xff": 1},
		"bad value":       {"a": "\xff"},
		"NaN":             {"a": math.NaN()},
		"Inf":             {"a": math.Inf(-1)},
		"cycle":           cycle,
	} {
		_, ok := jsonvalue.Normalize(v)
		assert.False(t, ok, name)
	}
}

func TestAppendObject(t *testing.T) {
	obj := map[string]any{
		"b": []any{int64(1), 2.5, "x", nil, true, map[string]any{}},
		"a": "<&>\"\\\b\f\n\r\t\x01\x7f\u2028\u2029é\xff",
		"c": 1e21, "d": 1e-7, "e": -0.000001, "f": 123456.789,
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(obj))
	got, ok := jsonvalue.AppendObject(nil, obj)
	require.True(t, ok)
	assert.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(got))

	for _, v := range []map[string]any{{"a": 1}, {"a": math.NaN()}, {"a": struct{}{}}} {
		_, ok := jsonvalue.AppendObject(nil, v)
		assert.False(t, ok, "%#v", v)
	}
}

var sample = []byte(`{"enabled":true,"host":"db-00042.eu-west-1.internal.example.com","max_conns":58,"password_file":"/run/secrets/db-00042/password","port":5474,"tags":["primary","shard-10"],"timeout":2.5,"user":"svc_00042"}`)

func BenchmarkDecodeObject(b *testing.B) {
	b.Run("lib=jsonvalue", func(b *testing.B) {
		var d jsonvalue.Decoder
		b.ReportAllocs()
		b.SetBytes(int64(len(sample)))
		for b.Loop() {
			if _, err := d.DecodeObject(sample); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lib=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(sample)))
		for b.Loop() {
			var v map[string]any
			if err := json.Unmarshal(sample, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestNumberFarExponents: a number whose exponent is far outside float64's
// range is kept as its text without computing it exactly: the exact check
// would build 10^|exponent| (seconds for a seven-digit exponent), so a
// stored value could stall every decode of its configuration.
func TestNumberFarExponents(t *testing.T) {
	for _, s := range []string{"1234567890123456e-99999", "1234567890123456e-999999", "1234567890123456e-9999999", "-1234567890123456e-9999999", "1e-99999999", "1234567890123456e9999999", "1e99999999"} {
		var got any
		allocs := testing.AllocsPerRun(3, func() {
			var err error
			if got, err = jsonvalue.Number(s); err != nil {
				t.Fatal(err)
			}
		})
		assert.Equal(t, json.Number(s), got, "%s is not zero, nor infinite: its text is kept", s)
		assert.LessOrEqual(t, allocs, 8.0, "%s: no exact arithmetic on its value", s)
	}
}
