package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"filippo.io/age"
)

// pendingPrefix starts the JSON string a [SecretValue] encodes to: the value
// sealed to a key that lives only in this process's memory, for a seal
// layer of this process to seal again to the namespace's recipients when
// it is committed.
const pendingPrefix = "confo:seal-pending:v1:"

// ErrNoLayer means a [Secret] was encoded in a process that has no seal
// layer: it would reach the store unsealed by anyone.
var ErrNoLayer = errors.New("seal: Secret used without a seal layer (confo.WithLayers(seal.Layer(...)))")

// layers counts the seal layers this process has made.
var layers atomic.Int64

// processKey is the key pending secrets are sealed to; it never leaves the
// process.
var processKey = sync.OnceValues(age.GenerateX25519Identity)

// SecretValue is a value to be sealed: see [Secret].
type SecretValue struct{ value any }

// Secret marks v, any JSON value, as a field to seal: a top-level field of
// a configuration (a Secret nested deeper is refused at Commit). With a
// seal layer in the Manager,
// m.SetField("mysql", "password", seal.Secret("hunter2")) stores the field
// sealed to the namespace's recipients, from then on sealed on every write. Setting a field that is already sealed needs no
// mark when the manager has identities.
//
// A SecretValue never encodes to its plaintext: its JSON form is the value
// sealed to a key that lives only in this process, which the seal layer
// opens at Commit. Encoding one fails with ErrNoLayer while the process has
// made no seal layer, so Set refuses it. Formatting it with fmt or slog
// prints no value.
//
// The Manager that set it keeps the pending form (a string starting
// "confo:seal-pending:v1:") in its view, not the plaintext, until the
// configuration changes in the store (its view holds what it committed);
// other managers see the plaintext or the envelope. A manager with
// identities that wants the plaintext in its own view sets the field plain
// and persists with [Mark] instead.
func Secret(v any) SecretValue { return SecretValue{value: v} }

// MarshalJSON returns the pending form, or ErrNoLayer.
func (s SecretValue) MarshalJSON() ([]byte, error) {
	if layers.Load() == 0 {
		return nil, ErrNoLayer
	}
	plain, err := json.Marshal(s.value)
	if err != nil {
		return nil, fmt.Errorf("seal: secret value: %w", err)
	}
	id, err := processKey()
	if err != nil {
		return nil, fmt.Errorf("seal: process key: %w", err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		return nil, fmt.Errorf("seal: age: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("seal: age: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal: age: %w", err)
	}
	return json.Marshal(pendingPrefix + base64.RawStdEncoding.EncodeToString(buf.Bytes()))
}

// String returns a redacted form.
func (s SecretValue) String() string { return "seal.Secret(<redacted>)" }

// GoString returns a redacted form.
func (s SecretValue) GoString() string { return s.String() }

// LogValue returns a redacted form.
func (s SecretValue) LogValue() slog.Value { return slog.StringValue(s.String()) }

// isPendingRaw reports whether raw, a JSON value, is a pending secret.
func isPendingRaw(raw []byte) bool {
	return len(raw) > len(pendingPrefix)+1 && raw[0] == '"' && bytes.HasPrefix(raw[1:], []byte(pendingPrefix))
}

// openPending returns the JSON value a pending secret holds.
func openPending(raw []byte) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errors.New("pending secret is not a JSON string")
	}
	bin, err := base64.RawStdEncoding.DecodeString(s[len(pendingPrefix):])
	if err != nil {
		return nil, errors.New("pending secret is not base64")
	}
	id, err := processKey()
	if err != nil {
		return nil, fmt.Errorf("process key: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(bin), id)
	if err != nil {
		return nil, errors.New("pending secret was made by another process (set it again with seal.Secret)")
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("pending secret: %w", err)
	}
	return plain, nil
}
