package credential_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/internal/credential"
)

func TestOpener(t *testing.T) {
	errParse, errOpen := errors.New("parse"), errors.New("open")
	parse := func(creds confo.Credentials) (string, error) {
		if err := credential.Known(creds, "name"); err != nil {
			return "", errors.Join(errParse, err)
		}
		s, _, err := credential.String(creds, "name")
		return s, err
	}
	var opened []string
	open := func(_ context.Context, name string) (*memory.Backend, error) {
		if name == "refused" {
			return nil, errOpen
		}
		opened = append(opened, name)
		return memory.New(), nil
	}
	fn := credential.Opener(parse, open)

	b, err := fn(t.Context(), confo.Credentials{"name": "a"})
	require.NoError(t, err)
	assert.IsType(t, &memory.Backend{}, b)
	assert.Equal(t, []string{"a"}, opened)

	b, err = fn(t.Context(), confo.Credentials{"nmae": "b"})
	require.ErrorIs(t, err, errParse)
	require.ErrorIs(t, err, confo.ErrInvalidCredentials)
	assert.Nil(t, b)
	assert.Equal(t, []string{"a"}, opened, "nothing is opened with credentials that do not parse")

	b, err = fn(t.Context(), confo.Credentials{"name": "refused"})
	require.ErrorIs(t, err, errOpen)
	assert.True(t, b == nil, "an untyped nil Backend, not a nil *memory.Backend")
}
