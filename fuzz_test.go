package confo

import (
	"bytes"
	"encoding/json"
	"github.com/confo-go/confo/internal/jsonvalue"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The fuzz targets below run their seed corpora (f.Add and
// testdata/fuzz/<FuzzName>/) as ordinary tests; `make fuzz` runs each with
// -fuzz for 20 seconds.

// nameRulesBroken returns the DESIGN.md name rules that name breaks, checked
// independently of ValidateName.
func nameRulesBroken(name string) []string {
	var broken []string
	if name == "" {
		broken = append(broken, "empty")
	}
	if len(name) > MaxNameLen {
		broken = append(broken, "too long")
	}
	if name == "." || name == ".." {
		broken = append(broken, "reserved")
	}
	if strings.Contains(name, "/") {
		broken = append(broken, "slash")
	}
	if !utf8.ValidString(name) {
		broken = append(broken, "invalid UTF-8")
	}
	for _, r := range name { // invalid bytes decode as U+FFFD, not a control
		if unicode.IsControl(r) {
			broken = append(broken, "control")
			break
		}
	}
	return broken
}

// FuzzValidateName checks that ValidateName accepts exactly the names that
// keep every rule, and that a refusal wraps ErrInvalidName and quotes the
// name.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{
		"mysql", "", ".", "..", "...", ".hidden", "a/b", "/", "a\x00b", "a\nb",
		"a\x7fb", "a\u0085b", "a\u00a0b", "données-日本", "a\xffb", "a\xc0\x80b",
		"a\xed\xa0\x80b", strings.Repeat("x", 255), strings.Repeat("x", 256),
		strings.Repeat("é", 127) + "x", strings.Repeat("é", 128), "a\u2028b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		broken := nameRulesBroken(name)
		if len(broken) == 0 {
			require.NoError(t, err, "name %q keeps every rule", name)
			return
		}
		require.Error(t, err, "name %q breaks %v", name, broken)
		require.ErrorIs(t, err, ErrInvalidName)
		require.Contains(t, err.Error(), strconv.Quote(name), "the error names the culprit")
	})
}

// checkNormalized fails unless v holds only the types Reload produces, with
// whole numbers within int64's range as int64.
func checkNormalized(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil, bool, string, int64:
	case float64:
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "non-finite float %v", v)
		require.False(t, v == math.Trunc(v) && v >= -(1<<63) && v < 1<<63,
			"whole number %v within int64's range must be an int64", v)
	case json.Number:
		// Only for a number neither int64 nor float64 holds exactly.
		x, err := jsonvalue.Number(string(v))
		require.NoError(t, err, "json.Number %q is a JSON number", v)
		require.IsType(t, json.Number(""), x, "json.Number %q fits an int64 or a float64 exactly", v)
	case []any:
		for _, e := range v {
			checkNormalized(t, e)
		}
	case map[string]any:
		for _, e := range v {
			checkNormalized(t, e)
		}
	default:
		t.Fatalf("normalized value holds a %T", v)
	}
}

// fuzzStruct is a typed value a caller may Set: encoding/json's rules apply.
type fuzzStruct struct {
	Name  string            `json:"name"`
	Port  uint16            `json:"port"`
	Ratio float32           `json:"ratio,omitempty"`
	Tags  []string          `json:"tags"`
	Extra map[string]uint64 `json:"extra"`
	Skip  string            `json:"-"`
}

// FuzzNormalize builds a configuration from JSON text and Go values of many
// types, and checks Set's normalization: it only fails with
// ErrInvalidValue, it is idempotent, its result holds only the documented
// types, and the result encodes and decodes back DeepEqual, types included.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(`{"host":"db","port":5432}`), int64(5678), uint64(1<<63), 1.5, float32(0.1), "mysql")
	f.Add([]byte(`[1, 2.0, 1e3, -0, 1e300, 9223372036854775807, 9223372036854775808]`), int64(math.MinInt64), uint64(math.MaxUint64), 1e300, float32(3), "")
	f.Add([]byte(`{"a":{"b":[{"c":null,"d":true}]}}`), int64(0), uint64(0), -0.0, float32(-1e-7), "<&>")
	f.Add([]byte(`"text"`), int64(-1), uint64(1), math.Inf(1), float32(1e38), "a\xffb")
	f.Add([]byte(`not json`), int64(1<<53+1), uint64(1<<53+1), 4.5e15, float32(16777217), "\u2028")
	f.Add([]byte(`{"x":1.7976931348623157e308,"y":5e-324,"z":123456789012345678901234567890}`), int64(42), uint64(42), 9.223372036854775807e18, float32(2e9), "日本")
	f.Fuzz(func(t *testing.T, raw []byte, i int64, u uint64, fl float64, f32 float32, s string) {
		var fromJSON any // a value as a caller's json.Unmarshal would make it
		if json.Unmarshal(raw, &fromJSON) != nil {
			fromJSON = nil // not JSON, or a number beyond float64
		}
		value := map[string]any{
			"json":   fromJSON,
			"int":    i,
			"int32":  int32(i),
			"uint":   u,
			"float":  fl,
			"f32":    f32,
			"string": s,
			"list":   []any{i, u, fl, s, nil, true},
			"ints":   []int64{i, -i},
			"typed":  map[string]float64{"f": fl, s: float64(i)},
			"struct": fuzzStruct{Name: s, Port: uint16(u), Ratio: f32, Tags: []string{s}, Extra: map[string]uint64{"u": u}, Skip: s},
			"ptr":    &i,
			"raw":    json.RawMessage(`{"n":` + strconv.FormatInt(i, 10) + `}`),
		}

		n1, err := normalize(value)
		finite := !math.IsNaN(fl) && !math.IsInf(fl, 0) && !math.IsNaN(float64(f32)) && !math.IsInf(float64(f32), 0)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidValue)
			require.False(t, finite, "only a non-finite float may be refused: %v", err)
			return
		}
		require.True(t, finite, "a non-finite float must be refused")
		checkNormalized(t, n1)

		n2, err := normalize(n1)
		require.NoError(t, err)
		require.Equal(t, n1, n2, "normalization is idempotent")

		enc, err := encodeValue(n1)
		require.NoError(t, err)
		back, err := decodeObject(enc)
		require.NoError(t, err, "a normalized value decodes: %s", enc)
		require.True(t, reflect.DeepEqual(n1, back), "round trip changed the value:\n%#v\n%#v", n1, back)

		got := copyObject(n1)
		require.True(t, reflect.DeepEqual(n1, got), "copyObject is a faithful copy")
	})
}

// FuzzDecodeObject checks decoding of store values written by anyone: it
// never panics, and accepts exactly one JSON object in valid UTF-8 (as
// encoding/json's Valid says, with '{' as first non-space byte), numbers
// beyond float64 included (kept as json.Number). What it accepts is
// normalized and round-trips.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"a":[1,2.5,"x",null,true,{"b":{}}]}`, `[]`, `[1]`, `"s"`, `1`, `null`, ``, ` `,
		`{`, `{"a":1}{}`, `{"a":1} x`, `{"a":1}` + "\n", "\ufeff{}", `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{"a":1e400}`, `{"a":1e-400}`, `{"a":-0}`, `{"a":9223372036854775808}`, `{"a":1,"a":2}`,
		"\t\r\n{}\t", `{"a":01}`, `{"a":.5}`, `{'a':1}`, "{\"a\":\"\x01\"}", `{"a":"\u0000"}`,
		strings.Repeat("[", 200) + strings.Repeat("]", 200), `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		obj, err := decodeObject(raw)

		trimmed := bytes.TrimLeft(raw, " \t\r\n")
		isObject := json.Valid(raw) && utf8.Valid(raw) && len(trimmed) > 0 && trimmed[0] == '{'
		if !isObject {
			require.Error(t, err, "%q is not one JSON object in valid UTF-8", raw)
			require.Nil(t, obj)
			return
		}
		require.NoError(t, err, "%q is a JSON object", raw)
		require.NotNil(t, obj)
		checkNormalized(t, obj)

		enc, err := encodeValue(obj)
		require.NoError(t, err)
		back, err := decodeObject(enc)
		require.NoError(t, err)
		require.True(t, reflect.DeepEqual(obj, back), "round trip changed the value:\n%#v\n%#v", obj, back)
	})
}
