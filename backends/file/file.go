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
// "namespaces" (optional, a list of namespaces to create at load).
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
// local path element, so no name can reach outside config_path. A
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
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

func init() {
	confo.Register(confo.FileBackend, open)
}

// open is the OpenFunc registered for confo.FileBackend.
func open(ctx context.Context, creds confo.Credentials) (confo.Backend, error) {
	dir, ok, err := credential.String(creds, "config_path")
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if !ok || dir == "" {
		return nil, fmt.Errorf("file: %w: %q is required", confo.ErrInvalidCredentials, "config_path")
	}
	names, _, err := credential.Strings(creds, "namespaces")
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	for _, ns := range names {
		if err := confo.ValidateName(ns); err != nil {
			return nil, fmt.Errorf("file: credential %q: %w", "namespaces", err)
		}
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

// Namespaces lists the subdirectories of the directory. It reads no
// configuration file.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.begin(ctx, "namespaces"); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("file: namespaces: %w", err)
	}
	names := []string{}
	for _, e := range entries {
		if checkName(e.Name()) != nil {
			continue
		}
		if isDir(b.dir, e) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// isDir reports whether e, an entry of dir, is a directory or a symbolic
// link to one.
func isDir(dir string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
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
	err := os.Mkdir(filepath.Join(b.dir, ns), 0o777)
	if errors.Is(err, fs.ErrExist) {
		fi, statErr := os.Stat(filepath.Join(b.dir, ns))
		if statErr == nil && fi.IsDir() {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("file: create namespace %q: %w", ns, err)
	}
	if err := syncDir(b.dir); err != nil {
		return fmt.Errorf("file: create namespace %q: %w", ns, err)
	}
	return nil
}

// nsDir returns the directory of namespace ns, or ErrNamespaceNotFound.
func (b *Backend) nsDir(ns string) (string, error) {
	dir := filepath.Join(b.dir, ns)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir():
		return "", confo.ErrNamespaceNotFound
	case err != nil:
		return "", err
	}
	return dir, nil
}

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
	if err := b.begin(ctx, op); err != nil {
		return confo.Snapshot{}, err
	}
	dir, err := b.nsDir(ns)
	if err != nil {
		return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
	}
	lock := filepath.Join(dir, lockName)
	for attempt := 1; ; attempt++ {
		if attempt > loadAttempts {
			unlock, err := lockShared(ctx, lock)
			if err != nil {
				return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
			}
			entries, _, err := readNamespace(ctx, dir)
			unlock()
			if err != nil {
				return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
			}
			return confo.Snapshot{Entries: entries}, nil
		}
		entries, read, err := readNamespace(ctx, dir)
		if err != nil {
			return confo.Snapshot{}, fmt.Errorf("file: %s: %w", op, err)
		}
		same, err := unchanged(ctx, dir, read)
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

// readNamespace reads the configurations of directory dir. It returns them
// and the identity of each file read, by name (nil for a name that is not
// a regular file).
func readNamespace(ctx context.Context, dir string) (map[string]confo.Entry, map[string]fs.FileInfo, error) {
	files, err := os.ReadDir(dir)
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
		raw, fi, err := readFile(filepath.Join(dir, e.Name()))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed since ReadDir
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

// readFile returns the content and identity of the file at path, or a nil
// identity if it is not a regular file.
func readFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
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

// unchanged reports whether directory dir holds, under a shared lock, the
// very configuration files of read.
func unchanged(ctx context.Context, dir string, read map[string]fs.FileInfo) (bool, error) {
	unlock, err := lockShared(ctx, filepath.Join(dir, lockName))
	if err != nil {
		return false, err
	}
	defer unlock()
	files, err := os.ReadDir(dir)
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
		now, err := os.Stat(filepath.Join(dir, e.Name()))
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

// current returns the revision of file path, 0 if it does not exist, and
// its permission bits.
func current(path string) (int64, fs.FileMode, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, 0, fmt.Errorf("%s: not a regular file", path)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return 0, 0, err
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
	if err := checkName(ns); err != nil {
		return nil, fmt.Errorf("file: commit: %w", err)
	}
	op := fmt.Sprintf("commit to namespace %q", ns)
	for _, o := range ops {
		if err := checkConfigName(o.Name); err != nil {
			return nil, fmt.Errorf("file: %s: %w", op, err)
		}
	}
	if err := b.begin(ctx, op); err != nil {
		return nil, err
	}
	dir, err := b.nsDir(ns)
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}

	// Check without the lock first, to fail fast without writing, and to
	// write the new files before taking the lock, so that it is held for
	// little more than the renames.
	perms, err := check(dir, op, ops)
	if err != nil {
		return nil, err
	}
	temps := make([]string, len(ops))
	defer func() {
		for _, t := range temps {
			if t != "" {
				os.Remove(t) // renamed ones are gone already
			}
		}
	}()
	revs := make([]int64, len(ops))
	for i, o := range ops {
		if o.Value == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("file: %s: %w", op, err)
		}
		if temps[i], err = writeTemp(dir, o.Value, perms[i]); err != nil {
			return nil, fmt.Errorf("file: %s: configuration %q: %w", op, o.Name, err)
		}
		revs[i] = revision(o.Value)
	}

	select {
	case b.commit <- struct{}{}:
		defer func() { <-b.commit }()
	case <-ctx.Done():
		return nil, fmt.Errorf("file: %s: %w", op, ctx.Err())
	}
	unlock, err := lockExclusive(ctx, filepath.Join(dir, lockName))
	if errors.Is(err, fs.ErrNotExist) {
		err = confo.ErrNamespaceNotFound // deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	defer unlock()
	if _, err := check(dir, op, ops); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	removeStaleTemps(dir, time.Now())
	for i, t := range temps {
		if t == "" {
			continue
		}
		if _, err := os.Lstat(t); err != nil {
			// Removed as stale while this Commit waited for the lock.
			return nil, fmt.Errorf("file: %s: configuration %q: temporary file: %w (nothing of the batch applied)", op, ops[i].Name, err)
		}
	}

	// Apply: from here on the batch goes through, whatever ctx says.
	for i, o := range ops {
		path := filepath.Join(dir, o.Name+ext)
		if o.Value == nil {
			err = os.Remove(path)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else if err = os.Rename(temps[i], path); err == nil {
			temps[i] = ""
		}
		if err != nil {
			return nil, fmt.Errorf("file: %s: configuration %q: %w (%s)", op, o.Name, err, applied(ops[:i]))
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	return revs, nil
}

// check compares every op's Revision with the hash of its file in dir and
// returns an error wrapping ErrConflict naming those that differ. It also
// returns each file's permission bits (0 if it does not exist).
func check(dir, op string, ops []confo.Op) ([]fs.FileMode, error) {
	perms := make([]fs.FileMode, len(ops))
	var conflicts []string
	for i, o := range ops {
		rev, perm, err := current(filepath.Join(dir, o.Name+ext))
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

// removeStaleTemps removes the regular temporary files of dir last modified
// more than StaleTempAge before now: those a writer killed during a Commit
// left behind. It is best effort: a file it cannot remove stays ignored by
// Load, and the next Commit tries again.
func removeStaleTemps(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTemp(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > StaleTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// applied describes the ops of a batch that were applied before an error.
func applied(ops []confo.Op) string {
	if len(ops) == 0 {
		return "nothing of the batch applied"
	}
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = fmt.Sprintf("%q", o.Name)
	}
	return "applied before it: " + strings.Join(names, ", ")
}

// writeTemp writes raw to a new temporary file in dir, syncs and closes it,
// and returns its path. The file gets permission bits perm, or the default
// (0666 less the umask) when perm is 0.
func writeTemp(dir string, raw []byte, perm fs.FileMode) (string, error) {
	var f *os.File
	for {
		var rnd [8]byte
		rand.Read(rnd[:])
		path := filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:])+tempSuffix)
		var err error
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	path := f.Name()
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
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// syncDir flushes dir's entries (renames, removals) to stable storage. On
// Windows, where a directory cannot be synced, it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
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
