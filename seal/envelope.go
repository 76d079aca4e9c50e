package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

// Prefix starts every sealed value: a sealed field is stored as the JSON
// string Prefix + the fingerprint of the recipients it is sealed to (see
// [Fingerprint]) + ":" + base64 (standard alphabet, no padding) of an age
// file. The fingerprint in clear lets a rotation skip values already sealed
// to the current recipients without opening them; opening checks it
// against the one sealed inside.
const Prefix = "confo:sealed:v1:"

// payloadVersion is the version of the JSON document inside the age file.
const payloadVersion = 1

// Errors. Every error about a sealed value that cannot be opened wraps
// ErrSealed; the more precise ones wrap it too, so errors.Is(err, ErrSealed)
// holds for all of them.
var (
	// ErrSealed means a sealed value could not be opened: it is not a
	// well-formed envelope, no identity opens it, or it does not belong
	// where it was found.
	ErrSealed = errors.New("seal: sealed value cannot be opened")
	// ErrWrongIdentity means none of the identities given opens the value:
	// it was sealed to other recipients.
	ErrWrongIdentity = fmt.Errorf("%w: no identity matches its recipients", ErrSealed)
	// ErrWrongPlace means the value opened but was sealed for another
	// namespace, configuration or field: it was moved.
	ErrWrongPlace = fmt.Errorf("%w: sealed for another place", ErrSealed)
	// ErrReplayed means the value opened, in its place, but is older than
	// a value already seen there: an old ciphertext written back.
	ErrReplayed = fmt.Errorf("%w: older than a value already seen in its place", ErrSealed)
	// ErrPlaintext means a Commit would write a plain value over a sealed
	// field without the identities to seal it or an explicit unseal.
	ErrPlaintext = errors.New("seal: plain value for a sealed field")
	// ErrNoRecipients means the namespace has no recipients to seal to
	// (see [Backend.SetRecipients]).
	ErrNoRecipients = errors.New("seal: namespace has no recipients")
)

// Place names where a sealed value lives: it is authenticated inside the
// sealed envelope.
type Place struct {
	Namespace, Name, Field string
}

// String returns ns/name.field, quoted where needed.
func (p Place) String() string {
	return fmt.Sprintf("%q/%q.%q", p.Namespace, p.Name, p.Field)
}

// OpenError says which sealed value could not be opened and why. It wraps
// ErrSealed and the precise cause; it never holds the value.
type OpenError struct {
	// Place is where the value was found.
	Place Place
	// SealedFor is where the value was sealed for, when it opened but was
	// found elsewhere (ErrWrongPlace).
	SealedFor *Place
	// Err is the cause: ErrWrongIdentity, ErrWrongPlace, ErrReplayed or a
	// format error.
	Err error
}

// Error names the place and the cause.
func (e *OpenError) Error() string {
	if e.SealedFor != nil {
		return fmt.Sprintf("open sealed field %s: %v (sealed for %s)", e.Place, e.Err, *e.SealedFor)
	}
	return fmt.Sprintf("open sealed field %s: %v", e.Place, e.Err)
}

// Unwrap returns ErrSealed and the cause.
func (e *OpenError) Unwrap() []error { return []error{ErrSealed, e.Err} }

// payload is the JSON document inside the age file.
type payload struct {
	V         int             `json:"v"`
	Namespace string          `json:"ns"`
	Name      string          `json:"name"`
	Field     string          `json:"field"`
	Rev       int64           `json:"rev"` // store revision the write was based on; 0 for unordered stores
	Keys      string          `json:"keys"`
	Value     json.RawMessage `json:"value"`
}

// IsSealed reports whether v, a field's value, is a sealed envelope: a
// string starting with [Prefix]. A manager without identities sees sealed
// fields as such strings.
func IsSealed(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, Prefix)
}

// isSealedRaw reports whether raw, a JSON value, is a sealed envelope.
func isSealedRaw(raw []byte) bool {
	return len(raw) > len(Prefix)+1 && raw[0] == '"' && bytes.HasPrefix(raw[1:], []byte(Prefix))
}

// hintOf returns the recipients fingerprint an envelope shows in clear.
func hintOf(raw []byte) string {
	s := strings.TrimSuffix(strings.TrimPrefix(string(raw), `"`+Prefix), `"`)
	hint, _, _ := strings.Cut(s, ":")
	return hint
}

// containsPrefix reports whether raw may hold a sealed field.
func containsPrefix(raw []byte) bool { return bytes.Contains(raw, []byte(Prefix)) }

// Fingerprint identifies a set of recipients: the first 8 bytes, in hex, of
// the SHA-256 of their sorted string forms. Each sealed value records the
// fingerprint it was sealed to, so a rotation knows what is left to do.
func Fingerprint(recipients []string) string {
	sorted := slices.Clone(recipients)
	slices.Sort(sorted)
	h := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return hex.EncodeToString(h[:8])
}

// keyring is a namespace's recipients, parsed.
type keyring struct {
	strs        []string
	recipients  []age.Recipient
	fingerprint string
}

func newKeyring(strs []string) (*keyring, error) {
	k := &keyring{strs: strs, fingerprint: Fingerprint(strs)}
	for _, s := range strs {
		r, err := ParseRecipient(s)
		if err != nil {
			return nil, err
		}
		k.recipients = append(k.recipients, r)
	}
	if len(k.recipients) == 0 {
		return nil, ErrNoRecipients
	}
	return k, nil
}

// sealValue seals value (a JSON value) for place p, based on revision rev,
// to keys, and returns the JSON string of the envelope.
func sealValue(keys *keyring, p Place, rev int64, value []byte) ([]byte, error) {
	var doc bytes.Buffer
	enc := json.NewEncoder(&doc)
	enc.SetEscapeHTML(false) // the value comes back byte for byte as the Manager encodes it
	if err := enc.Encode(payload{V: payloadVersion, Namespace: p.Namespace, Name: p.Name, Field: p.Field, Rev: rev, Keys: keys.fingerprint, Value: value}); err != nil {
		return nil, fmt.Errorf("seal field %s: %w", p, err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, keys.recipients...)
	if err != nil {
		return nil, fmt.Errorf("seal field %s: age: %w", p, err)
	}
	if _, err := w.Write(doc.Bytes()); err != nil {
		return nil, fmt.Errorf("seal field %s: age: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal field %s: age: %w", p, err)
	}
	b64 := base64.RawStdEncoding
	out := make([]byte, 0, 2+len(Prefix)+b64.EncodedLen(buf.Len()))
	out = append(out, '"')
	out = append(out, Prefix...)
	out = append(out, keys.fingerprint...)
	out = append(out, ':')
	out = b64.AppendEncode(out, buf.Bytes())
	return append(out, '"'), nil
}

// opened is a sealed value after opening.
type opened struct {
	value []byte // the JSON value
	rev   int64
	keys  string
}

// openValue opens raw, the JSON string of an envelope found at place p,
// with ids, and checks that it was sealed for p. It does not check replay.
func openValue(ids []age.Identity, p Place, raw []byte) (opened, error) {
	fail := func(err error) (opened, error) { return opened{}, &OpenError{Place: p, Err: err} }
	if !isSealedRaw(raw) || raw[len(raw)-1] != '"' {
		return fail(errors.New("not a sealed envelope"))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fail(errors.New("envelope is not a JSON string"))
	}
	hint, b64, ok := strings.Cut(s[len(Prefix):], ":")
	if !ok {
		return fail(errors.New("envelope has no recipients fingerprint"))
	}
	bin, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return fail(errors.New("envelope is not base64"))
	}
	if len(ids) == 0 {
		return fail(ErrWrongIdentity)
	}
	// DecryptReaderAt authenticates the (single, small) chunk up front and
	// allocates far less than Decrypt's streaming reader.
	r, size, err := age.DecryptReaderAt(bytes.NewReader(bin), int64(len(bin)), ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return fail(ErrWrongIdentity)
		}
		return fail(fmt.Errorf("age: %w", err))
	}
	if size > int64(len(bin)) {
		return fail(errors.New("age: plaintext larger than its file"))
	}
	doc := make([]byte, size)
	if _, err := r.ReadAt(doc, 0); err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("age: %w", err))
	}
	var pl payload
	if err := json.Unmarshal(doc, &pl); err != nil || pl.V != payloadVersion || len(pl.Value) == 0 {
		return fail(errors.New("sealed payload is not a version 1 document"))
	}
	if got := (Place{pl.Namespace, pl.Name, pl.Field}); got != p {
		return opened{}, &OpenError{Place: p, SealedFor: &got, Err: ErrWrongPlace}
	}
	if hint != pl.Keys {
		return fail(errors.New("the envelope's recipients fingerprint differs from the sealed one"))
	}
	return opened{value: pl.Value, rev: pl.Rev, keys: pl.Keys}, nil
}
