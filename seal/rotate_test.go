package seal_test

import (
	"context"
	"fmt"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/seal"
)

// fill stores n configurations with a sealed field each, and one without.
func fill(t testing.TB, b confo.Backend, id age.Identity, n int) {
	t.Helper()
	m := manager(t, b, "db", id)
	for i := range n {
		require.NoError(t, m.Set(fmt.Sprintf("c%03d", i), map[string]any{"n": i, "token": seal.Secret(fmt.Sprintf("%s-%d", secret, i))}))
	}
	require.NoError(t, m.Set("plain", map[string]any{"n": -1}))
	require.NoError(t, m.Persist(context.Background()))
}

// requireOpens checks that every configuration of db opens with ids (want
// nil) or fails with want.
func requireOpens(t testing.TB, b confo.Backend, want error, ids ...age.Identity) {
	t.Helper()
	snap, err := seal.Wrap(b, ids...).Load(context.Background(), "db")
	require.NoError(t, err)
	for name, e := range snap.Entries {
		if want == nil || name == "plain" {
			require.NoError(t, e.Err, name)
		} else {
			require.ErrorIs(t, e.Err, want, name)
		}
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	oldID, oldR := newKey(t)
	newID, newR := newKey(t)
	b := newStore(t, oldR)
	fill(t, b, oldID, 7)

	// A service reading during the rotation holds both identities.
	service := manager(t, b, "db", oldID, newID)

	sb := seal.Wrap(b, oldID, newID)
	require.NoError(t, sb.AddRecipients(ctx, "db", newR))
	require.NoError(t, sb.RemoveRecipients(ctx, "db", oldR))
	got, _, err := sb.Recipients(ctx, "db")
	require.NoError(t, err)
	assert.Equal(t, []string{newR}, got)

	var steps []seal.RotateProgress
	prog, err := sb.Rotate(ctx, "db", seal.RotateOptions{BatchSize: 3, Progress: func(p seal.RotateProgress) {
		steps = append(steps, p)
		require.NoError(t, service.Reload(ctx)) // services keep reading
	}})
	require.NoError(t, err)
	assert.Equal(t, 7, prog.Done)
	assert.Equal(t, 7, prog.Total)
	require.Len(t, steps, 3)
	assert.Equal(t, 3, steps[0].Done)

	requireOpens(t, b, nil, newID)
	requireOpens(t, b, seal.ErrWrongIdentity, oldID)
	v, err := service.GetField("c004", "token")
	require.NoError(t, err)
	assert.Equal(t, secret+"-4", v)

	meta, err := b.LoadMeta(ctx, "db", seal.MetaRotation)
	require.NoError(t, err)
	assert.Empty(t, meta, "the progress record is removed when done")

	// Nothing left: a second rotation does nothing.
	prog, err = sb.Rotate(ctx, "db", seal.RotateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, prog.Total)
}

func TestRotateMixedKinds(t *testing.T) {
	_, rcpt := newKey(t)
	pq, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	b := newStore(t, rcpt)
	err = seal.Wrap(b).AddRecipients(context.Background(), "db", pq.Recipient().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "post-quantum")
}

func TestRotateNeedsIdentity(t *testing.T) {
	_, rcpt := newKey(t)
	b := newStore(t, rcpt)
	_, err := seal.Wrap(b).Rotate(context.Background(), "db", seal.RotateOptions{})
	require.ErrorIs(t, err, seal.ErrNoIdentity)
}

// racingStore runs hook once, just before the first CommitMeta that
// carries the rotation's progress record: a write that lands between the
// rotation's read and its commit.
type racingStore struct {
	*memory.Backend
	hook func()
}

func (r *racingStore) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	for _, m := range meta {
		if m.Key == seal.MetaRotation && r.hook != nil && len(ops) > 0 {
			hook := r.hook
			r.hook = nil
			hook()
		}
	}
	return r.Backend.CommitMeta(ctx, ns, ops, meta)
}

// TestRotateConcurrentWriter has a service write a configuration of the
// batch being re-sealed after the rotation read it: the batch conflicts,
// is read again and retried, and the service's value stays.
func TestRotateConcurrentWriter(t *testing.T) {
	ctx := context.Background()
	oldID, oldR := newKey(t)
	newID, newR := newKey(t)
	b := newStore(t, oldR)
	fill(t, b, oldID, 4)
	service := manager(t, b, "db", oldID, newID)

	race := &racingStore{Backend: b}
	sb := seal.Wrap(race, oldID, newID)
	require.NoError(t, sb.SetRecipients(ctx, "db", []string{newR}, mustRecipientsRev(t, sb)))
	race.hook = func() {
		require.NoError(t, service.SetField("c001", "n", 42))
		require.NoError(t, service.Persist(ctx))
	}
	prog, err := sb.Rotate(ctx, "db", seal.RotateOptions{BatchSize: 2})
	require.NoError(t, err)
	assert.Nil(t, race.hook, "the write raced the first batch")
	assert.Equal(t, 4, prog.Total)
	assert.Equal(t, 4, prog.Done)
	requireOpens(t, b, nil, newID)
	requireOpens(t, b, seal.ErrWrongIdentity, oldID)
	got, err := manager(t, b, "db", newID).Get("c001")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"n": int64(42), "token": secret + "-1"}, got)
}

func mustRecipientsRev(t testing.TB, b *seal.Backend) int64 {
	t.Helper()
	_, rev, err := b.Recipients(context.Background(), "db")
	require.NoError(t, err)
	return rev
}
