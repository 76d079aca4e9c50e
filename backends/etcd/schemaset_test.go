package etcd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/tests/v3/framework/integration"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/schema"
)

// TestSchemaSetRacesPersist: a schema set without force while other
// managers persist values never comes into force over a value that fails
// it, even when a value is committed between Set's check of the current
// values and its write (randomized, 3-member cluster). Replayed from the
// store's history: at every revision, each configuration satisfies the
// schema in force.
func TestSchemaSetRacesPersist(t *testing.T) {
	integration.BeforeTestExternal(t)
	c := integration.NewCluster(t, &integration.ClusterConfig{Size: 3, UseTCP: true})
	t.Cleanup(func() { c.Terminate(t) })
	prefix := uniquePrefix("setrace")
	loose := `{"type":"object","properties":{"port":{"type":"integer"}}}`
	strict := `{"type":"object","properties":{"port":{"type":"integer","maximum":999}}}`

	newManager := func(member int) (*confo.Manager, *schema.Backend) { return schemaManager(t, c, member, prefix) }
	_, admin := newManager(0)
	start := storeRev(t, c)
	_, err := admin.Set(t.Context(), "db", "", []byte(loose))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	adminDone := make(chan struct{})
	var persisted, strictSet, strictRefused, strictConflict, strictUnknown atomic.Int64
	for w := range 2 {
		m, _ := newManager(1 + w)
		name := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			last := 0 // the port last persisted: Persist sends nothing for the same one
			for ctx.Err() == nil {
				select {
				case <-adminDone:
					return
				default:
				}
				port := 1 + rng.IntN(999) // mostly within the strict schema, sometimes not
				if rng.IntN(10) < 2 {
					port += 999
				}
				if err := m.Set(name, map[string]any{"port": port}); err != nil {
					continue // refused by the schema this manager has
				}
				time.Sleep(time.Duration(rng.IntN(12)) * time.Millisecond)
				err, ok := persistRacing(ctx, t, m)
				if !ok {
					return
				}
				if err != nil { // refused, unless a timed-out Persist was applied after all
					if v, gerr := m.Get(name); gerr != nil || v["port"] != int64(port) {
						continue
					}
				}
				if port != last {
					persisted.Add(1)
				}
				last = port
			}
		})
	}
	wg.Go(func() {
		defer close(adminDone)
		// Until the strict schema came into force 20 times (the race
		// needs chances), within a bound of attempts.
		for i := 0; i < 400 && strictSet.Load() < 20 && ctx.Err() == nil; i++ {
			op, cancel := opContext(ctx)
			_, err := admin.Set(op, "db", "", []byte(strict))
			cancel()
			var refused *schema.RefusedError
			switch {
			case err == nil:
				strictSet.Add(1)
			case errors.As(err, &refused):
				if strictRefused.Add(1) < 4 {
					t.Logf("refused: %v", err)
				}
				time.Sleep(time.Millisecond)
				continue
			case errors.Is(err, confo.ErrConflict):
				strictConflict.Add(1)
				continue
			case transient(err):
				strictUnknown.Add(1) // may have been applied
				continue
			default:
				t.Errorf("set strict: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond) // let writers meet the strict schema
			op, cancel = opContext(ctx)
			_, err = admin.Set(op, "db", "", []byte(loose))
			cancel()
			if err != nil && !errors.Is(err, confo.ErrConflict) && !transient(err) {
				t.Errorf("set loose: %v", err)
				return
			}
		}
	})
	wg.Wait()
	t.Logf("persisted %d; strict schema set %d, refused %d, conflicts %d", persisted.Load(), strictSet.Load(), strictRefused.Load(), strictConflict.Load())
	require.Positive(t, persisted.Load(), "the race wrote values")
	require.Positive(t, strictSet.Load(), "the strict schema came into force")

	// Replay the store's history.
	b := etcd.NewFromClient(c.Client(0), etcd.Config{Prefix: prefix})
	schemaKey := b.MetaKey("db", schema.Key(""))
	names := map[string]string{b.Key("db", "w0"): "w0", b.Key("db", "w1"): "w1"}
	maximum := 0 // 0: the loose schema
	ports := map[string]int{}
	checked, strictChecks := 0, 0
	replayPuts(t, c, prefix, start, func(key string, value []byte, rev int64) {
		if key == schemaKey {
			maximum = 0
			if string(value) == strict {
				maximum = 999
				strictChecks++
				for name, port := range ports {
					require.LessOrEqual(t, port, maximum, "revision %d: the strict schema came into force over %s with port %d", rev, name, port)
				}
			}
			return
		}
		name, ok := names[key]
		if !ok {
			return
		}
		var v struct{ Port int }
		require.NoError(t, json.Unmarshal(value, &v))
		ports[name] = v.Port
		if maximum > 0 {
			require.LessOrEqual(t, v.Port, maximum, "revision %d: %s with port %d entered under the strict schema", rev, name, v.Port)
		}
		checked++
	})
	assert.EqualValues(t, persisted.Load(), checked, "every persisted value replayed")
	assert.GreaterOrEqual(t, int64(strictChecks), strictSet.Load(), "every strict schema replayed")
	assert.LessOrEqual(t, int64(strictChecks), strictSet.Load()+strictUnknown.Load(), "no strict schema replayed that was not set (or timed out)")
}
