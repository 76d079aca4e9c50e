package memory_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

func TestHistory(t *testing.T) {
	ctx := t.Context()
	b := memory.New()
	r1 := b.Put("app", "db", []byte(`{"v":1}`))
	b.Put("app", "other", []byte(`{}`))
	b.Put("else", "db", []byte(`{"v":0}`))
	r2 := b.Put("app", "db", []byte(`{"v":2}`))
	b.Remove("app", "db")
	r3 := b.Put("app", "db", []byte(`{"v":3}`))

	h, err := b.History(ctx, "app", "db", 0)
	require.NoError(t, err)
	require.Len(t, h, 4)
	assert.Equal(t, confo.Version{Revision: r3, Value: []byte(`{"v":3}`)}, h[0])
	assert.Equal(t, r3-1, h[1].Revision)
	assert.Nil(t, h[1].Value, "the deletion")
	assert.Equal(t, confo.Version{Revision: r2, Value: []byte(`{"v":2}`)}, h[2])
	assert.Equal(t, confo.Version{Revision: r1, Value: []byte(`{"v":1}`)}, h[3])

	h, err = b.History(ctx, "app", "db", 2)
	require.NoError(t, err)
	assert.Len(t, h, 2, "limit")

	v, cur, err := b.Version(ctx, "app", "db", r2)
	require.NoError(t, err)
	assert.Equal(t, confo.Version{Revision: r2, Value: []byte(`{"v":2}`)}, v)
	assert.Equal(t, r3, cur)
	v, cur, err = b.Version(ctx, "app", "db", r3)
	require.NoError(t, err)
	assert.Equal(t, r3, v.Revision)
	assert.Equal(t, r3, cur)

	_, _, err = b.Version(ctx, "app", "db", r1+1)
	require.ErrorIs(t, err, confo.ErrRevisionNotFound, "another key's revision")
	_, err = b.History(ctx, "app", "nope", 0)
	require.ErrorIs(t, err, confo.ErrConfigNotFound)

	b.Compact(r2 + 1)
	h, err = b.History(ctx, "app", "db", 0)
	require.NoError(t, err)
	assert.Len(t, h, 2, "the current version and the deletion after the compaction")
	_, _, err = b.Version(ctx, "app", "db", r1)
	require.ErrorIs(t, err, confo.ErrRevisionNotFound)
	assert.Contains(t, err.Error(), "compacted")

	require.NoError(t, b.Close())
	_, err = b.History(ctx, "app", "db", 0)
	require.ErrorIs(t, err, confo.ErrClosed)
}
