package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// pretty returns value as indented JSON with sorted keys, as the editor
// shows it. Sealed values appear as they are stored (they are ciphertext).
func pretty(value any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(value); err != nil {
		return fmt.Sprintf("%v", value) // unreachable for decoded JSON
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// parseObject decodes text as a JSON object, keeping numbers exact.
func parseObject(text string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("not valid JSON: text after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a configuration must be a JSON object, not %s", kind(v))
	}
	return obj, nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// isSealed reports whether v is a sealed value.
func isSealed(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, SealedPrefix)
}

// masked returns value with every sealed string replaced by a mask that
// names a digest of the envelope (so that a diff still shows a change), for
// previews and diffs.
func masked(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = masked(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = masked(e)
		}
		return out
	}
	if isSealed(v) {
		sum := sha256.Sum256([]byte(v.(string)))
		return "••••• sealed #" + hex.EncodeToString(sum[:4])
	}
	return v
}

// preview returns a one-line, masked, shortened rendering of value.
func preview(value map[string]any, max int) string {
	b, err := json.Marshal(masked(value))
	if err != nil {
		return ""
	}
	s := string(b)
	if len(s) > max {
		cut := max
		for cut > 0 && !utfStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utfStart(b byte) bool { return b&0xC0 != 0x80 }

// viewHTML renders value as indented, highlighted JSON with sealed strings
// masked; with reveal, each mask is a button naming the value's JSON
// pointer, for the Revealer.
func viewHTML(value map[string]any, reveal bool) template.HTML {
	var b strings.Builder
	writeView(&b, value, "", 0, reveal)
	return template.HTML(b.String()) // every piece of data below is escaped
}

func writeView(b *strings.Builder, v any, ptr string, depth int, reveal bool) {
	indent := strings.Repeat("  ", depth)
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range v {
				if !yield(k) {
					return
				}
			}
		})
		b.WriteString("{\n")
		for i, k := range keys {
			kb, _ := json.Marshal(k)
			fmt.Fprintf(b, "%s  <span class=\"k\">%s</span>: ", indent, template.HTMLEscapeString(string(kb)))
			writeView(b, v[k], ptr+"/"+escapePointer(k), depth+1, reveal)
			if i < len(keys)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range v {
			b.WriteString(indent + "  ")
			writeView(b, e, ptr+"/"+strconv.Itoa(i), depth+1, reveal)
			if i < len(v)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "]")
	default:
		if isSealed(v) {
			if reveal {
				fmt.Fprintf(b, "<button type=\"button\" class=\"sealed\" data-ptr=\"%s\" title=\"Reveal this sealed value\">••••• sealed</button>", template.HTMLEscapeString(ptr))
			} else {
				b.WriteString("<span class=\"sealed\" title=\"Sealed value\">••••• sealed</span>")
			}
			return
		}
		raw, err := json.Marshal(v)
		if err != nil {
			raw = []byte("?")
		}
		class := "n"
		switch v.(type) {
		case string:
			class = "s"
		case bool:
			class = "b"
		case nil:
			class = "z"
		}
		fmt.Fprintf(b, "<span class=\"%s\">%s</span>", class, template.HTMLEscapeString(string(raw)))
	}
}

// escapePointer escapes one JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// lookupPointer returns the value at JSON pointer ptr of v.
func lookupPointer(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			e, ok := c[tok]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// merge re-applies the user's change (base to mine) onto theirs, the
// store's value now, key by key at the top level: a key the user added,
// changed or removed takes the user's version; the others keep theirs.
// both lists the keys that both the user and the other writer changed
// differently (the user's version wins; the page says so).
func merge(base, mine, theirs map[string]any) (merged map[string]any, both []string) {
	merged = make(map[string]any, len(theirs))
	for k, v := range theirs {
		merged[k] = v
	}
	keys := make(map[string]bool)
	for k := range base {
		keys[k] = true
	}
	for k := range mine {
		keys[k] = true
	}
	for k := range keys {
		b, inBase := base[k]
		m, inMine := mine[k]
		if inBase == inMine && equalJSON(b, m) {
			continue // the user did not touch k
		}
		t, inTheirs := theirs[k]
		if (inTheirs != inBase || !equalJSON(t, b)) && (inTheirs != inMine || !equalJSON(t, m)) {
			both = append(both, k)
		}
		if inMine {
			merged[k] = m
		} else {
			delete(merged, k)
		}
	}
	slices.Sort(both)
	return merged, both
}

// equalJSON compares two decoded JSON values by their encoding, so that
// json.Number("1") equals int64(1).
func equalJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
