// Package file is a confo backend that keeps configurations as JSON files in
// a directory, with the original's layout:
//
//	<config_path>/<namespace>/<name>.json
//
// A namespace is a subdirectory of config_path; each configuration is one
// file holding its JSON object, so a person can read and edit it with any
// tool. Beside confo, the package uses the standard library, and
// github.com/fsnotify/fsnotify for [Backend.Watch].
//
// Importing the package registers [confo.FileBackend] with two credentials:
// "config_path" (required, a string: the directory, created if missing) and
// "namespaces" (optional, a list of namespaces to create at load); any other
// key is [confo.ErrInvalidCredentials] naming it and the nearest known key.
//
// # Revisions and the guard
//
// A configuration's revision is a hash of its file's content (63 bits of
// SHA-256, never 0), so two managers, or two processes, sharing a directory
// get the same guard as on etcd: a Persist based on content that has changed
// since it was read fails with [confo.ErrConflict]. A configuration changed
// and then changed back to what a manager read counts as unchanged.
//
// # Atomicity
//
// Each file is replaced atomically: the new content is written to a
// temporary file in the same directory, synced, and renamed over the old
// one, then the directory is synced. A reader never sees a partly written
// file. A [Backend.Commit] is all-or-nothing with respect to the guard: it
// takes an in-process lock and an exclusive lock on <namespace>/.lock, checks
// every configuration's revision, and writes nothing if one does not match.
// Files have no multi-file transaction, though: a crash (of the process or
// of the machine) while the files of one batch are being renamed can leave
// part of that batch applied. Every file is then either wholly old or wholly
// new. A Load checks, under a shared lock on the same file, that the files it
// read are still those of the directory, and reads again if not, so on Unix
// a Load does not see half of a concurrent Commit made through this package.
//
// The cross-process lock uses flock(2) on Linux, macOS and the BSDs. On other
// systems only the in-process lock is taken: do not share a directory
// between processes that write there.
//
// # Names
//
// Names are checked with [confo.ValidateName] here too, and must be a single
// local path element, so no name can reach outside config_path. Every file
// is opened through an [os.Root] on config_path: a symbolic link inside it
// is followed only where it stays inside config_path, so a link planted in
// the directory cannot make Confo read or write elsewhere (a namespace
// directory that is a link leading out is not listed and cannot be loaded;
// a "*.json" link leading out is ignored by Load, as any file that is not a
// regular file is, and a Commit to its name fails). A
// configuration name is at most 250 bytes, so that its file name (with
// ".json") fits in the 255 bytes file systems allow. Names of the form
// ".confo-*.tmp" are reserved for temporary files and directories. These,
// the lock file and anything that is not a "*.json" file are ignored by
// Load; anything that is not a directory is ignored by Namespaces.
//
// A writer killed during a Commit can leave temporary files behind. Each
// Commit removes, under the namespace's exclusive lock, the temporary files
// of that namespace's directory last modified more than [StaleTempAge]
// ago. A live writer's temporary file is younger: it is written just
// before the writer waits for that lock, and renamed once it holds it. A
// writer that waited longer than StaleTempAge for the lock finds its file
// gone and fails with nothing of its batch applied.
//
// # Files
//
// New files and directories get the default permissions reduced by the
// process umask, as os.WriteFile and os.MkdirAll give (typically 0644 and
// 0755). A file that is replaced keeps its permission bits, so a
// configuration holding a secret can be made private with chmod 600.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confo-go/confo"
)

func init() {
	confo.Register(confo.FileBackend, open)
}

// open is the OpenFunc registered for confo.FileBackend.
func open(ctx context.Context, creds confo.Credentials) (confo.Backend, error) {
	dir, names, err := parseCredentials(creds)
	if err != nil {
		return nil, err
	}
	b, err := New(dir)
	if err != nil {
		return nil, err
	}
	for _, ns := range names {
		if err := b.CreateNamespace(ctx, ns); err != nil {
			return nil, errors.Join(err, b.Close())
		}
	}
	return b, nil
}

// StaleTempAge is how long after its last modification a temporary file
// (".confo-*.tmp") in a namespace's directory counts as left by a writer
// that died, and is removed by the next Commit to that namespace.
const StaleTempAge = 15 * time.Minute

const (
	ext        = ".json"
	lockName   = ".lock"
	tempPrefix = ".confo-"
	tempSuffix = ".tmp"
	maxNameLen = 255 - len(ext) // longest configuration name whose file name fits
)

// Backend is a directory of configurations. The zero value is not usable:
// call [New]. It is safe for concurrent use, and several Backends, in one
// process or several, may share a directory.
type Backend struct {
	dir    string
	commit chan struct{} // a one-slot semaphore: the in-process commit lock
	closed atomic.Bool
}

var _ confo.Backend = (*Backend)(nil)

// New returns a Backend storing its namespaces in dir, which it creates
// (with its parents) if it does not exist, as the original did. The error
// names dir if it cannot be created or is not a directory. Paths, unlike
// credential values, are not secret: errors may name them.
func New(dir string) (*Backend, error) {
	if dir == "" {
		return nil, fmt.Errorf("file: %w: empty config_path", confo.ErrInvalidCredentials)
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return &Backend{dir: dir, commit: make(chan struct{}, 1)}, nil
}

// Dir returns the directory the Backend stores its namespaces in.
func (b *Backend) Dir() string { return b.dir }

// begin checks that b is open and ctx is live.
func (b *Backend) begin(ctx context.Context, op string) error {
	if b.closed.Load() {
		return fmt.Errorf("file: %s: %w", op, confo.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: %s: %w", op, err)
	}
	return nil
}

// checkName rejects any name that is not a valid confo name or could be
// read as more than one local path element on this system.
func checkName(name string) error {
	if err := confo.ValidateName(name); err != nil {
		return err
	}
	if !filepath.IsLocal(name) || strings.ContainsAny(name, `/`+string(filepath.Separator)) ||
		filepath.Base(name) != name {
		return fmt.Errorf("%w %q: not a single local path element", confo.ErrInvalidName, name)
	}
	if isTemp(name) {
		return fmt.Errorf("%w %q: reserved for the file backend's temporary files", confo.ErrInvalidName, name)
	}
	return nil
}

// isTemp reports whether name is that of a temporary file or directory of
// this package (".confo-*.tmp"), which a crash may leave behind.
func isTemp(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}

// checkConfigName is checkName plus the file backend's length limit.
func checkConfigName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w %q: longer than %d bytes, the file backend's limit", confo.ErrInvalidName, name, maxNameLen)
	}
	return nil
}

// openRoot opens the Backend's directory as an [os.Root], through which
// every file is reached, so that no name nor link leads outside it. The
// caller closes it.
func (b *Backend) openRoot(op string) (*os.Root, error) {
	root, err := os.OpenRoot(b.dir)
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	return root, nil
}

// openNamespace starts op on namespace ns (see [Backend.begin]) and opens
// the directory as a root, checking that ns has a directory in it (see
// nsDir). The caller closes the root.
func (b *Backend) openNamespace(ctx context.Context, op, ns string) (*os.Root, error) {
	if err := b.begin(ctx, op); err != nil {
		return nil, err
	}
	root, err := b.openRoot(op)
	if err != nil {
		return nil, err
	}
	if err := nsDir(root, ns); err != nil {
		root.Close()
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	return root, nil
}

// readDir returns the entries of directory dir of root, sorted by name.
func readDir(root *os.Root, dir string) ([]fs.DirEntry, error) {
	f, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(x, y fs.DirEntry) int { return strings.Compare(x.Name(), y.Name()) })
	return entries, nil
}

// Namespaces lists the subdirectories of the directory. It reads no
// configuration file.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.begin(ctx, "namespaces"); err != nil {
		return nil, err
	}
	root, err := b.openRoot("namespaces")
	if err != nil {
		return nil, err
	}
	defer root.Close()
	entries, err := readDir(root, ".")
	if err != nil {
		return nil, fmt.Errorf("file: namespaces: %w", err)
	}
	names := []string{}
	for _, e := range entries {
		if checkName(e.Name()) != nil {
			continue
		}
		if isDir(root, e) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// isDir reports whether e, an entry of root, is a directory or a symbolic
// link to one inside root.
func isDir(root *os.Root, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := root.Stat(e.Name())
	return err == nil && fi.IsDir()
}

// CreateNamespace creates the directory of namespace ns. Creating one that
// exists is not an error; a file in the way is.
func (b *Backend) CreateNamespace(ctx context.Context, ns string) error {
	if err := checkName(ns); err != nil {
		return fmt.Errorf("file: create namespace: %w", err)
	}
	if err := b.begin(ctx, fmt.Sprintf("create namespace %q", ns)); err != nil {
		return err
	}
	root, err := b.openRoot(fmt.Sprintf("create namespace %q", ns))
	if err != nil {
		return err
	}
	defer root.Close()
	err = root.Mkdir(ns, 0o777)
	if errors.Is(err, fs.ErrExist) {
		fi, statErr := root.Stat(ns)
		if statErr == nil && fi.IsDir() {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("file: create namespace %q: %w", ns, err)
	}
	if err := syncDir(root, "."); err != nil {
		return fmt.Errorf("file: create namespace %q: %w", ns, err)
	}
	return nil
}

// nsDir checks that namespace ns has a directory in root: it returns
// ErrNamespaceNotFound if not, and an error if ns is a link leading out.
func nsDir(root *os.Root, ns string) error {
	fi, err := root.Stat(ns)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir():
		return confo.ErrNamespaceNotFound
	case err != nil:
		return err
	}
	return nil
}

// syncDir flushes the entries (renames, removals) of directory dir of root
// to stable storage. On Windows, where a directory cannot be synced, it
// does nothing.
func syncDir(root *os.Root, dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return nil // some systems cannot sync a directory
	}
	return err
}

// Close makes later calls return ErrClosed. It holds no resource: a Commit
// in flight completes.
func (b *Backend) Close() error {
	b.closed.Store(true)
	return nil
}
