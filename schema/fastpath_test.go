package schema

import (
	"reflect"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestFastPathNoPlan: a schema with a keyword the fast path does not
// follow, at any depth, or of another draft, has no plan: the validator
// alone checks its values.
func TestFastPathNoPlan(t *testing.T) {
	for _, src := range []string{
		`{"$ref":"#/$defs/a","$defs":{"a":{"type":"object"}}}`,
		`{"properties":{"a":{"$ref":"#"}}}`,
		`{"properties":{"a":{"enum":[1,2]}}}`,
		`{"properties":{"a":{"const":1}}}`,
		`{"allOf":[{"type":"object"}]}`,
		`{"anyOf":[{"type":"object"}]}`,
		`{"oneOf":[{"type":"object"}]}`,
		`{"not":{"type":"string"}}`,
		`{"if":{"required":["a"]},"then":{"required":["b"]}}`,
		`{"additionalProperties":{"multipleOf":2}}`,
		`{"patternProperties":{"^a":{"type":"string"}}}`,
		`{"propertyNames":{"maxLength":3}}`,
		`{"dependentRequired":{"a":["b"]}}`,
		`{"dependentSchemas":{"a":{"required":["b"]}}}`,
		`{"unevaluatedProperties":false}`,
		`{"additionalProperties":{"contains":{"type":"string"}}}`,
		`{"additionalProperties":{"prefixItems":[{"type":"string"}]}}`,
		`{"additionalProperties":{"unevaluatedItems":false}}`,
		`{"additionalProperties":{"items":{"items":{"items":{"not":{}}}}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`,
		`{"$schema":"https://json-schema.org/draft/2019-09/schema","type":"object"}`,
	} {
		sch, err := compile("ns", "schema", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if n, ok := planFor(sch); ok || n != nil {
			t.Errorf("%s: has a fast plan", src)
		}
	}
}

// TestFastPathKnowsEverySchemaField: every exported field of
// jsonschema.Schema is either followed by the fast path or refused by
// plannable. A new version of the library with a new keyword fails here
// until the fast path decides about it.
func TestFastPathKnowsEverySchemaField(t *testing.T) {
	known := []string{
		// followed, or of no effect on validation
		"DraftVersion", "Location", "Bool", "ID", "Anchor", "RecursiveAnchor", "DynamicAnchor",
		"Types", "Format", "Required", "Properties", "AdditionalProperties",
		"MinProperties", "MaxProperties", "MinItems", "MaxItems", "UniqueItems", "Items2020",
		"MinLength", "MaxLength", "Pattern", "Maximum", "Minimum", "ExclusiveMaximum", "ExclusiveMinimum",
		"Title", "Description", "Default", "Comment", "ReadOnly", "WriteOnly", "Examples", "Deprecated",
		// refused by plannable
		"Ref", "RecursiveRef", "DynamicRef", "Enum", "Const", "Not", "AllOf", "AnyOf", "OneOf",
		"If", "Then", "Else", "PropertyNames", "PatternProperties", "Dependencies",
		"DependentRequired", "DependentSchemas", "UnevaluatedProperties", "Contains", "MinContains",
		"MaxContains", "Items", "AdditionalItems", "PrefixItems", "UnevaluatedItems",
		"ContentEncoding", "ContentMediaType", "ContentSchema", "MultipleOf", "Extensions",
	}
	st := reflect.TypeFor[jsonschema.Schema]()
	for i := range st.NumField() {
		if f := st.Field(i); f.IsExported() && !slices.Contains(known, f.Name) {
			t.Errorf("jsonschema.Schema.%s: the fast path does not know this field", f.Name)
		}
	}
}
