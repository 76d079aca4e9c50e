package confo

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// decodeSeeds are inputs on the edges of the JSON grammar, of UTF-8 and of
// the number rule.
var decodeSeeds = []string{
	`{}`, ` {"a":1} `, `{"a":[1,2.5,"x",null,true,false,{"b":{}}]}`, `[]`, `[1]`, `"s"`, `1`, `null`, ``, ` `,
	`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
	`{"a":1}{}`, `{"a":1} x`, `{"a":1}` + "\n", "\ufeff{}", "{}\x00", `{"a":tru}`, `{"a":nulll}`, `{"a":True}`,
	`{"a":"\ud800"}`, `{"a":"\ud800\udc00"}`, `{"a":"\udc00\ud800"}`, `{"a":"\ud800\u0041"}`, `{"a":"\ud83d\ude00x"}`,
	`{"a":"\u00e9\u20ac"}`, `{"a":"\uD834\uDD1E"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, `{"a":"\x"}`, `{"a":"\'"}`,
	`{"a":"\"\\\/\b\f\n\r\t"}`, `{"\u0061":1,"a":2}`, `{"a\nb":1}`, "{\"a\":\"\xff\"}", "{\"a\xff\":1}",
	"{\"a\":\"\x01\"}", "{\"a\":\"\x7f\"}", `{"a":"\u0000"}`, `{"a":"é€😀"}`, "{\"a\":\"\xe2\x80\xa8\"}",
	`{"a":1e400}`, `{"a":-1e400}`, `{"a":1e-400}`, `{"a":-0}`, `{"a":-0.0}`, `{"a":-0.5}`, `{"a":0.1}`,
	`{"a":9223372036854775807}`, `{"a":9223372036854775808}`, `{"a":-9223372036854775808}`, `{"a":-9223372036854775809}`,
	`{"a":999999999999999999}`, `{"a":1000000000000000000}`, `{"a":12345678901234567890123}`, `{"a":1e18}`,
	`{"a":1E2}`, `{"a":1e+2}`, `{"a":1e-2}`, `{"a":2.50}`, `{"a":1.0}`, `{"a":9.3e18}`, `{"a":-9.3e18}`,
	`{"a":01}`, `{"a":.5}`, `{"a":5.}`, `{"a":-}`, `{"a":+1}`, `{"a":1e}`, `{"a":1e+}`, `{"a":0x10}`, `{"a":-01}`,
	`{"a":1,"a":2}`, `{"a":1e400,"a":1}`, `{'a':1}`, `{a:1}`, "\t\r\n{}\t", "\v{}", "{}\f",
	strings.Repeat("[", 200) + strings.Repeat("]", 200),
	`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, jsonvalue.MaxDepth) + "1" + strings.Repeat("}", jsonvalue.MaxDepth) + `}`,
	`{"enabled":true,"host":"db-00042.eu-west-1.internal.example.com","max_conns":58,"password_file":"/run/secrets/db-00042/password","port":5474,"tags":["primary","shard-10"],"timeout":2.5,"user":"svc_00042"}`,
}

// FuzzDecodeObjectFast holds the fast decoder of package jsonvalue to the
// encoding/json path it replaces (decodeObjectStd, the oracle): whatever
// the fast decoder accepts, the oracle accepts with a deeply equal value;
// what it refuses, the oracle refuses too, except a value nested deeper than
// jsonvalue.MaxDepth or one whose out-of-range number is overwritten by a
// duplicate key, where decodeObject falls back to the oracle. decodeObject,
// which the Manager uses, returns exactly the oracle's value or error text.
func FuzzDecodeObjectFast(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantErr := decodeObjectStd(raw)
		fast, fastErr := jsonvalue.DecodeObject(raw)
		got, gotErr := decodeObject(raw)

		if wantErr != nil {
			require.Error(t, fastErr, "fast decoder accepts %q, which encoding/json refuses (%v)", raw, wantErr)
			require.Error(t, gotErr)
			require.Equal(t, wantErr.Error(), gotErr.Error())
			return
		}
		require.NoError(t, gotErr)
		require.True(t, reflect.DeepEqual(want, got), "decodeObject(%q) =\n%#v, want\n%#v", raw, got, want)
		if fastErr != nil {
			var syntax *jsonvalue.SyntaxError
			require.False(t, errors.As(fastErr, &syntax), "fast decoder refuses valid %q: %v", raw, fastErr)
			deep := strings.Count(string(raw), "[")+strings.Count(string(raw), "{") > jsonvalue.MaxDepth
			require.True(t, deep || errors.Is(fastErr, jsonvalue.ErrRange), "fast decoder refuses %q: %v", raw, fastErr)
			return
		}
		require.True(t, reflect.DeepEqual(want, fast), "jsonvalue.DecodeObject(%q) =\n%#v, want\n%#v", raw, fast, want)
	})
}

// TestDecodeObjectShared checks that one Decoder used for many values, as
// newView uses it, decodes each as a fresh one would.
func TestDecodeObjectShared(t *testing.T) {
	var dec jsonvalue.Decoder
	for _, s := range decodeSeeds {
		want, wantErr := decodeObjectStd([]byte(s))
		got, err := decodeObjectWith(&dec, []byte(s))
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error(), "%q", s)
			continue
		}
		require.NoError(t, err, "%q", s)
		require.True(t, reflect.DeepEqual(want, got), "%q: got %#v, want %#v", s, got, want)
	}
}

// normalizeOracle is normalize as it was before package jsonvalue: a round
// trip through encoding/json.
func normalizeOracle(v any) (map[string]any, error) {
	raw, err := encodeValueStd(v)
	if err != nil {
		return nil, err
	}
	return decodeObjectStd(raw)
}

// FuzzEncodeFast holds jsonvalue.AppendObject to encoding/json: for every
// normalized value (what decodeObjectStd makes of the input), it writes the
// same bytes.
func FuzzEncodeFast(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":1e-7,"b":1e21,"c":-1e-300,"d":123456.789,"e":0.000001,"f":1e20,"g":"<&>\u2028\u2029\u007f"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		obj, err := decodeObjectStd(raw)
		if err != nil {
			return
		}
		want, err := encodeValueStd(obj)
		require.NoError(t, err)
		got, ok := jsonvalue.AppendObject(nil, obj)
		if !ok {
			// It takes every normalized value nested no deeper than its limit.
			require.Greater(t, depth(obj), jsonvalue.MaxDepth, "AppendObject refuses normalized %q", want)
		} else {
			require.Equal(t, string(want), string(got))
		}
		got, err = encodeValue(obj)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}

// depth returns how deeply objects and arrays nest in v.
func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// retype turns the whole numbers of v (decoded by encoding/json, so
// float64) into the integer types a caller may Set, chosen by the bytes of
// pick, and adds the string s as a key and a value, so that keys and
// values in invalid UTF-8 are tried too.
func retype(v any, pick []byte, s string) any {
	i := 0
	next := func() byte {
		if len(pick) == 0 {
			return 0
		}
		i++
		return pick[i%len(pick)]
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) { // deterministic picks
				v[k] = walk(v[k])
			}
			if next()%4 == 0 {
				v[s] = s
			}
			return v
		case []any:
			for j, e := range v {
				v[j] = walk(e)
			}
			return v
		case float64:
			if v != float64(int64(v)) {
				return v
			}
			switch next() % 8 {
			case 1:
				return int(v)
			case 2:
				return int64(v)
			case 3:
				return uint64(v)
			case 4:
				return int8(v)
			case 5:
				return uint32(v)
			case 6:
				return uint64(1<<63) + uint64(next())
			case 7:
				return float32(v)
			}
		}
		return v
	}
	return walk(v)
}

// FuzzNormalizeFast holds jsonvalue.Normalize to the JSON round trip it
// replaces: whenever it takes a value, it returns what the round trip
// returns, and normalize returns exactly the round trip's value or error.
func FuzzNormalizeFast(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s), []byte{1, 2, 3}, "k\xff")
	}
	f.Add([]byte(`{"a":1,"b":[2,3,{"c":4}],"d":2.5,"e":null,"f":{}}`), []byte{0, 1, 2, 3, 4, 5, 6, 7}, "x")
	f.Fuzz(func(t *testing.T, raw, pick []byte, s string) {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		obj, ok := retype(v, pick, s).(map[string]any)
		if !ok {
			return
		}
		want, wantErr := normalizeOracle(obj)
		if fast, ok := jsonvalue.Normalize(obj); ok {
			require.NoError(t, wantErr, "Normalize takes %#v, which the round trip refuses", obj)
			require.True(t, reflect.DeepEqual(want, fast), "Normalize(%#v) =\n%#v, want\n%#v", obj, fast, want)
		}
		got, err := normalize(obj)
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error())
			return
		}
		require.NoError(t, err)
		require.True(t, reflect.DeepEqual(want, got), "normalize(%#v) =\n%#v, want\n%#v", obj, got, want)
	})
}
