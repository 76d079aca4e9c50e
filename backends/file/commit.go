package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

// current returns the revision of file path of root, 0 if it does not
// exist, and its permission bits.
func current(root *os.Root, path string) (int64, fs.FileMode, error) {
	raw, fi, err := readFile(root, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, 0, nil
	case err != nil:
		return 0, 0, err
	case fi == nil:
		return 0, 0, fmt.Errorf("%s: not a regular file", path)
	}
	return revision(raw), fi.Mode().Perm(), nil
}

// Commit applies ops to namespace ns. It checks every op's Revision against
// the hash of the file's current content (0: the file must not exist),
// writes each put to a synced temporary file, and then, holding an
// in-process lock and an exclusive lock on <namespace>/.lock, checks again:
// if any revision differs it writes nothing and returns an error wrapping
// ErrConflict naming those configurations. Otherwise it renames each
// temporary file over its configuration's file, removes the files of
// deletes, and syncs the directory. It returns the new revisions (0 for a
// delete). A cancelled ctx stops it before the first rename, with nothing
// applied; see the package documentation for what a crash can leave.
// Holding the lock, it also removes the namespace's temporary files older
// than [StaleTempAge], which a writer killed during a Commit left.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commitFiles(ctx, ns, ops, nil)
}

// fileWrite is one file a commit writes or removes: a configuration's or a
// metadata entry's.
type fileWrite struct {
	dir, file string
	what      string // for messages: `configuration "mysql"`
	value     []byte // nil: remove the file
	temp      string // the temporary file of a put, until renamed
}

// commitFiles is Commit and CommitMeta: it writes the files of ops and of
// the metadata ops that are not checks as described at Commit, checking
// the guards of both under the namespace's exclusive lock before anything
// is renamed.
func (b *Backend) commitFiles(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if err := checkName(ns); err != nil {
		return nil, fmt.Errorf("file: commit: %w", err)
	}
	op := fmt.Sprintf("commit to namespace %q", ns)
	for _, o := range ops {
		if err := checkConfigName(o.Name); err != nil {
			return nil, fmt.Errorf("file: %s: %w", op, err)
		}
	}
	files, err := metaFiles(op, meta)
	if err != nil {
		return nil, err
	}
	root, err := b.openNamespace(ctx, op, ns)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	dir := ns
	dirs := []string{dir} // the directories written to
	mdir := filepath.Join(dir, metaDir)
	if len(meta) > 0 {
		if err := root.Mkdir(mdir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("file: %s: %w", op, err)
		}
		dirs = append(dirs, mdir)
	}
	checkAll := func() ([]fs.FileMode, error) {
		perms, err := check(root, dir, op, ops)
		if err != nil {
			return nil, err
		}
		return perms, checkMeta(root, mdir, op, meta, files)
	}

	// Check without the lock first, to fail fast without writing, and to
	// write the new files before taking the lock, so that it is held for
	// little more than the renames.
	perms, err := checkAll()
	if err != nil {
		return nil, err
	}
	writes := make([]fileWrite, 0, len(ops)+len(meta))
	for _, o := range ops {
		writes = append(writes, fileWrite{dir: dir, file: o.Name + ext, what: fmt.Sprintf("configuration %q", o.Name), value: o.Value})
	}
	for i, m := range meta {
		if !m.Check {
			writes = append(writes, fileWrite{dir: mdir, file: files[i], what: fmt.Sprintf("metadata %q", m.Key), value: m.Value})
		}
	}
	defer func() {
		for _, w := range writes {
			if w.temp != "" {
				root.Remove(w.temp) // renamed ones are gone already
			}
		}
	}()
	for i := range writes {
		w := &writes[i]
		if w.value == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("file: %s: %w", op, err)
		}
		var perm fs.FileMode
		if i < len(ops) {
			perm = perms[i]
		} else {
			_, perm, _ = current(root, filepath.Join(w.dir, w.file))
		}
		if w.temp, err = writeTemp(root, w.dir, w.value, perm); err != nil {
			return nil, fmt.Errorf("file: %s: %s: %w", op, w.what, err)
		}
	}

	select {
	case b.commit <- struct{}{}:
		defer func() { <-b.commit }()
	case <-ctx.Done():
		return nil, fmt.Errorf("file: %s: %w", op, ctx.Err())
	}
	unlock, err := lockExclusive(ctx, root, filepath.Join(dir, lockName))
	if errors.Is(err, fs.ErrNotExist) {
		err = confo.ErrNamespaceNotFound // deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	defer unlock()
	if _, err := checkAll(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	now := time.Now()
	for _, d := range dirs {
		removeStaleTemps(root, d, now)
	}
	for _, w := range writes {
		if w.temp == "" {
			continue
		}
		if _, err := root.Lstat(w.temp); err != nil {
			// Removed as stale while this Commit waited for the lock.
			return nil, fmt.Errorf("file: %s: %s: temporary file: %w (nothing of the batch applied)", op, w.what, err)
		}
	}

	// Apply: from here on the batch goes through, whatever ctx says.
	for i, w := range writes {
		path := filepath.Join(w.dir, w.file)
		if w.value == nil {
			err = root.Remove(path)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else if err = root.Rename(w.temp, path); err == nil {
			writes[i].temp = ""
		}
		if err != nil {
			return nil, fmt.Errorf("file: %s: %s: %w (%s)", op, w.what, err, applied(writes[:i]))
		}
	}
	var syncErrs []error
	for _, d := range dirs {
		syncErrs = append(syncErrs, syncDir(root, d))
	}
	if err := errors.Join(syncErrs...); err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	revs := make([]int64, len(ops))
	for i, o := range ops {
		if o.Value != nil {
			revs[i] = revision(o.Value)
		}
	}
	return revs, nil
}

// check compares every op's Revision with the hash of its file in
// directory dir of root and returns an error wrapping ErrConflict naming
// those that differ. It also returns each file's permission bits (0 if it
// does not exist).
func check(root *os.Root, dir, op string, ops []confo.Op) ([]fs.FileMode, error) {
	perms := make([]fs.FileMode, len(ops))
	var conflicts []string
	for i, o := range ops {
		rev, perm, err := current(root, filepath.Join(dir, o.Name+ext))
		if err != nil {
			return nil, fmt.Errorf("file: %s: configuration %q: %w", op, o.Name, err)
		}
		if rev != o.Revision {
			conflicts = append(conflicts, fmt.Sprintf("%q", o.Name))
		}
		perms[i] = perm
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("file: %s: %w: %s changed in the store", op, confo.ErrConflict, strings.Join(conflicts, ", "))
	}
	return perms, nil
}

// removeStaleTemps removes the regular temporary files of directory dir of
// root last modified more than StaleTempAge before now: those a writer
// killed during a Commit left behind. It is best effort: a file it cannot
// remove stays ignored by Load, and the next Commit tries again.
func removeStaleTemps(root *os.Root, dir string, now time.Time) {
	entries, err := readDir(root, dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTemp(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > StaleTempAge {
			root.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// applied describes the writes of a commit that were applied before an
// error.
func applied(writes []fileWrite) string {
	if len(writes) == 0 {
		return "nothing of the batch applied"
	}
	whats := make([]string, len(writes))
	for i, w := range writes {
		whats[i] = w.what
	}
	return "applied before it: " + strings.Join(whats, ", ")
}

// writeTemp writes raw to a new temporary file in directory dir of root,
// syncs and closes it, and returns its path in root. The file gets
// permission bits perm, or the default (0666 less the umask) when perm is 0.
func writeTemp(root *os.Root, dir string, raw []byte, perm fs.FileMode) (string, error) {
	var f *os.File
	var path string
	for {
		var rnd [8]byte
		rand.Read(rnd[:])
		path = filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:])+tempSuffix)
		var err error
		f, err = root.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	err := func() error {
		if perm != 0 {
			if err := f.Chmod(perm); err != nil {
				return err
			}
		}
		if _, err := f.Write(raw); err != nil {
			return err
		}
		return f.Sync()
	}()
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		root.Remove(path)
		return "", err
	}
	return path, nil
}
