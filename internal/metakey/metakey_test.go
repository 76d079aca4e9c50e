package metakey_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

func TestValidate(t *testing.T) {
	for _, key := range []string{"schema", "schema/mysql", "changes/00000000000000000042-ab12cd34", "a/b/c", "données/日本"} {
		require.NoError(t, metakey.Validate(key), key)
	}
	for _, key := range []string{"", "/a", "a/", "a//b", ".", "a/..", "a\x00b", "tab\there"} {
		require.ErrorIs(t, metakey.Validate(key), confo.ErrInvalidName, "%q", key)
	}
	require.NoError(t, metakey.ValidatePrefix(""))
	require.NoError(t, metakey.ValidatePrefix("schema/"))
	require.NoError(t, metakey.ValidatePrefix("sch"))
	require.ErrorIs(t, metakey.ValidatePrefix("a//"), confo.ErrInvalidName)
}

func TestValidateOps(t *testing.T) {
	ok := []confo.MetaOp{
		{Key: "schema", Revision: 3, Check: true},
		{Key: "schema", Value: []byte("{}"), Revision: 3},
		{Key: "changes/1", Value: []byte("{}"), Revision: confo.AnyRevision},
	}
	require.NoError(t, metakey.ValidateOps(ok))
	for name, ops := range map[string][]confo.MetaOp{
		"written twice":     {{Key: "a", Value: []byte("1")}, {Key: "a", Revision: confo.AnyRevision}},
		"check of any":      {{Key: "a", Revision: confo.AnyRevision, Check: true}},
		"negative revision": {{Key: "a", Revision: -2}},
	} {
		require.ErrorIs(t, metakey.ValidateOps(ops), confo.ErrInvalidValue, name)
	}
}
