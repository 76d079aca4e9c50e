package confo_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// TestSetRefusesANumberJSONRefuses: a json.Number with a sign '+' or a
// leading zero is not JSON (encoding/json refuses to marshal it), so Set
// refuses it rather than storing what strconv.ParseInt reads in it.
func TestSetRefusesANumberJSONRefuses(t *testing.T) {
	m, _ := newTestManager(t)
	for _, n := range []json.Number{"+5", "05"} {
		err := m.Set("db", map[string]any{"port": n})
		require.ErrorIs(t, err, confo.ErrInvalidValue, "%q", n)
	}
}
