package snapdiff

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/confo-go/confo"
)

func snap(rev int64, entries map[string]int64) confo.Snapshot {
	s := confo.Snapshot{Revision: rev, Entries: map[string]confo.Entry{}}
	for name, r := range entries {
		s.Entries[name] = confo.Entry{Value: []byte(`{}`), Revision: r}
	}
	return s
}

func TestStart(t *testing.T) {
	_, batch, ok := Start(snap(5, map[string]int64{"a": 3, "b": 5}), 5)
	assert.False(t, ok, "the state at afterRev: nothing to send")
	assert.Empty(t, batch.Changes)

	for name, after := range map[string]int64{"behind": 4, "no position": 0} {
		_, batch, ok = Start(snap(5, map[string]int64{"b": 5, "a": 3}), after)
		assert.True(t, ok, name)
		assert.True(t, batch.Full, name)
		assert.Equal(t, int64(5), batch.Revision, name)
		assert.Equal(t, []string{"a", "b"}, names(batch), name)
	}
	_, batch, ok = Start(snap(0, map[string]int64{"a": 7}), 0)
	assert.True(t, ok && batch.Full, "a store without revisions starts Full")
}

func TestNext(t *testing.T) {
	tr, _, _ := Start(snap(5, map[string]int64{"a": 3, "b": 5, "c": 4}), 5)
	_, ok := tr.Next(snap(6, map[string]int64{"a": 3, "b": 5, "c": 4}))
	assert.False(t, ok, "a new revision without changes here")

	batch, ok := tr.Next(snap(9, map[string]int64{"a": 8, "c": 4, "d": 7}))
	assert.True(t, ok)
	assert.False(t, batch.Full)
	assert.Equal(t, int64(9), batch.Revision)
	assert.Equal(t, []confo.Change{
		{Name: "d", Value: []byte(`{}`), Revision: 7},
		{Name: "a", Value: []byte(`{}`), Revision: 8},
		{Name: "b", Revision: 9}, // deleted
	}, batch.Changes)

	batch, ok = tr.Next(snap(9, map[string]int64{"a": 8, "c": 4, "d": 7}))
	assert.False(t, ok, "reported once")
}

func names(b confo.WatchBatch) []string {
	var out []string
	for _, c := range b.Changes {
		out = append(out, c.Name)
	}
	return out
}
