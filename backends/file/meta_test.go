package file_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/file"
)

func TestMetaLayout(t *testing.T) {
	b, dir := newBackendIn(t, "database")
	_, err := b.CommitMeta(t.Context(), "database", []confo.Op{{Name: "mysql", Value: []byte(`{"port":3306}`)}},
		[]confo.MetaOp{{Key: "schema/mysql", Value: []byte(`{"type":"object"}`)}})
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, "database", ".confo-meta", "schema%2Fmysql.meta"))
	require.NoError(t, err)
	assert.Equal(t, `{"type":"object"}`, string(raw))

	_, err = b.CommitMeta(t.Context(), "database", nil,
		[]confo.MetaOp{{Key: strings.Repeat("k", 200) + "/" + strings.Repeat("é", 30), Value: []byte("x"), Revision: confo.AnyRevision}})
	require.ErrorIs(t, err, confo.ErrInvalidName, "escaped longer than %d bytes", file.MaxMetaKeyLen)
}
