//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package file_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

// TestCommitWhoseTempWasRemoved makes a Commit wait for the namespace lock,
// held here as another process would, while its temporary file is removed
// as stale: the Commit fails and applies nothing of its batch.
func TestCommitWhoseTempWasRemoved(t *testing.T) {
	b, dir := newBackendIn(t, "ns")
	ctx := t.Context()
	nsDir := filepath.Join(dir, "ns")

	lock, err := os.OpenFile(filepath.Join(nsDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o666)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	locked := true
	defer func() {
		if locked {
			syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		}
	}()

	done := make(chan error, 1)
	go func() {
		_, err := b.Commit(ctx, "ns", []confo.Op{{Name: "a", Value: []byte(`{"v":1}`)}, {Name: "b", Value: []byte(`{"v":2}`)}})
		done <- err
	}()
	var temps []string
	require.Eventually(t, func() bool {
		temps, err = filepath.Glob(filepath.Join(nsDir, ".confo-*.tmp"))
		return err == nil && len(temps) == 2
	}, 10*time.Second, 5*time.Millisecond, "the Commit writes its temporary files before it waits for the lock")
	require.NoError(t, os.Remove(temps[1]), "as a sweep of stale files would")
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_UN))
	locked = false

	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the Commit does not return once the lock is free")
	}
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "nothing of the batch applied")
	snap, err := b.Load(ctx, "ns")
	require.NoError(t, err)
	assert.Empty(t, snap.Entries, "nothing of the batch applied")
	left, err := filepath.Glob(filepath.Join(nsDir, ".confo-*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, left, "the failed Commit removes its other temporary file")
}
