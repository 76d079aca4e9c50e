package confo_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

func TestOnChange(t *testing.T) {
	m, store := newWatchManager(t)
	got := make(chan confo.Event, 10)
	stop, err := m.OnChange(t.Context(), "database", func(ev confo.Event) { got <- ev })
	require.NoError(t, err)
	putJSON(t, store, "mysql", map[string]any{"port": 3306})
	select {
	case ev := <-got:
		assert.Equal(t, int64(3306), ev.Value["port"])
	case <-time.After(watchTimeout):
		t.Fatal("no callback")
	}
	stop()
	stop() // idempotent
	putJSON(t, store, "mysql", map[string]any{"port": 3307})
	putJSON(t, store, "barrier", map[string]any{})
	ch, err := m.Watch(t.Context(), "database")
	require.NoError(t, err)
	putJSON(t, store, "barrier2", map[string]any{})
	recvEvent(t, ch)
	assert.Empty(t, got, "no call after stop")

	_, err = m.OnChange(t.Context(), "database", nil)
	require.ErrorIs(t, err, confo.ErrInvalidValue)
}

func TestBind(t *testing.T) {
	type mysqlConfig struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	m, store := newWatchManager(t)
	putJSON(t, store, "mysql", map[string]any{"host": "db1", "port": 3306})
	require.NoError(t, m.Reload(t.Context()))

	v, err := confo.Bind[mysqlConfig](t.Context(), m, "database", "mysql")
	require.NoError(t, err)
	assert.Equal(t, mysqlConfig{Host: "db1", Port: 3306}, v.Load())

	putJSON(t, store, "other", map[string]any{"host": "nope"})
	putJSON(t, store, "mysql", map[string]any{"host": "db2", "port": 3307})
	require.Eventually(t, func() bool { return v.Load().Host == "db2" }, watchTimeout, time.Millisecond)
	assert.Equal(t, 3307, v.Load().Port)

	putJSON(t, store, "mysql", map[string]any{"port": "not a number"})
	require.Eventually(t, func() bool { return v.Err() != nil }, watchTimeout, time.Millisecond)
	assert.Equal(t, mysqlConfig{Host: "db2", Port: 3307}, v.Load(), "the last good value stays")

	store.Remove("database", "mysql")
	require.Eventually(t, func() bool { return v.Load() == mysqlConfig{} }, watchTimeout, time.Millisecond)
	assert.NoError(t, v.Err())

	missing, err := confo.Bind[mysqlConfig](t.Context(), m, "database", "later")
	require.NoError(t, err)
	assert.Zero(t, missing.Load())
	putJSON(t, store, "later", map[string]any{"host": "db3"})
	require.Eventually(t, func() bool { return missing.Load().Host == "db3" }, watchTimeout, time.Millisecond)

	putJSON(t, store, "bad", map[string]any{"port": "x"})
	require.NoError(t, m.Reload(t.Context()))
	_, err = confo.Bind[mysqlConfig](t.Context(), m, "database", "bad")
	require.Error(t, err)
	_, err = confo.Bind[mysqlConfig](t.Context(), m, "database", "a/b")
	require.ErrorIs(t, err, confo.ErrInvalidName)
}
