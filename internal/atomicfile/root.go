package atomicfile

import (
	"io/fs"
	"os"
)

// WriteIn is [Write] confined to root: name is a slash-separated path
// relative to root, and neither it nor any symbolic link met on the way
// may lead outside root (os.Root's rule), so a name read from a store
// cannot place a file anywhere else. The final element is replaced by a
// rename, so a symbolic link planted there is replaced, never followed.
// On error the file is unchanged and no temporary file is left.
func WriteIn(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	return write(root, name, data, perm)
}

// SyncDirIn flushes the entries (renames, removals) of directory dir of
// root to stable storage. A system that cannot sync a directory is not an
// error.
func SyncDirIn(root *os.Root, dir string) error {
	return syncDir(root, dir)
}
