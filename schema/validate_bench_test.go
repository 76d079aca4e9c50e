package schema

import (
	"fmt"
	"os"
	"testing"
)

// benchSchema is the realistic schema of schema/testdata/realistic.json,
// which bench/ (BenchmarkSchemaPersist) reads too: types, ranges, formats,
// a pattern, required fields, no others.
var benchSchema = func() string {
	b, err := os.ReadFile("testdata/realistic.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// BenchmarkValidate measures one validation of a realistic configuration
// (about 200 bytes, 8 fields) against a realistic schema, decoded from its
// bytes (decode=yes, as Commit does) or already decoded (as CheckValue).
func BenchmarkValidate(b *testing.B) {
	sch, err := compile("ns", "schema", []byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	c := &compiled{key: "schema", sch: sch}
	raw := []byte(fastSeeds[0])
	for _, dec := range []bool{false, true} {
		b.Run(fmt.Sprintf("decode=%t", dec), func(b *testing.B) {
			v, _ := decode(raw)
			b.ReportAllocs()
			for b.Loop() {
				if dec {
					v, _ = decode(raw)
				}
				if err := c.validate("ns", "cfg", v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
