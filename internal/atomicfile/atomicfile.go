// Package atomicfile replaces files so that a reader, or the file system
// after a crash, sees either the old content or the new one, never a mix.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Temporary files are named TempPrefix + random hex + TempSuffix, in the
// directory of the file they replace. Readers of a directory skip them.
const (
	TempPrefix = ".confo-"
	TempSuffix = ".tmp"
)

// Write replaces the file at path with data: it writes a temporary file in
// the same directory with permission bits perm (less the umask), syncs and
// closes it, renames it over path, and syncs the directory. On error the
// file at path is unchanged and no temporary file is left.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(osDir{}, path, data, perm)
}

// tree is where the files are: the whole file system (osDir) or an
// [os.Root], whose methods keep every name inside it.
type tree interface {
	Open(name string) (*os.File, error)
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
}

// osDir is the tree of the os package's functions.
type osDir struct{}

func (osDir) Open(name string) (*os.File, error) { return os.Open(name) }
func (osDir) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osDir) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osDir) Remove(name string) error             { return os.Remove(name) }

var _ tree = (*os.Root)(nil)

// write is Write and WriteIn.
func write(t tree, name string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(name)
	tmp, err := temp(t, dir, data, perm)
	if err != nil {
		return err
	}
	if err := t.Rename(tmp, name); err != nil {
		t.Remove(tmp)
		return err
	}
	return syncDir(t, dir)
}

// temp writes data to a new temporary file in directory dir of t, synced
// and closed, and returns its name in t.
func temp(t tree, dir string, data []byte, perm fs.FileMode) (string, error) {
	var f *os.File
	var name string
	for {
		var rnd [8]byte
		rand.Read(rnd[:])
		name = filepath.Join(dir, TempPrefix+hex.EncodeToString(rnd[:])+TempSuffix)
		var err error
		f, err = t.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir is SyncDirIn, on any tree.
func syncDir(t tree, dir string) error {
	d, err := t.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}
