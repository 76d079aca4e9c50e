package seal_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/seal"
)

const secret = "hunter2-sekrit"

// newKey returns a new X25519 identity and its recipient.
func newKey(t testing.TB) (age.Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id, id.Recipient().String()
}

// newStore returns a store with namespace "db" sealed to recipients.
func newStore(t testing.TB, recipients ...string) *memory.Backend {
	t.Helper()
	b := memory.New()
	ctx := context.Background()
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	require.NoError(t, seal.Wrap(b).SetRecipients(ctx, "db", recipients, 0))
	return b
}

// manager returns a manager on store b, namespace ns in use, with the seal
// layer holding ids.
func manager(t testing.TB, b confo.Backend, ns string, ids ...age.Identity) *confo.Manager {
	t.Helper()
	m := confo.New(confo.WithLayers(seal.Layer(ids...)))
	require.NoError(t, m.AddBackend("s", nopClose{b}))
	require.NoError(t, m.ActivateBackend("s"))
	require.NoError(t, m.UseNamespace(context.Background(), ns))
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// nopClose keeps the shared store open when a manager closes.
type nopClose struct{ confo.Backend }

func (nopClose) Close() error { return nil }

func (n nopClose) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	return n.Backend.(confo.MetaStore).LoadMeta(ctx, ns, prefix)
}

func (n nopClose) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	return n.Backend.(confo.MetaStore).CommitMeta(ctx, ns, ops, meta)
}

func (n nopClose) Watch(ctx context.Context, ns string, afterRev int64) (<-chan confo.WatchBatch, error) {
	return n.Backend.(confo.Watcher).Watch(ctx, ns, afterRev)
}

func (n nopClose) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	return n.Backend.(confo.Historian).History(ctx, ns, name, limit)
}

func (n nopClose) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	return n.Backend.(confo.Historian).Version(ctx, ns, name, rev)
}

// raw returns the stored bytes of configuration name of ns.
func raw(t testing.TB, b confo.Backend, ns, name string) string {
	t.Helper()
	snap, err := b.Load(context.Background(), ns)
	require.NoError(t, err)
	return string(snap.Entries[name].Value)
}

// putSealed stores mysql with host and a sealed password through a manager
// holding id, and returns the stored bytes.
func putSealed(t *testing.T, b confo.Backend, id age.Identity) string {
	t.Helper()
	m := manager(t, b, "db", id)
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db.internal", "password": seal.Secret(secret)}))
	require.NoError(t, m.Persist(context.Background()))
	return raw(t, b, "db", "mysql")
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	stored := putSealed(t, b, id)
	assert.NotContains(t, stored, secret)
	assert.Contains(t, stored, `"password":"`+seal.Prefix)
	assert.Contains(t, stored, `"host":"db.internal"`, "other fields stay plain")

	reader := manager(t, b, "db", id)
	got, err := reader.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "db.internal", "password": secret}, got)

	// Set of a sealed field seals again, without a mark.
	require.NoError(t, reader.SetField("mysql", "password", "rotated-"+secret))
	require.NoError(t, reader.Persist(ctx))
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)
	other := manager(t, b, "db", id)
	v, err := other.GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, "rotated-"+secret, v)

	// Unchanged sealed fields keep their envelope: diffs show what changed.
	before := raw(t, b, "db", "mysql")
	require.NoError(t, other.SetField("mysql", "host", "db2.internal"))
	require.NoError(t, other.Persist(ctx))
	after := raw(t, b, "db", "mysql")
	assert.Equal(t, field(t, before, "password"), field(t, after, "password"))
}

// field returns the value of field f of the stored JSON object s.
func field(t testing.TB, s, f string) any {
	t.Helper()
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &obj))
	return obj[f]
}

func TestHybridRecipients(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	b := newStore(t, id.Recipient().String())
	stored := putSealed(t, b, id)
	assert.NotContains(t, stored, secret)
	v, err := manager(t, b, "db", id).GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, v)
}

func TestWithoutIdentities(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	stored := putSealed(t, b, id)

	m := manager(t, b, "db")
	v, err := m.GetField("mysql", "password")
	require.NoError(t, err)
	assert.True(t, seal.IsSealed(v), "a manager without identities sees the envelope, got %v", v)
	host, err := m.GetField("mysql", "host")
	require.NoError(t, err)
	assert.Equal(t, "db.internal", host)

	// Refused by the layer's Checker at Set, before it enters the view.
	err = m.SetField("mysql", "password", "oops-plain")
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	require.ErrorIs(t, err, seal.ErrPlaintext)
	assert.NotContains(t, err.Error(), "oops-plain")
	assert.Equal(t, stored, raw(t, b, "db", "mysql"))

	// Other fields are written; the sealed one stays as it was.
	require.NoError(t, m.SetField("mysql", "host", "db3.internal"))
	require.NoError(t, m.Persist(ctx))
	now := raw(t, b, "db", "mysql")
	assert.Equal(t, field(t, stored, "password"), field(t, now, "password"))

	// A new secret needs no identity, only the recipients.
	require.NoError(t, m.SetField("mysql", "password", seal.Secret("new-"+secret)))
	require.NoError(t, m.Persist(ctx))
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)
	v, err = manager(t, b, "db", id).GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, "new-"+secret, v)

	// The layer refuses a Commit that writes plaintext over a sealed field.
	_, err = seal.Wrap(b).Commit(ctx, "db", []confo.Op{{Name: "mysql", Value: []byte(`{"password":"oops-plain"}`), Revision: revision(t, b, "db", "mysql")}})
	require.ErrorIs(t, err, seal.ErrPlaintext)
	assert.NotContains(t, raw(t, b, "db", "mysql"), "oops-plain")
}

func revision(t testing.TB, b confo.Backend, ns, name string) int64 {
	t.Helper()
	snap, err := b.Load(context.Background(), ns)
	require.NoError(t, err)
	return snap.Entries[name].Revision
}

func TestUnseal(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	putSealed(t, b, id)
	m := manager(t, b, "db", id)
	require.NoError(t, m.SetField("mysql", "password", "now-public"))
	require.NoError(t, m.Persist(seal.AllowUnseal(ctx, "mysql", "password")))
	assert.Equal(t, "now-public", field(t, raw(t, b, "db", "mysql"), "password"))
}

// openErr loads ns through a layer holding ids and returns the error of
// configuration name.
func openErr(t *testing.T, b confo.Backend, ns, name string, ids ...age.Identity) error {
	t.Helper()
	snap, err := seal.Wrap(b, ids...).Load(context.Background(), ns)
	require.NoError(t, err)
	e, ok := snap.Entries[name]
	require.True(t, ok, "configuration %s", name)
	return e.Err
}

func TestMovedCiphertext(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	require.NoError(t, b.CreateNamespace(ctx, "db2"))
	stored := putSealed(t, b, id)
	env := field(t, stored, "password").(string)

	moved := map[string]struct{ ns, name, raw string }{
		"field":         {"db", "mysql2", `{"password":"x","token":"` + env + `"}`},
		"configuration": {"db", "pg", `{"password":"` + env + `"}`},
		"namespace":     {"db2", "mysql", `{"host":"db.internal","password":"` + env + `"}`},
	}
	for what, c := range moved {
		t.Run(what, func(t *testing.T) {
			b.Put(c.ns, c.name, []byte(c.raw))
			err := openErr(t, b, c.ns, c.name, id)
			require.ErrorIs(t, err, seal.ErrWrongPlace)
			require.ErrorIs(t, err, seal.ErrSealed)
			assert.Contains(t, err.Error(), `"db"/"mysql"."password"`, "names where it was sealed for")
			assert.Contains(t, err.Error(), `"`+c.name+`"`, "names where it was found")
			assert.NotContains(t, err.Error(), secret)

			// A manager quarantines it: no value, a problem naming it.
			m := manager(t, b, c.ns, id)
			_, err = m.Get(c.name)
			require.ErrorIs(t, err, seal.ErrWrongPlace)
			var found bool
			for _, p := range m.Problems(c.ns) {
				if p.Name == c.name {
					found = true
					require.ErrorIs(t, p.Err, seal.ErrWrongPlace)
				}
			}
			assert.True(t, found, "Problems lists %s", c.name)
		})
	}
	require.NoError(t, openErr(t, b, "db", "mysql", id))
}

func TestWrongIdentity(t *testing.T) {
	id, rcpt := newKey(t)
	other, _ := newKey(t)
	b := newStore(t, rcpt)
	putSealed(t, b, id)
	err := openErr(t, b, "db", "mysql", other)
	require.ErrorIs(t, err, seal.ErrWrongIdentity)
	require.ErrorIs(t, err, seal.ErrSealed)
	assert.Contains(t, err.Error(), `"db"/"mysql"."password"`)
}

func TestReplay(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	old := putSealed(t, b, id)
	m := manager(t, b, "db", id)
	require.NoError(t, m.SetField("mysql", "password", "second-"+secret))
	require.NoError(t, m.Persist(ctx))

	watcher := seal.Wrap(b, id)
	_, err := watcher.Load(ctx, "db") // sees the second value
	require.NoError(t, err)
	b.Put("db", "mysql", []byte(old)) // someone writes the old ciphertext back
	snap, err := watcher.Load(ctx, "db")
	require.NoError(t, err)
	require.ErrorIs(t, snap.Entries["mysql"].Err, seal.ErrReplayed)

	// A layer that never saw the newer value takes it (documented).
	require.NoError(t, openErr(t, b, "db", "mysql", id))
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	putSealed(t, b, id)
	watcher := manager(t, b, "db", id)
	events, err := watcher.Watch(ctx, "db")
	require.NoError(t, err)
	writer := manager(t, b, "db", id)
	require.NoError(t, writer.SetField("mysql", "password", "watched-"+secret))
	require.NoError(t, writer.Persist(ctx))
	for ev := range events {
		if ev.Name == "mysql" && ev.Value["password"] == "watched-"+secret {
			break
		}
	}
	v, err := watcher.GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, "watched-"+secret, v)
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)
}

func TestHistoryAndRollback(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	putSealed(t, b, id)
	m := manager(t, b, "db", id)
	require.NoError(t, m.SetField("mysql", "password", "second-"+secret))
	require.NoError(t, m.Persist(ctx))

	versions, err := m.History(ctx, "db", "mysql")
	require.NoError(t, err)
	require.Len(t, versions, 2)
	assert.Equal(t, "second-"+secret, versions[0].Value["password"])
	assert.Equal(t, secret, versions[1].Value["password"])
	for _, v := range mustHistory(t, b, "db", "mysql") {
		assert.NotContains(t, string(v.Value), secret, "the store's history holds no plaintext")
	}

	// Rollback to the first version after unsealing: sealed again.
	require.NoError(t, m.SetField("mysql", "password", "public"))
	require.NoError(t, m.Persist(seal.AllowUnseal(ctx, "mysql", "password")))
	require.NoError(t, m.Rollback(ctx, "db", "mysql", versions[1].Revision))
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)
	v, err := manager(t, b, "db", id).GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, v)
}

func mustHistory(t testing.TB, b confo.Historian, ns, name string) []confo.Version {
	t.Helper()
	vs, err := b.History(context.Background(), ns, name, 100)
	require.NoError(t, err)
	return vs
}

func TestNoRecipients(t *testing.T) {
	id, _ := newKey(t)
	b := memory.New()
	require.NoError(t, b.CreateNamespace(context.Background(), "db"))
	m := manager(t, b, "db", id)
	require.NoError(t, m.Set("mysql", map[string]any{"password": seal.Secret(secret)}))
	err := m.Persist(context.Background())
	require.ErrorIs(t, err, seal.ErrNoRecipients)
	assert.NotContains(t, err.Error(), secret)
	assert.False(t, errors.Is(err, confo.ErrConflict))
}

func TestSecretRedacted(t *testing.T) {
	s := seal.Secret(secret)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, sprintf(f, s), secret, f)
	}
	raw, err := json.Marshal(map[string]any{"p": s})
	require.NoError(t, err) // this test binary has layers
	assert.NotContains(t, string(raw), secret)
	assert.True(t, strings.Contains(string(raw), "confo:seal-pending:v1:"))
}

func TestSecretNested(t *testing.T) {
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	m := manager(t, b, "db", id)
	require.NoError(t, m.Set("mysql", map[string]any{"auth": map[string]any{"password": seal.Secret(secret)}}))
	err := m.Persist(context.Background())
	require.ErrorIs(t, err, confo.ErrInvalidValue)
	assert.Contains(t, err.Error(), "top-level")
	snap, err := b.Load(context.Background(), "db")
	require.NoError(t, err)
	assert.Empty(t, snap.Entries, "nothing written")
}

func TestMarkThroughManager(t *testing.T) {
	ctx := context.Background()
	id, rcpt := newKey(t)
	b := newStore(t, rcpt)
	m := manager(t, b, "db", id)
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db.internal", "password": secret}))
	require.NoError(t, m.Persist(seal.Mark(ctx, "mysql", "password")))
	assert.NotContains(t, raw(t, b, "db", "mysql"), secret)
	v, err := m.GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, v, "the view holds the plaintext")
	v, err = manager(t, b, "db", id).GetField("mysql", "password")
	require.NoError(t, err)
	assert.Equal(t, secret, v)
}
