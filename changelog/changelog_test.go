package changelog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/changelog"
	"github.com/confo-go/confo/internal/forward"
)

func newManager(t *testing.T, mem *memory.Backend, opts ...confo.Option) *confo.Manager {
	t.Helper()
	m := confo.New(opts...)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", mem))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.CreateNamespace(t.Context(), "db"))
	require.NoError(t, m.UseNamespace(t.Context(), "db"))
	return m
}

func TestRecordsAuthorAndMessage(t *testing.T) {
	mem := memory.New()
	m := newManager(t, mem, confo.WithLayers(changelog.Layer()), confo.WithAuthor("billing@host1"))
	ctx := t.Context()

	require.NoError(t, m.Set("mysql", map[string]any{"port": 3306}))
	require.NoError(t, m.Set("redis", map[string]any{"port": 6379}))
	require.NoError(t, m.Persist(confo.WithChangeInfo(ctx, confo.ChangeInfo{Author: "alice", Message: "first setup"})))
	require.NoError(t, m.Set("mysql", map[string]any{"port": 3307}))
	require.NoError(t, m.Persist(ctx)) // the manager's default author

	records, err := changelog.Records(ctx, mem, "db", "")
	require.NoError(t, err)
	require.Len(t, records, 2)
	assert.Equal(t, "billing@host1", records[0].Author, "newest first")
	assert.Empty(t, records[0].Message)
	assert.Equal(t, "alice", records[1].Author)
	assert.Equal(t, "first setup", records[1].Message)
	assert.ElementsMatch(t, []string{"mysql", "redis"}, []string{records[1].Configurations[0].Name, records[1].Configurations[1].Name})
	assert.WithinDuration(t, time.Now(), records[0].Time, time.Minute)

	// Each version of History finds its record.
	history, err := m.History(ctx, "db", "mysql")
	require.NoError(t, err)
	require.Len(t, history, 2)
	mine, err := changelog.Records(ctx, mem, "db", "mysql")
	require.NoError(t, err)
	for i, want := range []string{"billing@host1", "alice"} {
		r, ok := changelog.MatchRevision(mine, "mysql", history[i].Revision)
		require.True(t, ok, "record of revision %d", history[i].Revision)
		assert.Equal(t, want, r.Author)
	}
	w, _ := records[0].Has("mysql")
	assert.Equal(t, history[1].Revision, w.Based, "the revision it replaced")

	// Match by value, for stores whose revisions are per configuration.
	v, _, err := mem.Version(ctx, "db", "mysql", history[1].Revision)
	require.NoError(t, err)
	r, ok := changelog.Match(mine, "mysql", confo.Version{Revision: -1, Value: v.Value})
	require.True(t, ok)
	assert.Equal(t, "alice", r.Author)

	redis, err := changelog.Records(ctx, mem, "db", "redis")
	require.NoError(t, err)
	assert.Len(t, redis, 1, "only the records that wrote it")
}

func TestRecordIsAtomicWithTheChange(t *testing.T) {
	mem := memory.New()
	m := newManager(t, mem, confo.WithLayers(changelog.Layer()))
	require.NoError(t, m.Set("mysql", map[string]any{"port": 1}))
	require.NoError(t, m.Persist(t.Context()))
	mem.Put("db", "mysql", []byte(`{"port":2}`)) // another writer: the next Persist conflicts
	require.NoError(t, m.Set("mysql", map[string]any{"port": 3}))
	require.ErrorIs(t, m.Persist(t.Context()), confo.ErrConflict)
	records, err := changelog.Records(t.Context(), mem, "db", "")
	require.NoError(t, err)
	assert.Len(t, records, 1, "a failed commit records nothing")
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mem := memory.New()
	require.NoError(t, mem.CreateNamespace(t.Context(), "db"))
	b := changelog.Wrap(mem, changelog.Options{MaxRecords: 3, MaxAge: time.Hour, Now: clock})
	rev := int64(0)
	commit := func() {
		t.Helper()
		revs, err := b.Commit(t.Context(), "db", []confo.Op{{Name: "c", Value: []byte(`{}`), Revision: rev}})
		require.NoError(t, err)
		rev = revs[0]
		now = now.Add(time.Minute)
	}
	count := func() int {
		records, err := b.Records(t.Context(), "db", "")
		require.NoError(t, err)
		return len(records)
	}
	for range 10 {
		commit()
		assert.LessOrEqual(t, count(), 3)
	}
	assert.Equal(t, 3, count())

	now = now.Add(2 * time.Hour) // all older than MaxAge
	commit()
	assert.Equal(t, 1, count(), "records older than MaxAge go")
}

func TestCut(t *testing.T) {
	mem := memory.New()
	require.NoError(t, mem.CreateNamespace(t.Context(), "db"))
	b := changelog.Wrap(mem, changelog.Options{})
	msg := ""
	for range 3000 {
		msg += "é"
	}
	ctx := confo.WithChangeInfo(t.Context(), confo.ChangeInfo{Author: "a", Message: msg})
	_, err := b.Commit(ctx, "db", []confo.Op{{Name: "c", Value: []byte(`{}`)}})
	require.NoError(t, err)
	records, err := b.Records(t.Context(), "db", "")
	require.NoError(t, err)
	require.Len(t, records, 1)
	assert.LessOrEqual(t, len(records[0].Message), 4096)
	assert.Contains(t, records[0].Message, "…")
}

// TestHistoryShowsAuthorAndMessage: Manager.History and the layer's
// Version carry the author, message and time of the change that wrote each
// version, a delete included; a version written before the layer has none.
func TestHistoryShowsAuthorAndMessage(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	require.NoError(t, mem.CreateNamespace(ctx, "db"))
	_, err := mem.Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"port":3305}`)}})
	require.NoError(t, err) // before the layer: no record
	m := newManager(t, mem, confo.WithLayers(changelog.Layer()), confo.WithAuthor("billing@host1"))

	require.NoError(t, m.Set("mysql", map[string]any{"port": 3306}))
	require.NoError(t, m.Persist(confo.WithChangeInfo(ctx, confo.ChangeInfo{Author: "alice", Message: "bigger pool"})))
	require.NoError(t, m.Delete("mysql"))
	require.NoError(t, m.Persist(ctx))

	history, err := m.History(ctx, "db", "mysql")
	require.NoError(t, err)
	require.Len(t, history, 3)
	assert.Nil(t, history[0].Value, "newest first: the delete")
	assert.Equal(t, "billing@host1", history[0].Author)
	assert.Equal(t, "alice", history[1].Author)
	assert.Equal(t, "bigger pool", history[1].Message)
	assert.WithinDuration(t, time.Now(), history[1].Time, time.Minute)
	assert.Empty(t, history[2].Author, "written before the layer")
	assert.True(t, history[2].Time.IsZero())

	layered, err := m.Layered("mem")
	require.NoError(t, err)
	v, _, err := layered.(confo.Historian).Version(ctx, "db", "mysql", history[1].Revision)
	require.NoError(t, err)
	assert.Equal(t, "alice", v.Author)
	assert.Equal(t, "bigger pool", v.Message)
}

// TestNoMetadataUnderALayer: on a store without metadata, Commit commits
// the ops alone even when another layer lies between (a layer is a
// MetaStore whatever it wraps: what counts is the store).
func TestNoMetadataUnderALayer(t *testing.T) {
	mem := memory.New()
	require.NoError(t, mem.CreateNamespace(t.Context(), "db"))
	b := changelog.Wrap(forward.New("inner", plain{mem}), changelog.Options{})
	_, err := b.Commit(t.Context(), "db", []confo.Op{{Name: "c", Value: []byte(`{}`)}})
	require.NoError(t, err)
	snap, err := mem.Load(t.Context(), "db")
	require.NoError(t, err)
	assert.Contains(t, snap.Entries, "c")
}

// plain is a store seen through the Backend interface alone: it keeps no
// metadata.
type plain struct{ confo.Backend }
