package file

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/confo-go/confo"
)

// loadAttempts is how many times Load reads a namespace without the lock
// before it reads it holding the lock.
const loadAttempts = 3

// Load reads every "*.json" file of namespace ns. Entry.Value holds the
// file's bytes as they are; Entry.Revision is their hash. It returns
// ErrNamespaceNotFound when ns has no directory. The snapshot's Revision is
// 0: a directory has no revision of its own.
//
// The files are read without a lock, then checked, under a shared lock on
// <namespace>/.lock, to be the very files the directory holds: if a Commit
// replaced one meanwhile, Load reads again (holding the lock on the last
// attempt). So a Load sees a Commit made through this package wholly or not
// at all, and long reads do not keep writers waiting.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	if err := checkName(ns); err != nil {
		return confo.Snapshot{}, fmt.Errorf("file: load: %w", err)
	}
	op := fmt.Sprintf("load namespace %q", ns)
	root, err := b.openNamespace(ctx, op, ns)
	if err != nil {
		return confo.Snapshot{}, err
	}
	defer root.Close()
	lock := filepath.Join(ns, lockName)
	for attempt := 1; ; attempt++ {
		if attempt > loadAttempts {
			unlock, err := lockShared(ctx, root, lock)
			if err != nil {
				return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
			}
			entries, _, err := readNamespace(ctx, root, ns)
			unlock()
			if err != nil {
				return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
			}
			return confo.Snapshot{Entries: entries}, nil
		}
		entries, read, err := readNamespace(ctx, root, ns)
		if err != nil {
			return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
		}
		same, err := unchanged(ctx, root, ns, read)
		if err != nil {
			return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
		}
		if same {
			return confo.Snapshot{Entries: entries}, nil
		}
	}
}

// configFile returns the configuration name of directory entry e, or false
// if e is not a configuration's file.
func configFile(e fs.DirEntry) (string, bool) {
	name, ok := strings.CutSuffix(e.Name(), ext)
	if !ok || e.IsDir() || checkConfigName(name) != nil {
		return "", false
	}
	return name, true
}

// readNamespace reads the configurations of directory dir of root. It
// returns them and the identity of each file read, by name (nil for a name
// that is not a regular file, or is a link leading out of root).
func readNamespace(ctx context.Context, root *os.Root, dir string) (map[string]confo.Entry, map[string]fs.FileInfo, error) {
	files, err := readDir(root, dir)
	if err != nil {
		return nil, nil, err
	}
	entries := make(map[string]confo.Entry, len(files))
	read := make(map[string]fs.FileInfo, len(files))
	for _, e := range files {
		name, ok := configFile(e)
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		raw, fi, err := readFile(root, filepath.Join(dir, e.Name()))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed since ReadDir
		case err != nil && e.Type()&fs.ModeSymlink != 0:
			// A link that leads out of root (or loops): not a
			// configuration, as a file that is not regular is not.
			read[name] = nil
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("configuration %q: %w", name, err)
		}
		read[name] = fi
		if fi != nil {
			entries[name] = confo.Entry{Value: raw, Revision: revision(raw)}
		}
	}
	return entries, read, nil
}

// readFile returns the content and identity of file path of root, or a nil
// identity if it is not a regular file.
func readFile(root *os.Root, path string) ([]byte, fs.FileInfo, error) {
	f, err := root.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, nil
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return raw, fi, nil
}

// unchanged reports whether directory dir of root holds, under a shared
// lock, the very configuration files of read.
func unchanged(ctx context.Context, root *os.Root, dir string, read map[string]fs.FileInfo) (bool, error) {
	unlock, err := lockShared(ctx, root, filepath.Join(dir, lockName))
	if err != nil {
		return false, err
	}
	defer unlock()
	files, err := readDir(root, dir)
	if err != nil {
		return false, err
	}
	n := 0
	for _, e := range files {
		name, ok := configFile(e)
		if !ok {
			continue
		}
		then, seen := read[name]
		if !seen {
			return false, nil
		}
		n++
		if then == nil {
			continue
		}
		now, err := root.Stat(filepath.Join(dir, e.Name()))
		if err != nil || !os.SameFile(then, now) || then.Size() != now.Size() || !then.ModTime().Equal(now.ModTime()) {
			return false, nil
		}
	}
	return n == len(read), nil
}

// revision is the revision of a file holding raw: 63 bits of its SHA-256,
// never 0.
func revision(raw []byte) int64 {
	sum := sha256.Sum256(raw)
	rev := int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
	if rev == 0 {
		rev = 1
	}
	return rev
}
