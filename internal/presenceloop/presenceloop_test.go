package presenceloop_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/presenceloop"
)

func TestSession(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := presenceloop.New[string](ctx)
	cancel() // the session outlives the context it was opened with
	require.NoError(t, s.Context().Err())

	refreshed := make(chan map[string][]byte, 100)
	s.Refresh(time.Millisecond, func(ctx context.Context, recs map[string][]byte) {
		assert.NoError(t, ctx.Err())
		recs["scribble"] = nil // a copy: the session's records are not touched
		refreshed <- recs
	})
	require.True(t, s.Put("a", []byte("1")))
	require.True(t, s.Put("b", []byte("2")))
	deadline := time.After(30 * time.Second)
	for got := map[string][]byte{}; len(got) != 3; {
		select {
		case got = <-refreshed:
		case <-deadline:
			t.Fatal("no refresh with both records")
		}
	}
	assert.Equal(t, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, s.Records())

	var ended atomic.Bool
	s.Go(func() {
		<-s.Context().Done()
		time.Sleep(10 * time.Millisecond)
		ended.Store(true)
	})
	recs, first := s.Close()
	assert.True(t, first)
	assert.True(t, ended.Load(), "Close waits for the session's goroutines")
	assert.Error(t, s.Context().Err())
	assert.Equal(t, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, recs)
	assert.False(t, s.Put("c", []byte("3")), "a closed session refuses records")
	recs, first = s.Close()
	assert.False(t, first)
	assert.Nil(t, recs)
}

func TestInterval(t *testing.T) {
	assert.Equal(t, 10*time.Second, presenceloop.Interval(30*time.Second))
	assert.Equal(t, 10*time.Millisecond, presenceloop.Interval(time.Millisecond))
}

func TestCheckNames(t *testing.T) {
	require.NoError(t, presenceloop.CheckNames("redis", "db", "host:8080"))
	err := presenceloop.CheckNames("redis", "a/b", "web-1")
	require.ErrorIs(t, err, confo.ErrInvalidName)
	assert.Contains(t, err.Error(), "redis: put presence record: ")
	assert.NotContains(t, err.Error(), "instance ID")
	err = presenceloop.CheckNames("etcd", "db", "")
	require.ErrorIs(t, err, confo.ErrInvalidName)
	assert.Contains(t, err.Error(), "etcd: put presence record: instance ID: ")
}
