//go:build goexperiment.jsonv2

package bench

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"unicode/utf8"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// build names the toolchain's JSON experiment in every benchmark of this
// build: with GOEXPERIMENT=jsonv2, encoding/json (v1) itself runs on the v2
// implementation, so its figures are not those of a default build.
const build = "+jsonv2"

func init() {
	codecs = append(codecs,
		codec{
			// Numbers read exactly by an unmarshaler for every any value:
			// the way the v2 documentation gives to keep precision.
			lib: "v2",
			newDecoder: func() func([]byte) (map[string]any, error) {
				return func(raw []byte) (map[string]any, error) { return v2Decode(raw, v2Exact, false) }
			},
			encode: func(obj map[string]any) ([]byte, error) {
				return jsonv2.Marshal(obj, v2Encode)
			},
			exact: true,
		},
		codec{
			lib: "v2-float",
			newDecoder: func() func([]byte) (map[string]any, error) {
				return func(raw []byte) (map[string]any, error) { return v2Decode(raw, v2Float, true) }
			},
			exact: false,
		},
	)
}

var (
	// v1's acceptance: duplicate names (the last wins) and invalid \u
	// surrogate escapes (read as U+FFFD); raw invalid UTF-8 is refused
	// before decoding, as Confo refuses it.
	v2Accept = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	v2Float  = v2Accept
	v2Exact  = jsonv2.JoinOptions(v2Accept, jsonv2.WithUnmarshalers(
		jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *any) error {
			if dec.PeekKind() != '0' {
				return jsonv2.SkipFunc
			}
			raw, err := dec.ReadValue()
			if err != nil {
				return err
			}
			n, err := jsonvalue.Number(string(raw))
			if err != nil {
				return err
			}
			*v = n
			return nil
		})))
	// Sorted keys, and U+2028 and U+2029 escaped as encoding/json (v1)
	// escapes them; v2 escapes no HTML by default.
	v2Encode = jsonv2.JoinOptions(jsonv2.Deterministic(true), jsontext.EscapeForJS(true))
)

func v2Decode(raw []byte, opts jsonv2.Options, float bool) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errInvalidUTF8
	}
	var v any
	if err := jsonv2.Unmarshal(raw, &v, opts); err != nil {
		return nil, err
	}
	obj, err := object(v)
	if err != nil {
		return nil, err
	}
	if float {
		return obj, floats(obj)
	}
	return obj, nil
}
