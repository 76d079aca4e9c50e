package schema

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// fastSchemas exercise every keyword the fast path follows, with the
// numbers where the validator's decimal comparison and a float comparison
// could disagree: bounds that are not float64s (0.1, 0.3), beyond int64
// or float64, equal to values, -0, 2^53+1, and bounds that round to
// the same float64 as a value whose decimal lies on the other side.
var fastSchemas = []string{
	benchSchema,
	`{"additionalProperties":{"type":"integer","minimum":0.1,"maximum":1e21}}`,
	`{"additionalProperties":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":0.3}}`,
	`{"additionalProperties":{"type":["number","string"],"minimum":-0,"maximum":9007199254740993,"minLength":1,"maxLength":3}}`,
	`{"additionalProperties":{"exclusiveMinimum":-9223372036854775808,"exclusiveMaximum":9223372036854775807}}`,
	`{"additionalProperties":{"type":"integer","minimum":-9223372036854775809,"maximum":9223372036854775808}}`,
	`{"additionalProperties":{"minimum":9223372036854775808}}`,
	`{"additionalProperties":{"maximum":-9223372036854775809}}`,
	`{"additionalProperties":{"minimum":1e300,"maximum":1e400}}`,
	`{"additionalProperties":{"exclusiveMinimum":-1e400,"exclusiveMaximum":1e-400}}`,
	`{"additionalProperties":{"minimum":0.1,"exclusiveMaximum":0.30000000000000004}}`,
	`{"additionalProperties":{"type":"integer","exclusiveMinimum":2.5,"exclusiveMaximum":1e21}}`,
	`{"additionalProperties":{"maximum":1.5,"minimum":-1.5}}`,
	`{"additionalProperties":{"maximum":0.29999999999999999}}`,
	`{"additionalProperties":{"minimum":0.30000000000000001}}`,
	`{"additionalProperties":{"maximum":999999999999999999999,"minimum":-999999999999999999999}}`,
	`{"properties":{"a":{"type":"array","items":{"type":"integer"},"uniqueItems":true,"minItems":1,"maxItems":40}},"additionalProperties":{"type":"array","uniqueItems":true}}`,
	`{"additionalProperties":{"uniqueItems":true,"items":{"uniqueItems":true}}}`,
	`{"additionalProperties":{"type":"string","minLength":2,"maxLength":2,"pattern":"^\\p{L}+$"}}`,
	`{"additionalProperties":{"type":["string","null"],"maxLength":0}}`,
	`{"properties":{"h":{"format":"hostname"},"e":{"format":"email"},"d":{"format":"date-time"},"i":{"format":"ipv4"},"u":{"format":"uri"}},"additionalProperties":{"format":"duration"}}`,
	`{"type":"object","required":["a"],"minProperties":1,"maxProperties":3,"properties":{"a":{"type":"object","properties":{"b":{"type":"array","items":{"type":"object","additionalProperties":false,"properties":{"c":{"type":["null","boolean"]}}}}},"additionalProperties":true}}}`,
	`{"properties":{"t":true,"f":false},"additionalProperties":{"items":false}}`,
	`{"title":"t","description":"d","default":{},"examples":[1],"$comment":"c","deprecated":true,"readOnly":true,"additionalProperties":{"type":"integer","default":"x","minimum":-5,"exclusiveMaximum":5}}`,
	`{"$schema":"https://json-schema.org/draft/2020-12/schema","required":["x","y"],"additionalProperties":{"type":["boolean","array","object"]}}`,
}

// fastSeeds are configurations near the edges of fastSchemas.
var fastSeeds = []string{
	`{"host":"db-00001.eu-west-1.internal.example.com","port":5433,"user":"svc_00001","password_file":"/run/secrets/db-00001/password","enabled":true,"timeout":1.5,"tags":["primary","shard-1"],"max_conns":17}`,
	`{"host":"db","port":65535,"user":"_","enabled":false,"timeout":300,"tags":[]}`,
	`{"host":"db","port":1,"user":"a","enabled":true,"timeout":0,"tags":["a","a"]}`,
	`{"host":"db","port":1.0,"user":"a","enabled":true,"timeout":-0.0,"max_conns":10000}`,
	`{"host":"db","port":65535.5,"user":"a","enabled":true,"timeout":300.0000000000001}`,
	`{"host":"-bad-","port":0,"user":"A","enabled":1,"extra":null}`,
	`{"x":0.1,"y":0.3,"z":0.30000000000000004,"w":0.1000000000000000055511151231257827}`,
	`{"x":0,"y":-0,"z":-0.0,"w":1e-400,"v":0e5}`,
	`{"x":1e21,"y":1e400,"z":-1e400,"w":1e300,"v":1e308,"u":1.7976931348623157e308}`,
	`{"x":9223372036854775807,"y":-9223372036854775808,"z":9223372036854775808,"w":-9223372036854775809}`,
	`{"x":9007199254740993,"y":9007199254740992,"z":9007199254740993.0,"w":2.5,"v":3}`,
	`{"x":1.5,"y":-1.5,"z":1.4999999999999999,"w":1.50000000000000001}`,
	`{"a":[1,2,3],"b":[1,1.0],"c":[0,-0.0],"d":["a","a"],"e":[null,false,0,""],"f":[[1],[1.0]],"g":[{"a":1},{"a":1}]}`,
	`{"a":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,0]}`,
	`{"a":[0.5,1.5,2.5,3.5,4.5,5.5,6.5,7.5,8.5,9.5,10.5,11.5,12.5,13.5,14.5,15.5,16.5,17.5,18.5,19.5,20.5,21.5,22.5,23.5,24.5,25.5,26.5,27.5,28.5,29.5,30.5,31.5,32.5,33.5,-0.0,0]}`,
	`{"s":"éé","t":"👍👍","u":"e\u0301","v":"ab","w":"\ud800x","x":""}`,
	`{"h":"example.com","e":"a@b.c","d":"2024-01-01T00:00:00Z","i":"1.2.3.4","u":"https://x/","x":"P1D","y":"1D"}`,
	`{"a":{"b":[{"c":null},{"c":true},{"d":1}]}}`,
	`{"t":{"any":[1]},"f":0,"g":[],"h":[1]}`,
	`{"x":true,"y":[],"z":{"q":1}}`,
	`{"x":0.3}`, `{"x":0.1}`, `{"x":1e21}`, `{"x":-1e21}`, `{"x":0}`, `{"x":-0.0}`, `{"x":1.5}`,
	`{"x":9223372036854775807}`, `{"x":9223372036854775808}`, `{"x":-9223372036854775808}`,
	`{"x":9007199254740993}`, `{"x":2.5}`, `{"x":3}`, `{"x":1e300}`, `{"x":5e-324}`,
	`{"s":"é"}`, `{"s":"👍"}`, `{"a":[1,1]}`, `{"a":[1,2]}`, `{"x":[0,0.5,1,1.5,-0.0,0.0]}`,
}

// longExponent matches a number exponent of more than three digits.
var longExponent = regexp.MustCompile(`[eE][+-]?[0-9]{4}`)

// floatified returns v with its numbers as float64s, as a decoder without
// int64 or json.Number would give (so that the fast path meets float64s of
// integral values, and of numbers beyond float64's precision): every
// number when all, else only the int64s at odd indexes of arrays (so that
// arrays mix equal int64s and float64s).
func floatified(v any, all bool) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = floatified(e, all)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			if n, ok := e.(int64); ok && !all && i%2 == 1 {
				a[i] = float64(n)
			} else {
				a[i] = floatified(e, all)
			}
		}
		return a
	case int64:
		if all {
			return float64(x)
		}
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil && all {
			return f
		}
	}
	return v
}

// compileFast compiles fastSchemas and fails unless each has a plan (so
// that the fuzz test below exercises the fast path on every one).
func compileFast(tb testing.TB) []*compiled {
	cs := make([]*compiled, len(fastSchemas))
	for i, src := range fastSchemas {
		sch, err := compile("ns", "schema", []byte(src))
		if err != nil {
			tb.Fatalf("schema %d: %v", i, err)
		}
		cs[i] = &compiled{key: "schema", sch: sch}
		if cs[i].plan() == nil {
			tb.Fatalf("schema %d has no fast plan: %s", i, src)
		}
	}
	return cs
}

// FuzzFastPathNeverMoreLenient: whatever configuration the fast path
// accepts, the validator accepts too, for every schema of fastSchemas and
// the configuration both as decoded and with numbers as float64s.
func FuzzFastPathNeverMoreLenient(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	cs := compileFast(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if longExponent.Match(raw) {
			return // the decoder's exact check of 1e-99999 takes long, and no bound here needs it
		}
		obj, err := jsonvalue.DecodeObject(raw)
		if err != nil {
			return
		}
		for _, v := range []any{obj, floatified(obj, true), floatified(obj, false)} {
			for i, c := range cs {
				if !c.plan().accepts(v) {
					continue
				}
				if err := c.sch.Validate(v); err != nil {
					t.Fatalf("schema %d %s: the fast path accepts %#v, the validator says %v", i, fastSchemas[i], v, err)
				}
			}
		}
	})
}

// TestFastPathTaken: the realistic schema's valid configurations are
// accepted by the fast path itself (so that validating them skips the
// validator), including edge values that are still surely valid.
func TestFastPathTaken(t *testing.T) {
	sch, err := compile("ns", "schema", []byte(benchSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := &compiled{key: "schema", sch: sch}
	p := c.plan()
	if p == nil {
		t.Fatal("the realistic schema has no fast plan")
	}
	for _, raw := range []string{
		fastSeeds[0],
		`{"host":"db","port":65535,"user":"_","enabled":false,"timeout":299.5,"tags":[]}`,
		`{"host":"a.b","port":1,"user":"a","enabled":true,"timeout":1e-300,"max_conns":10000,"tags":["é","e"]}`,
		`{"host":"db","port":1.0,"user":"a","enabled":true,"timeout":3}`,
	} {
		v, err := decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !p.accepts(v) {
			t.Errorf("the fast path is not sure of valid %s", raw)
		}
		if err := c.validate("ns", "cfg", v); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	// An invalid configuration goes to the validator, which says why.
	v, _ := decode([]byte(`{"host":"db","port":0,"user":"a","enabled":true}`))
	if p.accepts(v) {
		t.Error("the fast path accepts port 0")
	}
	if err := c.validate("ns", "cfg", v); err == nil || !strings.Contains(err.Error(), `"/port"`) {
		t.Errorf("port 0: got %v, want a failure at /port", err)
	}
}

// TestFastPathEdges: values on a bound, or that only the validator's
// exact decimal comparison can place, are left to the validator.
func TestFastPathEdges(t *testing.T) {
	for _, tc := range []struct {
		schema string
		value  any
		sure   bool
	}{
		{`{"minimum":1}`, int64(1), true},
		{`{"minimum":1}`, float64(1), false}, // equal to the bound's float64
		{`{"exclusiveMinimum":1}`, int64(1), false},
		{`{"exclusiveMaximum":0.3}`, 0.3, false},
		{`{"exclusiveMaximum":0.3}`, 0.29999999999999993, true},
		{`{"maximum":0.5}`, int64(0), true},
		{`{"minimum":0.5}`, int64(0), false},
		{`{"minimum":0.5}`, int64(1), true},
		{`{"maximum":9223372036854775808}`, int64(9223372036854775807), true},
		{`{"minimum":9223372036854775808}`, int64(9223372036854775807), false},
		{`{"exclusiveMinimum":-9223372036854775808}`, int64(-9223372036854775808), false},
		{`{"exclusiveMinimum":-9223372036854775809}`, int64(-9223372036854775808), true},
		{`{"maximum":1}`, json.Number("0.5"), false},
		{`{"type":"number"}`, json.Number("0.1"), true},
		{`{"type":"integer"}`, json.Number("1"), false},
		{`{"type":"integer"}`, 1e21, true},
		{`{"type":"integer"}`, 0.5, false},
		{`{"type":"integer"}`, int32(1), false},
		{`{"maxLength":1}`, "👍", true},
		{`{"maxLength":1}`, "e\u0301", false},
		{`{"uniqueItems":true}`, []any{int64(1), 1.0}, false},
		{`{"uniqueItems":true}`, []any{int64(1), "1", true, nil}, true},
		{`{"uniqueItems":true}`, []any{0.0, math.Copysign(0, -1)}, false}, // equal: 0 and -0
		{`{"uniqueItems":true}`, []any{0.5, 1.5}, true},
		{`{"uniqueItems":true}`, []any{[]any{}, []any{int64(1)}}, false},
		{`false`, nil, false},
		{`true`, []any{}, true},
	} {
		sch, err := compile("ns", "schema", []byte(tc.schema))
		if err != nil {
			t.Fatal(err)
		}
		c := &compiled{sch: sch}
		p := c.plan()
		if p == nil {
			t.Fatalf("%s: no plan", tc.schema)
		}
		if got := p.accepts(tc.value); got != tc.sure {
			t.Errorf("%s with %#v: fast path sure %t, want %t", tc.schema, tc.value, got, tc.sure)
		}
		if tc.sure && sch.Validate(tc.value) != nil {
			t.Errorf("%s with %#v: sure, but the validator refuses it", tc.schema, tc.value)
		}
	}
}
