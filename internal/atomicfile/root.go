package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteIn is [Write] confined to root: name is a slash-separated path
// relative to root, and neither it nor any symbolic link met on the way
// may lead outside root (os.Root's rule), so a name read from a store
// cannot place a file anywhere else. The final element is replaced by a
// rename, so a symbolic link planted there is replaced, never followed.
// On error the file is unchanged and no temporary file is left.
func WriteIn(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(name)
	tmp, err := TempIn(root, dir, data, perm)
	if err != nil {
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return SyncDirIn(root, dir)
}

// TempIn is [Temp] confined to root: it writes data to a new temporary
// file in directory dir of root ("." for root itself) and returns the
// file's name relative to root.
func TempIn(root *os.Root, dir string, data []byte, perm fs.FileMode) (string, error) {
	var f *os.File
	var name string
	for {
		var rnd [8]byte
		rand.Read(rnd[:])
		name = filepath.Join(dir, TempPrefix+hex.EncodeToString(rnd[:])+TempSuffix)
		var err error
		f, err = root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
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
		root.Remove(name)
		return "", err
	}
	return name, nil
}

// SyncDirIn is [SyncDir] for directory dir of root.
func SyncDirIn(root *os.Root, dir string) error {
	d, err := root.Open(dir)
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
