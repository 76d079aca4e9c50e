package seal_test

import (
	"context"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/seal"
)

// FuzzLoad stores arbitrary bytes beside a sealed configuration and loads
// them through a layer with the identity: no panic, and a value with a
// sealed field either opens (then it holds no envelope) or is refused with
// an error wrapping ErrSealed.
func FuzzLoad(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	b := memory.New()
	ctx := context.Background()
	_ = b.CreateNamespace(ctx, "db")
	if err := seal.Wrap(b).SetRecipients(ctx, "db", []string{id.Recipient().String()}, 0); err != nil {
		f.Fatal(err)
	}
	m := manager(f, b, "db", id)
	_ = m.Set("mysql", map[string]any{"password": seal.Secret(secret)})
	if err := m.Persist(ctx); err != nil {
		f.Fatal(err)
	}
	snap, _ := b.Load(ctx, "db")
	good := string(snap.Entries["mysql"].Value)
	f.Add(good)
	f.Add(strings.Replace(good, "v1:", "v1:0", 1))
	f.Add(good[:len(good)-20] + `"}`)
	f.Add(`{"a":"confo:sealed:v1:"}`)
	f.Add(`{"a":"confo:sealed:v1:00:!!"}`)
	f.Add(`{"a":["confo:sealed:v1:x"]}`)
	f.Add(`not json confo:sealed:v1:`)
	f.Fuzz(func(t *testing.T, raw string) {
		b.Put("db", "fuzz", []byte(raw))
		snap, err := seal.Wrap(b, id).Load(ctx, "db")
		if err != nil {
			t.Fatal(err)
		}
		e := snap.Entries["fuzz"]
		if e.Err != nil {
			if !strings.Contains(e.Err.Error(), "sealed") {
				t.Fatalf("error %v does not say it is about a sealed value", e.Err)
			}
			return
		}
	})
}
