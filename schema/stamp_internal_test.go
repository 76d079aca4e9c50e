package schema

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// stamping is a memory store under a Checker layer of its own: it stamps
// every value it accepts and records the Checked of the ops it commits.
type stamping struct {
	*memory.Backend
	seen []any
}

func (s *stamping) CheckValue(ns, name string, value map[string]any) (any, error) {
	return "inner:" + name, nil
}

func (s *stamping) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	for _, op := range ops {
		s.seen = append(s.seen, op.Checked)
	}
	return s.Backend.CommitMeta(ctx, ns, ops, meta)
}

// TestCommitSkipsWhatCheckValueAccepted: Commit does not validate again a
// value stamped by CheckValue under the schema that applies at commit time,
// validates it when another schema applies by then, and hands the wrapped
// Backend the stamp of its own Checker.
func TestCommitSkipsWhatCheckValueAccepted(t *testing.T) {
	ctx := t.Context()
	inner := &stamping{Backend: memory.New()}
	require.NoError(t, inner.CreateNamespace(ctx, "db"))
	b := Wrap(inner)
	_, err := b.Set(ctx, "db", "mysql", []byte(`{"properties":{"port":{"maximum":999}}}`))
	require.NoError(t, err)

	st, err := b.CheckValue("db", "mysql", map[string]any{"port": int64(999)})
	require.NoError(t, err)
	require.IsType(t, &stamp{}, st)
	_, err = b.CheckValue("db", "mysql", map[string]any{"port": int64(1000)})
	require.ErrorIs(t, err, confo.ErrInvalidValue)

	// The Manager commits the bytes of the value it checked. To see that
	// Commit trusts the stamp, give it bytes the schema refuses.
	inner.seen = nil
	revs, err := b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":5000}`), Checked: st}})
	require.NoError(t, err, "a value stamped by the schema in force is not validated again")
	assert.Equal(t, []any{"inner:mysql"}, inner.seen, "the wrapped Checker's stamp is passed on")

	// Without the stamp, or with a stamp from elsewhere, it is validated.
	_, err = b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":5001}`), Revision: revs[0]}})
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	_, err = b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":5001}`), Revision: revs[0], Checked: "inner:mysql"}})
	require.ErrorIs(t, err, confo.ErrInvalidValue)

	// Once another schema applies (a new revision of it), the stamp of the
	// old one no longer lets a value through.
	_, err = b.Set(ctx, "db", "mysql", []byte(`{"properties":{"port":{"maximum":998}}}`), Force())
	require.NoError(t, err)
	_, err = b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":999}`), Revision: revs[0], Checked: st}})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "validated again under the new schema: %v", err)
	assert.Equal(t, "/port", ve.Failures[0].Pointer)

	// A value accepted while no schema applied is validated once one does.
	st2, err := b.CheckValue("db", "redis", map[string]any{"port": int64(5000)})
	require.NoError(t, err)
	assert.Equal(t, &stamp{inner: "inner:redis"}, st2, "no schema applied: only the inner stamp")
	_, err = b.Set(ctx, "db", "", []byte(`{"properties":{"port":{"maximum":10}}}`))
	require.NoError(t, err)
	_, err = b.Commit(ctx, "db", []confo.Op{{Name: "redis", Value: []byte(`{"port":5000}`), Checked: st2}})
	require.ErrorIs(t, err, confo.ErrInvalidValue)
}
