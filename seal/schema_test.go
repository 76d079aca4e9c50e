package seal_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/schema"
	"github.com/confo-go/confo/seal"
)

// TestSchemaBeneath puts a schema layer beneath the seal layer: the schema
// sees what the store holds, so it can require a field to be sealed, and
// never sees (nor quotes in its errors) a sealed field's plaintext.
func TestSchemaBeneath(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	_, err := schema.Wrap(b).Set(ctx, "db", "mysql", []byte(`{"type":"object","properties":{"password":{"type":"string","pattern":"^confo:sealed:v1:"}},"required":["password"]}`))
	require.NoError(t, err)

	m := confo.New(confo.WithLayers(seal.Layer(id), schema.Layer()))
	require.NoError(t, m.AddBackend("s", nopClose{b}))
	require.NoError(t, m.ActivateBackend("s"))
	require.NoError(t, m.UseNamespace(ctx, "db"))
	t.Cleanup(func() { _ = m.Close() })

	// A plain password is refused by the schema (its message quotes the
	// value, which nothing marked to seal).
	err = m.Set("mysql", map[string]any{"password": "plain-" + secret})
	require.ErrorIs(t, err, confo.ErrInvalidValue)

	// A Secret passes: the schema sees it as it will be stored.
	require.NoError(t, m.Set("mysql", map[string]any{"password": seal.Secret(secret)}))
	require.NoError(t, m.Persist(ctx))
	v, err := manager(t, b, "db", id).GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, v)

	// Changed with the identity: sealed again, the schema sees an envelope.
	require.NoError(t, m.SetField("mysql", "password", "second-"+secret))
	require.NoError(t, m.Persist(ctx))
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)

	// Unsealing would store it plain: the schema refuses the commit (its
	// message quotes the value the user chose to store plain).
	require.NoError(t, m.SetField("mysql", "password", "third-"+secret))
	err = m.Persist(seal.AllowUnseal(ctx, "mysql", "password"))
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)
}
