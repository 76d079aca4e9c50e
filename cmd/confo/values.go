package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/jsonvalue"
)

// assignment is one FIELD=VALUE or FIELD:=JSON argument of set.
type assignment struct {
	field string
	value any
}

// parseAssignments reads set's arguments, httpie's syntax: FIELD=VALUE
// stores VALUE as a string, exactly as typed; FIELD:=JSON stores any JSON
// value. JSON that does not parse, a number that the store would not keep
// exactly, an empty field and a field given twice are usage errors naming
// the argument: nothing is guessed.
func parseAssignments(args []string) ([]assignment, error) {
	var out []assignment
	seen := map[string]string{}
	for _, arg := range args {
		a, err := parseAssignment(arg)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[a.field]; ok {
			return nil, usagef("arguments %q and %q both set field %q: give it once", prev, arg, a.field)
		}
		seen[a.field] = arg
		out = append(out, a)
	}
	return out, nil
}

// parseAssignment reads one argument of set.
func parseAssignment(arg string) (assignment, error) {
	field, value, ok := strings.Cut(arg, "=")
	if !ok {
		return assignment{}, usagef("argument %q: want FIELD=STRING or FIELD:=JSON", arg)
	}
	field, isJSON := strings.CutSuffix(field, ":")
	if field == "" {
		return assignment{}, usagef("argument %q: the field name is empty", arg)
	}
	if !utf8.ValidString(field) {
		return assignment{}, usagef("argument %q: the field name is not valid UTF-8", arg)
	}
	if !isJSON {
		return assignment{field, value}, nil
	}
	v, err := parseJSON(field, value)
	if err != nil {
		return assignment{}, usagef("argument %q: %v", arg, err)
	}
	return assignment{field, v}, nil
}

// parseJSON decodes exactly one JSON value, its numbers normalized as the
// manager stores them (int64 or float64), and refuses a number whose stored
// form would differ from what was typed.
func parseJSON(field, s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf(`empty JSON value (for an empty string, write %s=)`, field)
	}
	asString := fmt.Sprintf("for the string, write %s=%s", field, s)
	if leadingZero.MatchString(s) {
		return nil, fmt.Errorf("not valid JSON: a number has no leading zero; %s", asString)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON (%v); %s", err, asString)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("not valid JSON: data after the value; %s", asString)
	}
	v, err := exactNumbers(v)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, asString)
	}
	return v, nil
}

// leadingZero matches a number with a leading zero, which JSON forbids.
var leadingZero = regexp.MustCompile(`^\s*-?0[0-9]`)

// exactNumbers replaces each json.Number in v by what the manager stores
// for it (int64, float64, or the json.Number itself when neither holds its
// digits), and fails for a number whose stored form would not equal it
// exactly: a guard, should the store's number rule ever lose digits.
func exactNumbers(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			x, err := exactNumbers(e)
			if err != nil {
				return nil, err
			}
			v[k] = x
		}
	case []any:
		for i, e := range v {
			x, err := exactNumbers(e)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
	case json.Number:
		stored, err := jsonvalue.Number(string(v))
		if err != nil {
			return nil, fmt.Errorf("the %w", err)
		}
		typed, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return nil, fmt.Errorf("number %s: invalid", v)
		}
		// The stored number is written back as its shortest decimal form
		// (strconv's 'g', -1), so it keeps what was typed when that form
		// has the same value: 0.1 and 1e3 do, 12345678901234567890 does
		// not.
		var kept *big.Rat
		switch n := stored.(type) {
		case int64:
			kept = new(big.Rat).SetInt64(n)
		case float64:
			kept, _ = new(big.Rat).SetString(strconv.FormatFloat(n, 'g', -1, 64))
		case json.Number: // kept as typed: beyond int64, or more digits than float64 holds
			kept, _ = new(big.Rat).SetString(string(n))
		}
		if kept == nil || kept.Cmp(typed) != 0 {
			return nil, fmt.Errorf("the number %s would be stored as %s, losing digits",
				v, compact(stored))
		}
		return stored, nil
	}
	return v, nil
}

// checkNames validates namespace and configuration names given as
// arguments, before any I/O: an invalid one is a usage error naming the
// argument ("NS", "NAME") and the rule it breaks. pairs alternate the
// argument's role and its value.
func checkNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := confo.ValidateName(pairs[i+1]); err != nil {
			return usageError{fmt.Errorf("%s: %w", pairs[i], err)}
		}
	}
	return nil
}
