package seal

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
)

// Environment variables read by [IdentitiesFromEnv].
const (
	// EnvIdentity holds identities (age secret keys), one a line.
	EnvIdentity = "CONFO_IDENTITY"
	// EnvIdentityFile names a file of identities, as age-keygen writes.
	EnvIdentityFile = "CONFO_IDENTITY_FILE"
)

// ErrNoIdentity means no identity was found where one was looked for.
var ErrNoIdentity = errors.New("seal: no identity")

// ParseRecipient parses one native age recipient: an X25519 recipient
// ("age1...") or a hybrid post-quantum one ("age1pq1..."). Other kinds (SSH
// keys, plugins) are refused. The recipient string itself is not secret and
// appears in errors.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "age1pq1") {
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("seal: recipient %q: %w", s, err)
		}
		return r, nil
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, fmt.Errorf("seal: recipient %q: %w", s, err)
	}
	return r, nil
}

// ParseIdentities parses identities (age secret keys), one a line; empty
// lines and lines starting with # are ignored, as in age-keygen's files.
// Its errors never quote the text.
func ParseIdentities(text string) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		return nil, errors.New("seal: identities do not parse as age secret keys")
	}
	return ids, nil
}

// ReadIdentityFile reads identities from the file at path (age-keygen's
// format, or what [GenerateIdentity] returns).
func ReadIdentityFile(path string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: identity file: %w", err)
	}
	ids, err := ParseIdentities(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return ids, nil
}

// IdentitiesFromEnv returns the identities of the environment: those in
// CONFO_IDENTITY, then those of the file CONFO_IDENTITY_FILE names. It
// returns ErrNoIdentity when neither is set.
func IdentitiesFromEnv() ([]age.Identity, error) {
	var ids []age.Identity
	if text := os.Getenv(EnvIdentity); text != "" {
		got, err := ParseIdentities(text)
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, EnvIdentity)
		}
		ids = append(ids, got...)
	}
	if path := os.Getenv(EnvIdentityFile); path != "" {
		got, err := ReadIdentityFile(path)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: set %s or %s", ErrNoIdentity, EnvIdentity, EnvIdentityFile)
	}
	return ids, nil
}

// RecipientOf returns the recipient string of a native identity (X25519 or
// hybrid), or false for another kind.
func RecipientOf(id age.Identity) (string, bool) {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String(), true
	case *age.HybridIdentity:
		return id.Recipient().String(), true
	}
	return "", false
}

// GenerateIdentity returns a new identity file's text, in age-keygen's
// format (a comment with the public key, then the secret key), and the
// recipient. postQuantum chooses a hybrid ML-KEM-768 + X25519 key; age
// refuses to mix hybrid and X25519 recipients in one namespace.
func GenerateIdentity(postQuantum bool) (file, recipient string, err error) {
	var secret string
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return "", "", fmt.Errorf("seal: keygen: %w", err)
		}
		secret, recipient = id.String(), id.Recipient().String()
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return "", "", fmt.Errorf("seal: keygen: %w", err)
		}
		secret, recipient = id.String(), id.Recipient().String()
	}
	return "# public key: " + recipient + "\n" + secret + "\n", recipient, nil
}
