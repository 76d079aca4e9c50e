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
	dir := filepath.Dir(path)
	tmp, err := Temp(dir, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// Temp writes data to a new temporary file in dir with permission bits
// perm (less the umask), syncs and closes it, and returns its path, for
// callers that rename several files at once.
func Temp(dir string, data []byte, perm fs.FileMode) (string, error) {
	var f *os.File
	for {
		var rnd [8]byte
		rand.Read(rnd[:])
		path := filepath.Join(dir, TempPrefix+hex.EncodeToString(rnd[:])+TempSuffix)
		var err error
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	path := f.Name()
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// SyncDir flushes dir's entries (renames, removals) to stable storage. A
// system that cannot sync a directory is not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
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
