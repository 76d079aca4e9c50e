package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	goccy "github.com/goccy/go-json"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// A codec is one way to do what internal/jsonvalue does for the Manager:
// decode a stored configuration (exactly one JSON object, in valid UTF-8)
// into the normalized values (map[string]any, []any, string, bool, nil, and
// numbers as jsonvalue.Number reads them: int64 for whole numbers within
// int64's range, float64 when it holds the decimal exactly, json.Number
// otherwise), and
// encode normalized values as compact JSON with sorted keys and no HTML
// escaping. BenchmarkCodecDecode and BenchmarkCodecEncode measure each on
// the workload's configurations, after checking that it gives the same
// values and bytes as jsonvalue.
type codec struct {
	lib string
	// newDecoder returns the decode function of one load (Reload uses one
	// jsonvalue.Decoder per namespace it loads); nil if lib only encodes.
	newDecoder func() func(raw []byte) (map[string]any, error)
	// encode returns a new slice: Persist keeps the bytes it stores. Nil if
	// lib only decodes (a second decode variant of the same library).
	encode func(obj map[string]any) ([]byte, error)
	// exact reports whether numbers keep their value as jsonvalue keeps
	// it: int64, float64 when it holds the decimal exactly, json.Number
	// (the digits) otherwise. The -float variants read every number as a
	// float64 first (exact for integers only up to 2^53), sonic-int64 reads
	// integers beyond int64 and decimals as float64.
	exact bool
	// escapes says how encode's bytes differ from encoding/json's (the
	// same values, other escapes); empty when they are the same bytes.
	escapes string
}

// codecs are the candidates; jsoncodec_v2_test.go adds encoding/json/v2
// when the toolchain is built with GOEXPERIMENT=jsonv2.
var codecs = []codec{
	{
		lib: "jsonvalue",
		newDecoder: func() func([]byte) (map[string]any, error) {
			var d jsonvalue.Decoder
			return d.DecodeObject
		},
		encode: func(obj map[string]any) ([]byte, error) {
			raw, ok := jsonvalue.AppendObject(nil, obj)
			if !ok {
				return nil, errors.New("jsonvalue: not a normalized value")
			}
			return raw, nil
		},
		exact: true,
	},
	{
		// jsonvalue.AppendObject into one scratch buffer reused for every
		// configuration, then copied out at its size: what Persist could do
		// without changing jsonvalue (AppendObject(nil, ...) grows a new
		// buffer from nothing for each configuration).
		lib: "jsonvalue-scratch",
		encode: func() func(map[string]any) ([]byte, error) {
			var scratch []byte
			return func(obj map[string]any) ([]byte, error) {
				raw, ok := jsonvalue.AppendObject(scratch[:0], obj)
				if !ok {
					return nil, errors.New("jsonvalue: not a normalized value")
				}
				scratch = raw
				return bytes.Clone(raw), nil
			}
		}(),
		exact: true,
	},
	{
		// What value.go's decodeObjectStd and encodeValueStd do: Confo's
		// fallback and the oracle of its fuzz tests.
		lib:        "std",
		newDecoder: func() func([]byte) (map[string]any, error) { return stdDecode },
		encode:     stdEncode,
		exact:      true,
	},
	{
		// The plain json.Unmarshal the raw Reload baseline uses, then the
		// number rule on the float64s.
		lib:        "std-float",
		newDecoder: func() func([]byte) (map[string]any, error) { return stdDecodeFloat },
		exact:      false,
	},
	{
		// goccy offers UseNumber only on its stream Decoder.
		lib:        "goccy",
		newDecoder: func() func([]byte) (map[string]any, error) { return goccyDecode },
		encode: func(obj map[string]any) ([]byte, error) {
			return goccy.MarshalWithOption(obj, goccy.DisableHTMLEscape()) // keys sorted by default
		},
		exact: true,
	},
	{
		lib:        "goccy-float",
		newDecoder: func() func([]byte) (map[string]any, error) { return goccyDecodeFloat },
		exact:      false,
	},
	{
		lib:        "sonic",
		newDecoder: func() func([]byte) (map[string]any, error) { return sonicDecode(sonicNumber, numbers) },
		encode:     func(obj map[string]any) ([]byte, error) { return sonicEncode.Marshal(obj) },
		exact:      true,
		escapes:    `U+2028 and U+2029 unescaped; \b and \f as \u0008 and \u000c`,
	},
	{
		// Integers straight to int64; decimals and exponents as float64.
		lib:        "sonic-int64",
		newDecoder: func() func([]byte) (map[string]any, error) { return sonicDecode(sonicInt64, floats) },
		exact:      false,
	},
}

// sonic's decoders validate strings (control characters refused, as
// encoding/json refuses them).
var (
	sonicNumber = sonic.Config{UseNumber: true, ValidateString: true}.Froze()
	sonicInt64  = sonic.Config{UseInt64: true, ValidateString: true}.Froze()
	sonicEncode = sonic.Config{SortMapKeys: true, EscapeHTML: false}.Froze()
)

var (
	errInvalidUTF8 = errors.New("not valid UTF-8")
	errNotObject   = errors.New("not a JSON object")
	errTrailing    = errors.New("data after the JSON object")
)

// object returns v as a JSON object, or errNotObject.
func object(v any) (map[string]any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return obj, nil
}

// stdDecode is value.go's decodeObjectStd.
func stdDecode(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	obj, err := object(v)
	if err != nil {
		return nil, err
	}
	return obj, numbers(obj)
}

// stdEncode is value.go's encodeValueStd.
func stdEncode(obj map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func stdDecodeFloat(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errInvalidUTF8
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	obj, err := object(v)
	if err != nil {
		return nil, err
	}
	return obj, floats(obj)
}

func goccyDecode(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errInvalidUTF8
	}
	dec := goccy.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errTrailing
	}
	obj, err := object(v)
	if err != nil {
		return nil, err
	}
	return obj, numbers(obj)
}

func goccyDecodeFloat(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errInvalidUTF8
	}
	var v any
	if err := goccy.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	obj, err := object(v)
	if err != nil {
		return nil, err
	}
	return obj, floats(obj)
}

// sonicDecode decodes with api and applies the number rule with rule
// (numbers after UseNumber, floats after UseInt64). sonic does not check
// UTF-8: that is done here.
func sonicDecode(api sonic.API, rule func(any) error) func([]byte) (map[string]any, error) {
	return func(raw []byte) (map[string]any, error) {
		if !utf8.Valid(raw) {
			return nil, errInvalidUTF8
		}
		var v any
		if err := api.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		obj, err := object(v)
		if err != nil {
			return nil, err
		}
		return obj, rule(obj)
	}
}

// numbers replaces every json.Number in v by its normalized value, in
// place, with the rule jsonvalue applies: value.go's normalizeNumbers.
func numbers(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			x, err := number(e)
			if err != nil {
				return err
			}
			v[k] = x
		}
	case []any:
		for i, e := range v {
			x, err := number(e)
			if err != nil {
				return err
			}
			v[i] = x
		}
	}
	return nil
}

func number(e any) (any, error) {
	switch e := e.(type) {
	case json.Number:
		return jsonvalue.Number(string(e))
	case map[string]any, []any:
		return e, numbers(e)
	}
	return e, nil
}

// floats applies the number rule to values decoded as float64, which may
// already have lost digits: a whole number within int64's range becomes
// int64. Exact for integers only up to 2^53, where float64 stops holding
// every integer, and never a json.Number. It never fails.
func floats(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = float(e)
		}
	case []any:
		for i, e := range v {
			v[i] = float(e)
		}
	}
	return nil
}

func float(e any) any {
	switch x := e.(type) {
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return int64(x)
		}
	case map[string]any, []any:
		floats(x)
	}
	return e
}

// storedValues returns configurations 0..n-1 as Confo stores them and as
// Set normalizes them.
func storedValues(n int) (raw [][]byte, values []map[string]any) {
	raw = make([][]byte, n)
	values = make([]map[string]any, n)
	for i := range n {
		v, ok := jsonvalue.Normalize(config(i))
		if !ok {
			panic(fmt.Sprintf("configuration %d is not plain", i))
		}
		values[i] = v
		raw[i], _ = jsonvalue.AppendObject(nil, v)
	}
	return raw, values
}
