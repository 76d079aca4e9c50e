package jsonvalue_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/confo-go/confo/internal/jsonvalue"
)

// TestNumberRejectsWhatJSONDoes: a sign '+' or a leading zero is not JSON
// (encoding/json refuses to marshal such a json.Number), so Number refuses
// it even where strconv.ParseInt would read it.
func TestNumberRejectsWhatJSONDoes(t *testing.T) {
	for _, s := range []string{"+5", "05", "-05", "00", "+1.5", " 5", ""} {
		_, err := jsonvalue.Number(s)
		assert.Error(t, err, "%q is not a JSON number", s)
	}
}
