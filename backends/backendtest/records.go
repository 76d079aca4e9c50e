package backendtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/changelog"
)

// testRecords checks the change-record layer (package changelog) through
// a Manager on the backend: on a backend that implements confo.MetaStore,
// every Persist leaves one record naming its author (from the context, or
// the manager's default), message, and the configurations it wrote with
// the revisions they replaced and digests of what it wrote; the records of
// a namespace stay within the layer's bounds; and a Persist that fails or
// writes nothing leaves none. On one that does not, listing records is
// errors.ErrUnsupported.
func (s *suite) testRecords(t *testing.T) {
	store := newStore(t)
	if _, ok := s.open(t, store).(confo.MetaStore); !ok {
		t.Log("backend keeps no metadata: listing change records must be errors.ErrUnsupported")
		m, _ := s.layeredManager(t, store, "db", changelog.Options{})
		require.NoError(t, m.Set("mysql", map[string]any{"port": 1}))
		require.NoError(t, m.Persist(t.Context()), "Persist works without records")
		_, err := changelogOf(t, m).Records(t.Context(), "db", "")
		require.ErrorIs(t, err, errors.ErrUnsupported)
		return
	}
	t.Run("AuthorAndMessage", s.testRecordsAuthor)
	t.Run("Bounded", s.testRecordsBounded)
	t.Run("NoneForFailedPersist", s.testRecordsFailed)
}

// changelogOf returns the change-record layer of m's backend.
func changelogOf(t testing.TB, m *confo.Manager) *changelog.Backend {
	t.Helper()
	b, err := m.Layered("backendtest")
	require.NoError(t, err)
	for b != nil {
		if c, ok := b.(*changelog.Backend); ok {
			return c
		}
		u, ok := b.(confo.Unwrapper)
		require.True(t, ok, "no change-record layer in %T", b)
		b = u.Unwrap()
	}
	require.FailNow(t, "no change-record layer")
	return nil
}

// records lists the change records of ns as the store has them.
func records(t testing.TB, ms confo.MetaStore, ns, name string) []changelog.Record {
	t.Helper()
	rs, err := changelog.Records(t.Context(), ms, ns, name)
	require.NoError(t, err, "changelog.Records of %q", ns)
	return rs
}

// recordKeys lists the keys of the change records of ns, newest first.
func recordKeys(t testing.TB, ms confo.MetaStore, ns string) []string {
	t.Helper()
	var keys []string
	for _, r := range records(t, ms, ns, "") {
		keys = append(keys, r.Key)
	}
	return keys
}

// written returns what a record should list for the configurations of
// after (nil: deleted), as they replaced those of before.
func written(before, after map[string]confo.Entry, names ...string) []changelog.Written {
	var out []changelog.Written
	for _, name := range names {
		w := changelog.Written{Name: name, Based: before[name].Revision}
		if e, ok := after[name]; ok {
			w.Digest = changelog.Digest(e.Value)
		} else {
			w.Deleted = true
		}
		out = append(out, w)
	}
	return out
}

// sortedWritten returns r's configurations sorted by name.
func sortedWritten(r changelog.Record) []changelog.Written {
	return slices.SortedFunc(slices.Values(r.Configurations), func(a, b changelog.Written) int {
		return strings.Compare(a.Name, b.Name)
	})
}

func (s *suite) testRecordsAuthor(t *testing.T) {
	store := newStore(t)
	m, _ := s.layeredManager(t, store, "db", changelog.Options{}, confo.WithAuthor("billing@host1"))
	raw := s.open(t, store)
	ms := raw.(confo.MetaStore)
	assert.Empty(t, records(t, ms, "db", ""), "a new namespace has no records")

	start := time.Now()
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db1", "port": 3306}))
	require.NoError(t, m.Set("redis", map[string]any{"host": "cache"}))
	info := confo.ChangeInfo{Author: "alice@laptop", Message: "raise the pool"}
	require.NoError(t, m.Persist(confo.WithChangeInfo(t.Context(), info)))
	first := load(t, raw, "db")
	require.NoError(t, m.SetField("mysql", "port", 3307))
	require.NoError(t, m.Delete("redis"))
	require.NoError(t, m.Persist(t.Context()))
	second := load(t, raw, "db")
	require.NoError(t, m.Persist(t.Context()), "nothing to write")
	end := time.Now()

	rs := records(t, ms, "db", "")
	require.Len(t, rs, 2, "one record per Persist that wrote something")
	newest, oldest := rs[0], rs[1]
	assert.Equal(t, "alice@laptop", oldest.Author, "the context's author")
	assert.Equal(t, "raise the pool", oldest.Message)
	assert.Equal(t, written(nil, first, "mysql", "redis"), sortedWritten(oldest), "the first record's configurations")
	assert.Equal(t, "billing@host1", newest.Author, "the manager's default author")
	assert.Empty(t, newest.Message)
	assert.Equal(t, written(first, second, "mysql", "redis"), sortedWritten(newest), "the second record's configurations")
	for _, r := range rs {
		assert.True(t, strings.HasPrefix(r.Key, changelog.Prefix), "key %q", r.Key)
		assert.Positive(t, r.Revision, "revision of record %q", r.Key)
		assert.WithinRange(t, r.Time, start.Add(-time.Second), end.Add(time.Second), "time of record %q", r.Key)
	}
	assert.False(t, newest.Time.Before(oldest.Time), "records are in time order")

	// On stores where one commit gives one revision to everything it
	// writes, the record has that revision (changelog.Record.Revision).
	if first["mysql"].Revision == first["redis"].Revision {
		assert.Equal(t, first["mysql"].Revision, oldest.Revision, "the first record's revision is its commit's")
		assert.Equal(t, second["mysql"].Revision, newest.Revision, "the second record's revision is its commit's")
		r, ok := changelog.MatchRevision(rs, "mysql", second["mysql"].Revision)
		assert.True(t, ok && r.Key == newest.Key, "MatchRevision finds the second record")
	} else {
		t.Log("one commit gives its configurations different revisions: records are matched by digest")
	}

	// Each stored version leads to the record that wrote it.
	for _, c := range []struct {
		e    confo.Entry
		want string
	}{{first["mysql"], oldest.Key}, {second["mysql"], newest.Key}} {
		r, ok := changelog.Match(rs, "mysql", confo.Version{Revision: c.e.Revision, Value: c.e.Value})
		require.True(t, ok, "a record of mysql at revision %d", c.e.Revision)
		assert.Equal(t, c.want, r.Key, "the record of mysql at revision %d", c.e.Revision)
	}
	assert.Len(t, records(t, ms, "db", "redis"), 2, "records of redis")
	assert.Empty(t, records(t, ms, "db", "other"), "records of a configuration never written")

	// The layer lists the same records.
	via, err := changelogOf(t, m).Records(t.Context(), "db", "")
	require.NoError(t, err)
	assert.Equal(t, rs, via)

	// On a store that keeps history, each version shows who wrote it and
	// why (the delete of redis included).
	if _, ok := raw.(confo.Historian); ok {
		history, err := m.History(t.Context(), "db", "mysql")
		require.NoError(t, err)
		require.Len(t, history, 2)
		assert.Equal(t, []string{"billing@host1", "alice@laptop"}, []string{history[0].Author, history[1].Author})
		assert.Equal(t, []string{"", "raise the pool"}, []string{history[0].Message, history[1].Message})
		assert.Equal(t, oldest.Time, history[1].Time)
		// A store that lists the versions of a deleted configuration (memory)
		// shows the delete's author; one that does not (etcd) says so.
		if redis, err := m.History(t.Context(), "db", "redis"); err == nil {
			require.NotEmpty(t, redis)
			assert.Equal(t, "billing@host1", redis[0].Author, "the delete's author")
		} else {
			require.ErrorIs(t, err, confo.ErrConfigNotFound)
		}
	}
}

func (s *suite) testRecordsBounded(t *testing.T) {
	store := newStore(t)
	const maxRecords = 3
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opts := changelog.Options{MaxRecords: maxRecords, MaxAge: time.Hour, Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	m, _ := s.layeredManager(t, store, "db", opts)
	ms := s.open(t, store).(confo.MetaStore)

	persist := func(i int) {
		t.Helper()
		require.NoError(t, m.Set("cfg", map[string]any{"n": i}))
		ctx := confo.WithChangeInfo(t.Context(), confo.ChangeInfo{Author: "bound", Message: fmt.Sprint("change ", i)})
		require.NoError(t, m.Persist(ctx))
		clock.Add(int64(time.Minute))
	}
	messages := func() []string {
		var out []string
		for _, r := range records(t, ms, "db", "") {
			out = append(out, r.Message)
		}
		return out
	}
	var want []string
	for i := 1; i <= 2*maxRecords; i++ {
		persist(i)
		want = append([]string{fmt.Sprint("change ", i)}, want...)
		want = want[:min(len(want), maxRecords)]
		require.Equal(t, want, messages(), "after commit %d: the newest %d records", i, maxRecords)
	}
	clock.Add(int64(2 * time.Hour))
	persist(100)
	assert.Equal(t, []string{"change 100"}, messages(), "records older than MaxAge are pruned")
}

func (s *suite) testRecordsFailed(t *testing.T) {
	store := newStore(t)
	m1, _ := s.layeredManager(t, store, "db", changelog.Options{}, confo.WithAuthor("one"))
	require.NoError(t, m1.Set("mysql", map[string]any{"port": 1}))
	require.NoError(t, m1.Persist(t.Context()))
	m2, _ := s.layeredManager(t, store, "db", changelog.Options{}, confo.WithAuthor("two"))
	require.NoError(t, m1.Set("mysql", map[string]any{"port": 2}))
	require.NoError(t, m1.Persist(t.Context()))
	ms := s.open(t, store).(confo.MetaStore)
	before := recordKeys(t, ms, "db")
	require.Len(t, before, 2)

	require.NoError(t, m2.Set("mysql", map[string]any{"port": 3}))
	require.NoError(t, m2.Set("other", map[string]any{"port": 4}))
	err := m2.Persist(confo.WithChangeInfo(t.Context(), confo.ChangeInfo{Author: "two", Message: "lost update"}))
	require.ErrorIs(t, err, confo.ErrConflict)
	assert.Equal(t, before, recordKeys(t, ms, "db"), "a conflicting Persist leaves no record")
	for _, r := range records(t, ms, "db", "") {
		assert.NotEqual(t, "two", r.Author, "record %q", r.Key)
	}
	_, ok := load(t, s.open(t, store), "db")["other"]
	assert.False(t, ok, "nothing of the failed batch was written")
}
