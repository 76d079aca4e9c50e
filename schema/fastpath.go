package schema

import (
	"cmp"
	"encoding/json"
	"math"
	"math/big"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path accepts a valid configuration without the validator's
// allocations (it turns every number into a big.Rat through fmt, and
// builds a validator per keyword and value). It only ever says "surely
// valid" or "not sure": when not sure, the validator runs as before and
// decides (and writes the messages), so results never change. It may be
// stricter than the validator, never more lenient.
//
// It works from the compiled *jsonschema.Schema itself: the same compiled
// pattern regexps and format functions, and the validator's semantics for
// types (an int64, or a float64 of integral value, is an "integer"),
// lengths (code points, as utf8.RuneCount), uniqueness and numbers (the
// decimal fmt prints, compared exactly with the bound). A schema that uses
// any keyword outside the few that common configuration schemas use, at
// any depth, gets no plan: the validator alone checks its values.

// Type bits of a fastNode (the JSON types of the "type" keyword).
const (
	tNull = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

// typeBits maps the names of Types.ToStrings to type bits.
var typeBits = map[string]int{
	"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

// fastNode is the plan of the fast path for one schema: the keywords it
// checks, taken from the compiled schema. A count or length of -1 is
// absent.
type fastNode struct {
	// all is a true schema: anything is valid (as the validator, which
	// looks no further).
	// none is a false schema: nothing is surely valid.
	all, none bool
	types     int // type bits; 0: any type
	format    func(any) error

	// objects
	props         map[string]*fastNode
	required      []string
	noAdditional  bool      // additionalProperties false
	additional    *fastNode // additionalProperties schema, or nil
	minProperties int
	maxProperties int

	// arrays
	items    *fastNode // items (2020), or nil
	minItems int
	maxItems int
	unique   bool

	// strings
	minLength int
	maxLength int
	pattern   jsonschema.Regexp

	// numbers
	numeric                        bool // any of the four bounds below
	minimum, maximum, exMin, exMax *bound
}

// bound is a numeric bound (minimum, maximum, exclusiveMinimum or
// exclusiveMaximum) as the fast path compares with it: int64 values
// against its floor and ceiling, exactly; float64 values against its
// nearest float64, trusted only when the two differ.
type bound struct {
	floor, ceil intBound
	f           float64
}

// intBound is an integer clamped to int64: side is -1 below MinInt64, +1
// above MaxInt64, else 0 and n is the integer.
type intBound struct {
	n    int64
	side int
}

// newBound returns the bound for r, or nil for nil.
func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int)) // Euclidean: q = floor, as Denom > 0
	c := new(big.Int).Set(q)
	if m.Sign() != 0 {
		c.Add(c, big.NewInt(1))
	}
	f, _ := r.Float64() // the nearest float64 (±Inf beyond its range)
	return &bound{floor: clampInt(q), ceil: clampInt(c), f: f}
}

// clampInt returns i as an intBound.
func clampInt(i *big.Int) intBound {
	if i.IsInt64() {
		return intBound{n: i.Int64()}
	}
	return intBound{side: i.Sign()}
}

// cmpInt compares v with b as cmp.Compare does.
func cmpInt(v int64, b intBound) int {
	if b.side != 0 {
		return -b.side
	}
	return cmp.Compare(v, b.n)
}

// planFor returns the plan for s, or ok false when s (or any schema
// under it) uses a keyword or draft the fast path does not follow.
func planFor(s *jsonschema.Schema) (n *fastNode, ok bool) {
	if s == nil {
		return nil, false
	}
	if s.Bool != nil {
		return &fastNode{all: *s.Bool, none: !*s.Bool}, true
	}
	if !plannable(s) {
		return nil, false
	}
	n = &fastNode{minProperties: -1, maxProperties: -1, minItems: -1, maxItems: -1, minLength: -1, maxLength: -1}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			b, known := typeBits[t]
			if !known {
				return nil, false
			}
			n.types |= b
		}
	}
	if s.Format != nil {
		if s.Format.Validate == nil {
			return nil, false
		}
		n.format = s.Format.Validate
	}

	if len(s.Properties) > 0 {
		n.props = make(map[string]*fastNode, len(s.Properties))
		for name, ps := range s.Properties {
			if n.props[name], ok = planFor(ps); !ok {
				return nil, false
			}
		}
	}
	n.required = s.Required
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		n.noAdditional = !a
	case *jsonschema.Schema:
		if n.additional, ok = planFor(a); !ok {
			return nil, false
		}
	default:
		return nil, false
	}
	n.minProperties, n.maxProperties = intOr(s.MinProperties), intOr(s.MaxProperties)

	if s.Items2020 != nil {
		if n.items, ok = planFor(s.Items2020); !ok {
			return nil, false
		}
	}
	n.minItems, n.maxItems, n.unique = intOr(s.MinItems), intOr(s.MaxItems), s.UniqueItems

	n.minLength, n.maxLength, n.pattern = intOr(s.MinLength), intOr(s.MaxLength), s.Pattern

	n.minimum, n.maximum = newBound(s.Minimum), newBound(s.Maximum)
	n.exMin, n.exMax = newBound(s.ExclusiveMinimum), newBound(s.ExclusiveMaximum)
	n.numeric = n.minimum != nil || n.maximum != nil || n.exMin != nil || n.exMax != nil
	return n, true
}

// plannable reports whether s (not a boolean schema) uses only keywords
// the fast path follows, under draft 2020-12. Its subschemas are checked
// by planFor.
func plannable(s *jsonschema.Schema) bool {
	return s.DraftVersion == 2020 &&
		s.Ref == nil && s.RecursiveRef == nil && s.DynamicRef == nil &&
		s.Enum == nil && s.Const == nil &&
		s.Not == nil && len(s.AllOf) == 0 && len(s.AnyOf) == 0 && len(s.OneOf) == 0 &&
		s.If == nil && s.Then == nil && s.Else == nil &&
		s.PropertyNames == nil && len(s.PatternProperties) == 0 &&
		len(s.Dependencies) == 0 && len(s.DependentRequired) == 0 && len(s.DependentSchemas) == 0 &&
		s.UnevaluatedProperties == nil &&
		s.Contains == nil && s.MinContains == nil && s.MaxContains == nil &&
		s.Items == nil && s.AdditionalItems == nil && len(s.PrefixItems) == 0 &&
		s.UnevaluatedItems == nil &&
		s.ContentEncoding == nil && s.ContentMediaType == nil && s.ContentSchema == nil &&
		s.MultipleOf == nil &&
		len(s.Extensions) == 0
}

// intOr returns *p, or -1 for nil.
func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// accepts reports whether v is surely valid against n; false means only
// "not sure".
func (n *fastNode) accepts(v any) bool {
	if n.all {
		return true
	}
	if n.none {
		return false
	}
	var t int
	integer := false // v is a number the validator takes as an integer
	switch x := v.(type) {
	case nil:
		t = tNull
	case bool:
		t = tBoolean
	case string:
		t = tString
	case int64:
		t, integer = tNumber, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
		t, integer = tNumber, x == math.Trunc(x)
	case json.Number:
		t = tNumber // integer or not: not sure
	case []any:
		t = tArray
	case map[string]any:
		t = tObject
	default:
		return false
	}
	if n.types != 0 && n.types&t == 0 && !(t == tNumber && integer && n.types&tInteger != 0) {
		return false
	}
	if n.format != nil && n.format(v) != nil {
		return false
	}
	switch x := v.(type) {
	case string:
		return n.string(x)
	case int64:
		return !n.numeric || n.int(x)
	case float64:
		return !n.numeric || n.float(x)
	case json.Number:
		return !n.numeric
	case []any:
		return n.array(x)
	case map[string]any:
		return n.object(x)
	}
	return true
}

// object checks the object keywords.
func (n *fastNode) object(obj map[string]any) bool {
	if n.minProperties >= 0 && len(obj) < n.minProperties || n.maxProperties >= 0 && len(obj) > n.maxProperties {
		return false
	}
	for _, name := range n.required {
		if _, ok := obj[name]; !ok {
			return false
		}
	}
	for name, pv := range obj {
		if p, ok := n.props[name]; ok {
			if !p.accepts(pv) {
				return false
			}
		} else if n.noAdditional {
			return false
		} else if n.additional != nil && !n.additional.accepts(pv) {
			return false
		}
	}
	return true
}

// array checks the array keywords.
func (n *fastNode) array(arr []any) bool {
	if n.minItems >= 0 && len(arr) < n.minItems || n.maxItems >= 0 && len(arr) > n.maxItems {
		return false
	}
	if n.unique && len(arr) > 1 && !surelyUnique(arr) {
		return false
	}
	if n.items != nil {
		for _, item := range arr {
			if !n.items.accepts(item) {
				return false
			}
		}
	}
	return true
}

// string checks the string keywords.
func (n *fastNode) string(s string) bool {
	if n.minLength >= 0 || n.maxLength >= 0 {
		l := utf8.RuneCountInString(s) // as the validator's utf8.RuneCount
		if n.minLength >= 0 && l < n.minLength || n.maxLength >= 0 && l > n.maxLength {
			return false
		}
	}
	return n.pattern == nil || n.pattern.MatchString(s)
}

// int checks the numeric bounds for an int64, exactly: v >= B is v >=
// ceil(B), v > B is v > floor(B), and so on.
func (n *fastNode) int(v int64) bool {
	return (n.minimum == nil || cmpInt(v, n.minimum.ceil) >= 0) &&
		(n.maximum == nil || cmpInt(v, n.maximum.floor) <= 0) &&
		(n.exMin == nil || cmpInt(v, n.exMin.floor) > 0) &&
		(n.exMax == nil || cmpInt(v, n.exMax.ceil) < 0)
}

// float checks the numeric bounds for a float64. The validator compares
// the decimal fmt prints for v (which rounds to v) with the bound B (which
// rounds to B.f); rounding to nearest is monotonic, so v > B.f implies
// decimal > B and v < B.f implies decimal < B. When v == B.f the decimal
// may lie on either side: not sure.
func (n *fastNode) float(v float64) bool {
	return (n.minimum == nil || v > n.minimum.f) &&
		(n.maximum == nil || v < n.maximum.f) &&
		(n.exMin == nil || v > n.exMin.f) &&
		(n.exMax == nil || v < n.exMax.f)
}

// surelyUnique reports whether no two items of arr are equal as the
// validator compares them, for arrays of strings, booleans, nulls and
// numbers all int64 or all float64 (Go's == then agrees with the
// validator's equality: values of different kinds differ, and two float64
// are equal exactly when their decimals are, 0 and -0 included); for
// anything else it is not sure.
func surelyUnique(arr []any) bool {
	ints, floats := false, false
	for _, item := range arr {
		switch x := item.(type) {
		case nil, bool, string:
		case int64:
			ints = true
		case float64:
			if math.IsNaN(x) {
				return false
			}
			floats = true
		default:
			return false
		}
	}
	if ints && floats {
		return false
	}
	if len(arr) <= 32 {
		for i := 1; i < len(arr); i++ {
			for j := range i {
				if arr[i] == arr[j] {
					return false
				}
			}
		}
		return true
	}
	seen := make(map[any]struct{}, len(arr))
	for _, item := range arr {
		if _, dup := seen[item]; dup {
			return false
		}
		seen[item] = struct{}{}
	}
	return true
}
