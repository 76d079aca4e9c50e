package seal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/seal"
)

// A service holding an identity sees plaintext; the store holds the sealed
// envelope, and a manager without identities sees that envelope.
func Example() {
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity() // or seal.IdentitiesFromEnv()
	store := memory.New()
	_ = store.CreateNamespace(ctx, "database")
	_ = seal.Wrap(store).SetRecipients(ctx, "database", []string{id.Recipient().String()}, 0)

	m := confo.New(confo.WithLayers(seal.Layer(id)))
	_ = m.AddBackend("mem", store)
	_ = m.ActivateBackend("mem")
	_ = m.UseNamespace(ctx, "database")
	_ = m.Set("mysql", map[string]any{"host": "db.internal", "password": seal.Secret("hunter2")})
	if err := m.Persist(ctx); err != nil {
		fmt.Println(err)
		return
	}

	snap, _ := store.Load(ctx, "database")
	stored := string(snap.Entries["mysql"].Value)
	fmt.Println("store holds plaintext:", strings.Contains(stored, "hunter2"))

	reader := confo.New(confo.WithLayers(seal.Layer(id)))
	_ = reader.AddBackend("mem", store)
	_ = reader.ActivateBackend("mem")
	_ = reader.UseNamespace(ctx, "database")
	password, _ := reader.GetField("mysql", "password")
	fmt.Println("with the identity:", password)

	blind := confo.New(confo.WithLayers(seal.Layer()))
	_ = blind.AddBackend("mem", store)
	_ = blind.ActivateBackend("mem")
	_ = blind.UseNamespace(ctx, "database")
	password, _ = blind.GetField("mysql", "password")
	fmt.Println("without:", seal.IsSealed(password))
	err := blind.SetField("mysql", "password", "oops")
	fmt.Println("plain over sealed refused:", errors.Is(err, seal.ErrPlaintext))
	// Output:
	// store holds plaintext: false
	// with the identity: hunter2
	// without: true
	// plain over sealed refused: true
}
