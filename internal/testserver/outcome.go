package testserver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// OutcomeUnknown checks a commit whose reply never comes. m uses a
// namespace of the backend under test, served by srv, that holds no
// configuration "a". arm is given a func that freezes srv and must arrange
// for it to run at the commit's point of no return: at once when the commit
// is one request, or from a hook just before its last request. The Persist,
// bounded by a 2 s context, must fail with ErrOutcomeUnknown; the server is
// thawed; a Reload shows the outcome (applied or not, both are right), and
// the change retried after it succeeds.
func OutcomeUnknown(t *testing.T, m *confo.Manager, srv *Server, arm func(freeze func())) {
	t.Helper()
	require.NoError(t, m.Set("a", map[string]any{"v": 1}))
	require.NoError(t, m.Persist(t.Context()))

	require.NoError(t, m.SetField("a", "v", 2))
	t.Cleanup(func() { _ = srv.Thaw() })
	frozen := false
	arm(func() {
		require.NoError(t, srv.Freeze())
		frozen = true
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	start := time.Now()
	err := m.Persist(ctx)
	cancel()
	elapsed := time.Since(start)
	require.NoError(t, srv.Thaw())
	require.True(t, frozen, "the commit did not reach its point of no return (Persist: %v)", err)
	require.ErrorIs(t, err, confo.ErrOutcomeUnknown, "a commit whose reply never came")
	t.Logf("Persist with the server frozen: %v after %s", err, elapsed.Round(time.Millisecond))
	assert.Less(t, elapsed, 2*time.Second+3*time.Second, "within its context, plus slack for a loaded machine")

	reloadCtx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Reload(reloadCtx), "Reload once the server is back")
	got, err := m.GetField("a", "v")
	require.NoError(t, err)
	require.Contains(t, []any{int64(1), int64(2)}, got)
	t.Logf("the frozen commit was applied: %v", got == int64(2))

	require.NoError(t, m.SetField("a", "v", 3))
	require.NoError(t, m.Persist(reloadCtx), "the retry after Reload")
	require.NoError(t, m.Reload(reloadCtx))
	got, err = m.GetField("a", "v")
	require.NoError(t, err)
	assert.Equal(t, int64(3), got)
}
