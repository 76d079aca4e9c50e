package forward_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/internal/forward"
)

// plain is a memory store seen through the Backend interface alone: it
// implements none of the optional interfaces.
type plain struct{ confo.Backend }

// limited is a memory store that also reports batch limits and checks
// values, stamping the ones it accepts.
type limited struct{ *memory.Backend }

func (limited) BatchLimits() confo.BatchLimits { return confo.BatchLimits{MaxOps: 7, MaxBytes: 700} }

func (limited) CheckValue(ns, name string, value map[string]any) (any, error) {
	if value["bad"] != nil {
		return nil, confo.ErrInvalidValue
	}
	return "checked " + ns + "/" + name, nil
}

func newMemory(t *testing.T) *memory.Backend {
	t.Helper()
	mb := memory.New()
	t.Cleanup(func() { mb.Close() })
	return mb
}

// What the wrapped Backend lacks is errors.ErrUnsupported, naming the
// layer, the call, its namespace and the wrapped type.
func TestUnsupported(t *testing.T) {
	ctx := t.Context()
	b := forward.New("mylayer", plain{newMemory(t)})
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	for name, tt := range map[string]struct {
		call func() error
		want string
	}{
		"Watch": {func() error { _, err := b.Watch(ctx, "db", 0); return err },
			`mylayer: watch namespace "db": forward_test.plain cannot watch`},
		"History": {func() error { _, err := b.History(ctx, "db", "mysql", 1); return err },
			`mylayer: history of "mysql" in namespace "db": forward_test.plain keeps no history`},
		"Version": {func() error { _, _, err := b.Version(ctx, "db", "mysql", 1); return err },
			`mylayer: version of "mysql" in namespace "db": forward_test.plain keeps no history`},
		"DeleteNamespace": {func() error { return b.DeleteNamespace(ctx, "db") },
			`mylayer: delete namespace "db": forward_test.plain cannot delete namespaces`},
		"LoadMeta": {func() error { _, err := b.LoadMeta(ctx, "db", ""); return err },
			`mylayer: metadata of namespace "db": forward_test.plain keeps no metadata`},
		"CommitMeta": {func() error { _, err := b.CommitMeta(ctx, "db", nil, nil); return err },
			`mylayer: commit metadata of namespace "db": forward_test.plain keeps no metadata`},
		"As": {func() error { _, err := forward.As[confo.MetaStore](b, "records", "db"); return err },
			`mylayer: records of namespace "db": forward_test.plain keeps no metadata`},
		"As other": {func() error { _, err := forward.As[confo.Checker](b, "checks", "db"); return err },
			`mylayer: checks of namespace "db": forward_test.plain does not implement confo.Checker`},
	} {
		t.Run(name, func(t *testing.T) {
			err := tt.call()
			require.ErrorIs(t, err, errors.ErrUnsupported)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	assert.Equal(t, confo.BatchLimits{}, b.BatchLimits(), "no limiter: no limits")
	stamp, err := b.CheckValue("db", "mysql", map[string]any{"bad": 1})
	assert.NoError(t, err, "no checker: every value passes")
	assert.Nil(t, stamp)
}

// Every call reaches the wrapped Backend's own, optional interfaces
// included.
func TestForwards(t *testing.T) {
	ctx := t.Context()
	mb := newMemory(t)
	b := forward.New("mylayer", limited{mb})
	assert.Equal(t, limited{mb}, b.Unwrap())

	require.NoError(t, b.CreateNamespace(ctx, "db"))
	nss, err := b.Namespaces(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"db"}, nss)

	snap, err := b.Load(ctx, "db")
	require.NoError(t, err)
	watch, err := b.Watch(ctx, "db", snap.Revision)
	require.NoError(t, err)

	revs, err := b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":1}`)}})
	require.NoError(t, err)
	require.Len(t, revs, 1)
	var batch confo.WatchBatch
	select {
	case batch = <-watch:
	case <-time.After(30 * time.Second):
		t.Fatal("no watch batch 30 s after a commit")
	}
	require.NoError(t, batch.Err)
	require.Len(t, batch.Changes, 1)
	assert.Equal(t, "mysql", batch.Changes[0].Name)

	_, err = b.CommitMeta(ctx, "db", nil, []confo.MetaOp{{Key: "note", Value: []byte("hi")}})
	require.NoError(t, err)
	meta, err := b.LoadMeta(ctx, "db", "")
	require.NoError(t, err)
	assert.Equal(t, []byte("hi"), meta["note"].Value)
	ms, err := forward.As[confo.MetaStore](b, "records", "db")
	require.NoError(t, err)
	assert.Equal(t, limited{mb}, ms)

	versions, err := b.History(ctx, "db", "mysql", 10)
	require.NoError(t, err)
	require.Len(t, versions, 1)
	v, current, err := b.Version(ctx, "db", "mysql", revs[0])
	require.NoError(t, err)
	assert.Equal(t, revs[0], current)
	assert.JSONEq(t, `{"port":1}`, string(v.Value))

	assert.Equal(t, confo.BatchLimits{MaxOps: 7, MaxBytes: 700}, b.BatchLimits())
	stamp, err := b.CheckValue("db", "mysql", map[string]any{"port": 2})
	require.NoError(t, err)
	assert.Equal(t, "checked db/mysql", stamp, "the wrapped Checker's stamp is passed on")
	_, err = b.CheckValue("db", "mysql", map[string]any{"bad": 1})
	require.ErrorIs(t, err, confo.ErrInvalidValue)

	require.NoError(t, b.DeleteNamespace(ctx, "db"))
	_, err = b.Load(ctx, "db")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
	require.NoError(t, b.Close())
}

// Watch passes each batch through the layer's function; the channel is
// closed once the caller's context ends.
func TestWatch(t *testing.T) {
	mb := newMemory(t)
	b := forward.New("mylayer", mb)
	require.NoError(t, b.CreateNamespace(t.Context(), "db"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	watch, err := forward.Watch(ctx, b, "db", 0, func(batch confo.WatchBatch) confo.WatchBatch {
		batch.Changes = append(batch.Changes, confo.Change{Name: "added"})
		return batch
	})
	require.NoError(t, err)
	_, err = b.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{}`)}})
	require.NoError(t, err)
	deadline := time.After(30 * time.Second)
	select {
	case batch := <-watch:
		require.Len(t, batch.Changes, 2)
		assert.Equal(t, "added", batch.Changes[1].Name)
	case <-deadline:
		t.Fatal("no watch batch 30 s after a commit")
	}
	cancel()
	for {
		select {
		case _, ok := <-watch:
			if !ok {
				_, err = forward.Watch(ctx, forward.New("mylayer", plain{mb}), "db", 0, nil)
				require.ErrorIs(t, err, errors.ErrUnsupported)
				return
			}
		case <-deadline:
			t.Fatal("the watch channel was not closed 30 s after its context ended")
		}
	}
}

// DeleteNamespace drops the layer's state of the namespace once the
// namespace is deleted, and keeps it when the delete fails.
func TestDeleteNamespace(t *testing.T) {
	ctx := t.Context()
	mb := newMemory(t)
	var mu sync.Mutex
	state := map[string]int{"db": 1, "other": 2}
	require.NoError(t, mb.CreateNamespace(ctx, "db"))

	err := forward.DeleteNamespace(ctx, forward.New("mylayer", plain{mb}), "db", &mu, state)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Equal(t, map[string]int{"db": 1, "other": 2}, state, "nothing deleted: state kept")

	require.NoError(t, forward.DeleteNamespace(ctx, forward.New("mylayer", mb), "db", &mu, state))
	assert.Equal(t, map[string]int{"other": 2}, state)
	_, err = mb.Load(ctx, "db")
	require.ErrorIs(t, err, confo.ErrNamespaceNotFound)
}

// Capable looks through every layer to the store: a layer is a MetaStore
// whatever it wraps.
func TestCapable(t *testing.T) {
	mb := newMemory(t)
	assert.True(t, forward.Capable[confo.MetaStore](forward.New("x", mb)))
	assert.True(t, forward.Capable[confo.MetaStore](forward.New("x", forward.New("y", mb))))
	assert.False(t, forward.Capable[confo.MetaStore](forward.New("x", plain{mb})))
	assert.False(t, forward.Capable[confo.MetaStore](forward.New("x", forward.New("y", plain{mb}))))
}
