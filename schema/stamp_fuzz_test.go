package schema

import (
	"testing"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// stampSchemas are schemas whose keywords look at numbers, strings and
// arrays in ways that the encoding could change: integer or not, ranges,
// multiples, equality (const, enum, uniqueItems), lengths in code points.
var stampSchemas = []string{
	`{"properties":{"n":{"type":"integer"}}}`,
	`{"properties":{"n":{"type":"number","minimum":-1e3,"exclusiveMaximum":1e21}}}`,
	`{"properties":{"n":{"multipleOf":0.5}}}`,
	`{"properties":{"n":{"const":1}}}`,
	`{"properties":{"n":{"enum":[0,1.5,"1",12345678901234567890]}}}`,
	`{"properties":{"a":{"type":"array","uniqueItems":true,"maxItems":3}}}`,
	`{"properties":{"s":{"type":"string","maxLength":3,"pattern":"^[^x]*$"}}}`,
	`{"additionalProperties":{"type":["integer","string","boolean","null"]}}`,
}

// FuzzStampedValueValidatesAsCommitted: a value the Manager holds (as its
// decoder and normalizer make it) and the same value as another manager
// reads it from the committed bytes pass or fail every schema alike. This
// is what lets Commit skip validating again the bytes of a value that
// CheckValue accepted (the stamp).
func FuzzStampedValueValidatesAsCommitted(f *testing.F) {
	for _, seed := range []string{
		`{"n":1}`, `{"n":1.0}`, `{"n":1e21}`, `{"n":12345678901234567890}`, `{"n":-0.0}`,
		`{"n":0.5}`, `{"n":1.5e300}`, `{"n":"1"}`, `{"a":[1,1.0]}`, `{"a":[{"x":1},{"x":1.0}]}`,
		`{"s":"héé"}`, `{"s":"x"}`, `{"n":null,"b":true}`, `{"n":123456789012345678901234567890.5}`,
	} {
		f.Add([]byte(seed))
	}
	compiledSchemas := make([]*compiled, len(stampSchemas))
	for i, doc := range stampSchemas {
		sch, err := compile("ns", "schema", []byte(doc))
		if err != nil {
			f.Fatalf("schema %d: %v", i, err)
		}
		compiledSchemas[i] = &compiled{key: "schema", sch: sch}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		held, err := jsonvalue.DecodeObject(data)
		if err != nil {
			return
		}
		if n, ok := jsonvalue.Normalize(held); ok {
			held = n
		}
		raw, ok := jsonvalue.AppendObject(nil, held)
		if !ok {
			t.Fatalf("a decoded value does not encode: %s", data)
		}
		read, err := jsonvalue.DecodeObject(raw)
		if err != nil {
			t.Fatalf("committed bytes %s do not decode: %v", raw, err)
		}
		for i, c := range compiledSchemas {
			before, after := c.validate("ns", "c", held), c.validate("ns", "c", read)
			if (before == nil) != (after == nil) {
				t.Fatalf("schema %s: held value %s: %v; as committed %s: %v", stampSchemas[i], data, before, raw, after)
			}
		}
	})
}
