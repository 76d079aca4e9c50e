//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// lockExclusive takes an exclusive flock(2) on file path of root, creating the file if
// needed, and waits for it until ctx is done. The returned func releases it.
//
// Once locked, it checks that path still names the locked file: if the
// directory was renamed or removed meanwhile (a namespace deleted), it
// tries again at path, which fails if the directory is gone.
func lockExclusive(ctx context.Context, root *os.Root, path string) (func(), error) {
	for {
		f, err := root.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return nil, err
		}
		unlock, err := flock(ctx, f, syscall.LOCK_EX)
		if err != nil {
			return nil, err
		}
		locked, err := f.Stat()
		if err != nil {
			unlock()
			return nil, err
		}
		if now, err := root.Stat(path); err == nil && os.SameFile(locked, now) {
			return unlock, nil
		}
		unlock()
	}
}

// lockShared takes a shared flock(2) on file path of root, and waits for it until ctx is
// done. If path does not exist, no writer has ever locked the namespace and
// it takes no lock, so that read-only directories can be loaded.
func lockShared(ctx context.Context, root *os.Root, path string) (func(), error) {
	f, err := root.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	return flock(ctx, f, syscall.LOCK_SH)
}

// flock takes the lock how (LOCK_EX or LOCK_SH) on f. It waits in the
// kernel, which wakes it as soon as the lock is free, so that neither
// readers nor writers are starved; if ctx is done first it returns ctx's
// error, and the abandoned wait releases the lock as soon as it gets it.
func flock(ctx context.Context, f *os.File, how int) (func(), error) {
	fd := int(f.Fd())
	release := func() { f.Close() } // closing the file releases the lock
	err := syscall.Flock(fd, how|syscall.LOCK_NB)
	if err == nil {
		return release, nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
		f.Close()
		return nil, &fs.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := syscall.Flock(fd, how)
			if !errors.Is(err, syscall.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, &fs.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		return release, nil
	case <-ctx.Done():
		go func() {
			<-done
			f.Close()
		}()
		return nil, ctx.Err()
	}
}
