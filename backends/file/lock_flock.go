//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// lockExclusive takes an exclusive flock(2) on path, creating the file if
// needed, and waits for it until ctx is done. The returned func releases it.
func lockExclusive(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	return flock(ctx, f, syscall.LOCK_EX)
}

// lockShared takes a shared flock(2) on path, and waits for it until ctx is
// done. If path does not exist, no writer has ever locked the namespace and
// it takes no lock, so that read-only directories can be loaded.
func lockShared(ctx context.Context, path string) (func(), error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	return flock(ctx, f, syscall.LOCK_SH)
}

func flock(ctx context.Context, f *os.File, how int) (func(), error) {
	err := retry(ctx, func() (bool, error) {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
			return false, nil
		}
		return false, &fs.PathError{Op: "flock", Path: f.Name(), Err: err}
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
