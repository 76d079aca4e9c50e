package backendtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/seal"
)

// sealedSecret is the plaintext the Sealed subtests look for in the store.
const sealedSecret = "s3cret-backendtest-plaintext"

// testSealed checks sealed fields (package seal) on a backend that
// implements confo.MetaStore, where the recipients live: a sealed field
// round trips through Persist, Reload, Watch and History while the store
// holds no plaintext, a manager without identities sees the envelope and
// cannot write plaintext over it, a ciphertext moved to another place or
// opened with another identity fails, and a rotation leaves every field
// readable by the new identity only.
func (s *suite) testSealed(t *testing.T) {
	b := s.open(t, newStore(t))
	if _, ok := b.(confo.MetaStore); !ok {
		t.Skipf("%T does not implement confo.MetaStore", b)
	}
	t.Run("RoundTrip", s.testSealedRoundTrip)
	t.Run("WithoutIdentities", s.testSealedWithoutIdentities)
	t.Run("Watch", s.testSealedWatch)
	t.Run("History", s.testSealedHistory)
	t.Run("Moved", s.testSealedMoved)
	t.Run("WrongIdentity", s.testSealedWrongIdentity)
	t.Run("Rotate", s.testSealedRotate)
}

// sealedStore returns a new store with namespace "vault" sealed to a new
// identity, which it returns.
func (s *suite) sealedStore(t testing.TB) (string, *age.X25519Identity) {
	t.Helper()
	store := newStore(t)
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	b := s.open(t, store)
	require.NoError(t, b.CreateNamespace(t.Context(), "vault"))
	require.NoError(t, seal.Wrap(b).SetRecipients(t.Context(), "vault", []string{id.Recipient().String()}, 0))
	return store, id
}

// sealedManager returns a Manager on a new client of store with the seal
// layer holding ids, using namespace "vault".
func (s *suite) sealedManager(t testing.TB, store string, ids ...age.Identity) *confo.Manager {
	t.Helper()
	m := confo.New(confo.WithLayers(seal.Layer(ids...)))
	require.NoError(t, m.AddBackend("backendtest", s.openUnclosed(t, store)))
	require.NoError(t, m.ActivateBackend("backendtest"))
	require.NoError(t, m.UseNamespace(t.Context(), "vault"))
	t.Cleanup(func() { assert.NoError(t, m.Close(), "Manager.Close") })
	return m
}

// putSecret stores configuration "db" with a sealed password through a
// manager holding id.
func (s *suite) putSecret(t testing.TB, store string, id age.Identity) *confo.Manager {
	t.Helper()
	m := s.sealedManager(t, store, id)
	require.NoError(t, m.Set("db", map[string]any{"host": "db.internal", "password": seal.Secret(sealedSecret)}))
	require.NoError(t, m.Persist(t.Context()))
	return m
}

// requireNoPlaintext checks that no configuration of vault holds the
// secret, as the store has it.
func (s *suite) requireNoPlaintext(t testing.TB, store string) {
	t.Helper()
	for name, e := range load(t, s.open(t, store), "vault") {
		require.NotContains(t, string(e.Value), "s3cret", "stored bytes of %q", name)
	}
}

func (s *suite) testSealedRoundTrip(t *testing.T) {
	store, id := s.sealedStore(t)
	writer := s.putSecret(t, store, id)
	s.requireNoPlaintext(t, store)
	raw := load(t, s.open(t, store), "vault")["db"].Value
	assert.Contains(t, string(raw), `"password":"`+seal.Prefix)
	assert.Contains(t, string(raw), `"host":"db.internal"`)

	reader := s.sealedManager(t, store, id)
	got, err := reader.Get("db")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "db.internal", "password": sealedSecret}, got)

	require.NoError(t, writer.SetField("db", "password", sealedSecret+"-2"))
	require.NoError(t, writer.Persist(t.Context()))
	s.requireNoPlaintext(t, store)
	require.NoError(t, reader.Reload(t.Context()))
	v, err := reader.GetField("db", "password")
	require.NoError(t, err)
	assert.Equal(t, sealedSecret+"-2", v)
}

func (s *suite) testSealedWithoutIdentities(t *testing.T) {
	store, id := s.sealedStore(t)
	s.putSecret(t, store, id)
	m := s.sealedManager(t, store)
	v, err := m.GetField("db", "password")
	require.NoError(t, err)
	assert.True(t, seal.IsSealed(v), "the envelope, got %v", v)

	if err = m.SetField("db", "password", "plain"); err == nil {
		err = m.Persist(t.Context())
	}
	require.ErrorIs(t, err, seal.ErrPlaintext)
	require.NoError(t, m.Reload(t.Context()))
	require.NoError(t, m.SetField("db", "host", "db2.internal"))
	require.NoError(t, m.Persist(t.Context()))
	s.requireNoPlaintext(t, store)
	v, err = s.sealedManager(t, store, id).GetField("db", "password")
	require.NoError(t, err)
	assert.Equal(t, sealedSecret, v)
}

func (s *suite) testSealedWatch(t *testing.T) {
	store, id := s.sealedStore(t)
	writer := s.putSecret(t, store, id)
	watcher := s.sealedManager(t, store, id)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events, err := watcher.Watch(ctx, "vault")
	if _, ok := s.open(t, store).(confo.Watcher); !ok {
		require.Error(t, err)
		return
	}
	require.NoError(t, err)
	require.NoError(t, writer.SetField("db", "password", sealedSecret+"-w"))
	require.NoError(t, writer.Persist(t.Context()))
	for ev := range events {
		if ev.Name == "db" && ev.Value["password"] == sealedSecret+"-w" {
			return
		}
	}
	t.Fatal("the watch ended before the change")
}

func (s *suite) testSealedHistory(t *testing.T) {
	store, id := s.sealedStore(t)
	m := s.putSecret(t, store, id)
	require.NoError(t, m.SetField("db", "password", sealedSecret+"-h"))
	require.NoError(t, m.Persist(t.Context()))
	h, ok := s.open(t, store).(confo.Historian)
	if !ok {
		t.Skip("the backend keeps no history")
	}
	versions, err := m.History(t.Context(), "vault", "db")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(versions), 2)
	assert.Equal(t, sealedSecret+"-h", versions[0].Value["password"])
	assert.Equal(t, sealedSecret, versions[1].Value["password"])
	raw, err := h.History(t.Context(), "vault", "db", 10)
	require.NoError(t, err)
	for _, v := range raw {
		assert.NotContains(t, string(v.Value), "s3cret", "stored version %d", v.Revision)
	}
}

func (s *suite) testSealedMoved(t *testing.T) {
	store, id := s.sealedStore(t)
	s.putSecret(t, store, id)
	raw := string(load(t, s.open(t, store), "vault")["db"].Value)
	moved := strings.Replace(raw, `"password"`, `"token"`, 1)
	s.h.PutRaw(t, store, "vault", "other", []byte(moved))

	snap, err := seal.Wrap(s.open(t, store), id).Load(t.Context(), "vault")
	require.NoError(t, err)
	require.NoError(t, snap.Entries["db"].Err)
	err = snap.Entries["other"].Err
	require.ErrorIs(t, err, seal.ErrWrongPlace)
	assert.Contains(t, err.Error(), `"vault"/"db"."password"`)
	assert.Contains(t, err.Error(), `"vault"/"other"."token"`)
}

func (s *suite) testSealedWrongIdentity(t *testing.T) {
	store, id := s.sealedStore(t)
	s.putSecret(t, store, id)
	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	snap, err := seal.Wrap(s.open(t, store), other).Load(t.Context(), "vault")
	require.NoError(t, err)
	require.ErrorIs(t, snap.Entries["db"].Err, seal.ErrWrongIdentity)
}

func (s *suite) testSealedRotate(t *testing.T) {
	store, oldID := s.sealedStore(t)
	m := s.sealedManager(t, store, oldID)
	for i := range 5 {
		require.NoError(t, m.Set(fmt.Sprintf("c%d", i), map[string]any{"token": seal.Secret(fmt.Sprintf("%s-%d", sealedSecret, i))}))
	}
	require.NoError(t, m.Persist(t.Context()))
	newID, err := age.GenerateX25519Identity()
	require.NoError(t, err)

	sb := seal.Wrap(s.open(t, store), oldID, newID)
	require.NoError(t, sb.AddRecipients(t.Context(), "vault", newID.Recipient().String()))
	require.NoError(t, sb.RemoveRecipients(t.Context(), "vault", oldID.Recipient().String()))
	prog, err := sb.Rotate(t.Context(), "vault", seal.RotateOptions{BatchSize: 2})
	require.NoError(t, err)
	assert.Equal(t, 5, prog.Done)

	for _, c := range []struct {
		id   age.Identity
		want error
	}{{newID, nil}, {oldID, seal.ErrWrongIdentity}} {
		snap, err := seal.Wrap(s.open(t, store), c.id).Load(t.Context(), "vault")
		require.NoError(t, err)
		require.Len(t, snap.Entries, 5)
		for name, e := range snap.Entries {
			if c.want == nil {
				require.NoError(t, e.Err, name)
			} else {
				require.ErrorIs(t, e.Err, c.want, name)
			}
		}
	}
	s.requireNoPlaintext(t, store)
}
