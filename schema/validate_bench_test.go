package schema

import (
	"fmt"
	"testing"
)

const benchSchema = `{
  "type": "object",
  "properties": {
    "host": {"type": "string", "format": "hostname", "maxLength": 253},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "user": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,31}$"},
    "password_file": {"type": "string", "pattern": "^/"},
    "enabled": {"type": "boolean"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
    "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": true, "maxItems": 16},
    "max_conns": {"type": "integer", "minimum": 1, "maximum": 10000}
  },
  "required": ["host", "port", "user", "enabled"],
  "additionalProperties": false
}`

// BenchmarkValidate measures one validation of a realistic configuration
// (about 200 bytes, 8 fields) against a realistic schema, decoded from its
// bytes (decode=yes, as Commit does) or already decoded (as CheckValue).
func BenchmarkValidate(b *testing.B) {
	sch, err := compile("ns", "schema", []byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	c := &compiled{key: "schema", sch: sch}
	raw := []byte(`{"host":"db-00001.eu-west-1.internal.example.com","port":5433,"user":"svc_00001","password_file":"/run/secrets/db-00001/password","enabled":true,"timeout":1.5,"tags":["primary","shard-1"],"max_conns":17}`)
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
