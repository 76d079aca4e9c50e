package schema

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/jsonvalue"
)

// ErrInvalidSchema means a schema document is not JSON, is not a valid JSON
// Schema, or refers to a resource outside itself (nothing is ever loaded
// over the network or from files).
var ErrInvalidSchema = errors.New("schema: invalid schema")

// ErrNoSchema means no schema is set for the configuration name, or no
// default for the namespace.
var ErrNoSchema = errors.New("schema: no schema")

// printer renders the validator's messages.
var printer = message.NewPrinter(language.English)

// refuseLoader is the compiler's only URL loader: it loads nothing.
type refuseLoader struct{}

func (refuseLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("loading %s refused: a schema cannot fetch anything over the network or from files", u)
}

// compiled is one schema as stored and compiled.
type compiled struct {
	key string
	rev int64
	raw []byte
	sch *jsonschema.Schema

	planOnce sync.Once
	fast     *fastNode // the fast path's plan of sch, or nil for none
}

// plan returns the fast path's plan of c's schema, made on first use, or
// nil when the schema uses keywords the fast path does not follow.
func (c *compiled) plan() *fastNode {
	c.planOnce.Do(func() {
		if n, ok := planFor(c.sch); ok {
			c.fast = n
		}
	})
	return c.fast
}

// compile compiles raw, the document of schema key of namespace ns, under
// draft 2020-12 (unless it names another draft with "$schema") with
// formats asserted and no loading of any resource.
func compile(ns, key string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w %q of namespace %q: not JSON: %w", ErrInvalidSchema, key, ns, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	loc := "confo:///" + url.PathEscape(ns) + "/" + key + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("%w %q of namespace %q: %w", ErrInvalidSchema, key, ns, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("%w %q of namespace %q: %w", ErrInvalidSchema, key, ns, err)
	}
	return sch, nil
}

// Failure is one way a value fails its schema.
type Failure struct {
	// Pointer is the JSON pointer (RFC 6901) of the failing value within the
	// configuration: "/port", "/replicas/0/host"; "" is the whole
	// configuration.
	Pointer string
	// Message says what is wrong ("got string, want integer").
	Message string
}

// ValidationError says why a configuration fails its schema. It wraps
// [confo.ErrInvalidValue].
type ValidationError struct {
	// Namespace and Name name the configuration.
	Namespace, Name string
	// Schema is the metadata key of the schema ("schema/mysql", or
	// "schema" for the namespace's default) and Revision its revision.
	Schema   string
	Revision int64
	// Failures lists each failure, ordered by pointer.
	Failures []Failure
}

// Error lists the failures: `configuration "mysql" of namespace "db" fails
// schema "schema/mysql": at "/port": got string, want integer`.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration %q of namespace %q fails schema %q: %s", e.Name, e.Namespace, e.Schema, confo.ErrInvalidValue)
	for i, f := range e.Failures {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%sat %s: %s", sep, PointerText(f.Pointer), f.Message)
	}
	return b.String()
}

// Unwrap returns [confo.ErrInvalidValue].
func (e *ValidationError) Unwrap() error { return confo.ErrInvalidValue }

// validate checks value, a decoded configuration, against c; it returns
// nil or a *ValidationError. A value the fast path surely accepts is
// valid; any other goes to the validator, which decides and says why.
func (c *compiled) validate(ns, name string, value any) error {
	if p := c.plan(); p != nil && p.accepts(value) {
		return nil
	}
	err := c.sch.Validate(value)
	if err == nil {
		return nil
	}
	ve := &ValidationError{Namespace: ns, Name: name, Schema: c.key, Revision: c.rev}
	var jve *jsonschema.ValidationError
	if !errors.As(err, &jve) {
		ve.Failures = []Failure{{Message: err.Error()}}
		return ve
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			ve.Failures = append(ve.Failures, Failure{Pointer: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(jve)
	slices.SortStableFunc(ve.Failures, func(a, b Failure) int { return strings.Compare(a.Pointer, b.Pointer) })
	ve.Failures = slices.Compact(ve.Failures)
	return ve
}

// PointerText shows a JSON pointer in a message: quoted, or (root) for
// the whole configuration.
func PointerText(p string) string {
	if p == "" {
		return "(root)"
	}
	return strconv.Quote(p)
}

// pointer returns the JSON pointer of the tokens of a location.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// decode decodes a stored configuration for validation with the Manager's
// decoder (objects, arrays, strings, booleans, nil, and numbers as int64,
// float64 or json.Number, all of which the validator takes).
func decode(raw []byte) (any, error) {
	v, err := jsonvalue.DecodeObject(raw)
	if err != nil {
		return nil, err
	}
	return v, nil
}
