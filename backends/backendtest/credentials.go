package backendtest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// Credentials tells [RunCredentials] how a backend's credentials look. Only
// Kind and Valid are required; the other fields name the keys the rules
// concern, and a rule whose keys a backend lacks does not apply to it.
type Credentials struct {
	// Kind is the backend type the package registers: the suite loads it
	// with [confo.Manager.LoadBackend], as a program would.
	Kind confo.BackendType

	// Valid returns credentials that load the backend: with an address of
	// a running server for a network store, a fresh directory for files.
	// The suite adds keys to them, and removes some, but never changes the
	// value of a key it keeps.
	Valid func(t testing.TB) confo.Credentials

	// Addresses maps each key that gives a network store's address to a
	// well-formed value of it ("endpoints" and "host" for etcd). One of
	// them is required, and any two together are refused. Empty for a
	// store without an address (file, memory).
	Addresses map[string]any

	// Malformed maps an address key to a value that no store could be
	// reached at ("nonsense" for etcd's "endpoints"): loading must fail at
	// once, before any dial, naming the key.
	Malformed map[string]any

	// User and Password are the keys that authenticate ("user",
	// "password"), when the backend has them: a password without a user is
	// refused.
	User, Password string
}

// secret is a credential value no error may show.
const secret = "S3cret-Credential-Value"

// soon bounds how long a refused LoadBackend may take: refusing bad
// credentials needs no I/O, so it is far below any dial timeout.
const soon = 2 * time.Second

// RunCredentials checks, as subtests of t, the rules every backend's
// credentials follow: Valid credentials load; an unknown key, such as a
// valid key with a typo, is [confo.ErrInvalidCredentials] naming it and the
// nearest valid key ("unknown credential \"endpoint\" (did you mean
// \"endpoints\"?)"); a network store needs an address (there is no local
// default), takes only one kind of address, and refuses a malformed one at
// once; a password without a user is refused; and no error shows a
// credential's value.
func RunCredentials(t *testing.T, c Credentials) {
	t.Helper()
	require.NotEmpty(t, c.Kind, "backendtest: Credentials.Kind is required")
	require.NotNil(t, c.Valid, "backendtest: Credentials.Valid is required")

	t.Run("Valid", func(t *testing.T) {
		creds := c.Valid(t)
		m := confo.New()
		defer m.Close()
		require.NoError(t, m.LoadBackend(t.Context(), "valid", c.Kind, creds))
	})

	t.Run("UnknownKey", func(t *testing.T) {
		creds := c.Valid(t)
		creds["colour"] = secret
		err := refused(t, c.Kind, creds)
		assert.Contains(t, err.Error(), `unknown credential "colour"`)
	})

	t.Run("TypoNamesNearestKey", func(t *testing.T) {
		base := c.Valid(t)
		keys := slices.Sorted(maps.Keys(base))
		for key := range c.Addresses {
			if !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
		}
		for _, key := range keys {
			typo := typoOf(key)
			t.Run(key, func(t *testing.T) {
				creds := c.Valid(t)
				creds[typo] = secret
				err := refused(t, c.Kind, creds)
				assert.Contains(t, err.Error(), `unknown credential "`+typo+`" (did you mean "`+key+`"?)`)
			})
		}
	})

	if len(c.Addresses) > 0 {
		t.Run("AddressRequired", func(t *testing.T) {
			creds := c.withoutAddress(t)
			err := refused(t, c.Kind, creds)
			assert.True(t, namesOneOf(err, slices.Collect(maps.Keys(c.Addresses))),
				"the error names an address key (%v): %v", slices.Sorted(maps.Keys(c.Addresses)), err)
		})
	}

	if len(c.Addresses) > 1 {
		t.Run("OneKindOfAddress", func(t *testing.T) {
			keys := slices.Sorted(maps.Keys(c.Addresses))
			for i, a := range keys {
				for _, b := range keys[i+1:] {
					t.Run(a+"+"+b, func(t *testing.T) {
						creds := c.withoutAddress(t)
						creds[a], creds[b] = c.Addresses[a], c.Addresses[b]
						err := refused(t, c.Kind, creds)
						assert.True(t, namesOneOf(err, []string{a, b}), "the error names %q or %q: %v", a, b, err)
					})
				}
			}
		})
	}

	for key, value := range c.Malformed {
		t.Run("MalformedAddress/"+key, func(t *testing.T) {
			creds := c.withoutAddress(t)
			creds[key] = value
			err := refused(t, c.Kind, creds)
			assert.Contains(t, err.Error(), `"`+key+`"`)
			if s, ok := value.(string); ok && len(s) >= 6 {
				assert.NotContains(t, err.Error(), s, "the error does not show the value")
			}
		})
	}

	if c.Password != "" && c.User != "" {
		t.Run("PasswordNeedsUser", func(t *testing.T) {
			creds := c.Valid(t)
			delete(creds, c.User)
			creds[c.Password] = secret
			err := refused(t, c.Kind, creds)
			assert.Contains(t, err.Error(), `"`+c.User+`"`)
		})
	}
}

// withoutAddress returns valid credentials without any address key.
func (c Credentials) withoutAddress(t testing.TB) confo.Credentials {
	creds := c.Valid(t)
	for key := range c.Addresses {
		delete(creds, key)
	}
	if _, ok := creds["port"]; ok {
		delete(creds, "port") // a port without a host says nothing
	}
	return creds
}

// refused loads kind with creds and requires ErrInvalidCredentials, soon
// and without a dial timing out, with no credential value in the message.
func refused(t *testing.T, kind confo.BackendType, creds confo.Credentials) error {
	t.Helper()
	m := confo.New()
	defer m.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := m.LoadBackend(ctx, "refused", kind, creds)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, confo.ErrInvalidCredentials, "credentials %v", creds)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "refused before any dial")
	assert.Less(t, elapsed, soon, "refused at once, before any dial: %v", err)
	assert.NotContains(t, err.Error(), secret, "the error shows no credential value")
	for key, v := range creds {
		if s, ok := v.(string); ok && len(s) >= 6 && (strings.Contains(key, "pass") || key == "dsn") {
			assert.NotContains(t, err.Error(), s, "the error shows no secret (%q)", key)
		}
	}
	return err
}

// typoOf returns key with a typo: its last letter dropped ("endpoint"), or,
// for keys of three letters or fewer, doubled ("dbb").
func typoOf(key string) string {
	if len(key) <= 3 {
		return key + key[len(key)-1:]
	}
	return key[:len(key)-1]
}

// namesOneOf reports whether err's message quotes one of keys.
func namesOneOf(err error, keys []string) bool {
	for _, k := range keys {
		if strings.Contains(err.Error(), `"`+k+`"`) {
			return true
		}
	}
	return false
}
