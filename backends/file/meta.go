package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// Metadata of a namespace (see [confo.MetaStore]) is kept in a hidden
// directory of the namespace's, one file per entry:
//
//	<config_path>/<namespace>/.confo-meta/<escaped key>.meta
//
// where the key is escaped as a URL path segment ("schema/mysql" is
// "schema%2Fmysql.meta"). Load and Watch read only "*.json" files of the
// namespace's directory, so metadata is never a configuration; Namespaces
// lists only the directories of config_path, so it is never a namespace;
// DeleteNamespace removes it with the directory. An entry's revision is the
// hash of its content, as a configuration's. An escaped key is at most
// [MaxMetaKeyLen] bytes.
//
// CommitMeta writes the metadata files with the configurations' under the
// same locks, guarded the same way: all or nothing with respect to the
// guards, and, as for configurations, a crash during the renames can leave
// part of a commit applied (each file wholly old or wholly new).
const (
	metaDir = ".confo-meta"
	metaExt = ".meta"
	// MaxMetaKeyLen is the longest escaped metadata key the file backend
	// stores, so that its file name fits in 255 bytes.
	MaxMetaKeyLen = 255 - len(metaExt)
)

var _ confo.MetaStore = (*Backend)(nil)

// metaFile returns the file name of metadata key, or ErrInvalidName.
func metaFile(key string) (string, error) {
	if err := metakey.Validate(key); err != nil {
		return "", err
	}
	name := url.PathEscape(key)
	if len(name) > MaxMetaKeyLen {
		return "", fmt.Errorf("%w: metadata key %q: longer than %d bytes escaped, the file backend's limit", confo.ErrInvalidName, key, MaxMetaKeyLen)
	}
	return name + metaExt, nil
}

// LoadMeta reads the metadata files of namespace ns whose keys start with
// prefix, under the namespace's shared lock so that it sees a CommitMeta
// wholly or not at all.
func (b *Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	if err := checkName(ns); err != nil {
		return nil, fmt.Errorf("file: load metadata: %w", err)
	}
	op := fmt.Sprintf("load metadata of namespace %q", ns)
	if err := metakey.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	root, err := b.openNamespace(ctx, op, ns)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	dir := ns
	unlock, err := lockShared(ctx, root, filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	defer unlock()
	files, err := readDir(root, filepath.Join(dir, metaDir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]confo.Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	out := make(map[string]confo.Entry)
	for _, e := range files {
		escaped, ok := strings.CutSuffix(e.Name(), metaExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		key, err := url.PathUnescape(escaped)
		if err != nil || metakey.Validate(key) != nil || !strings.HasPrefix(key, prefix) {
			continue
		}
		raw, fi, err := readFile(root, filepath.Join(dir, metaDir, e.Name()))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("file: %s: metadata %q: %w", op, key, err)
		}
		if fi != nil {
			out[key] = confo.Entry{Value: raw, Revision: revision(raw)}
		}
	}
	return out, nil
}

// CommitMeta is [Backend.Commit] with metadata ops: every guard, on a
// configuration or a metadata entry, is checked under the namespace's
// exclusive lock before anything is renamed. Without metadata ops it is
// Commit.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	return b.commitFiles(ctx, ns, ops, meta)
}

// metaFiles validates meta, the metadata ops of op, and returns the file
// name of each.
func metaFiles(op string, meta []confo.MetaOp) ([]string, error) {
	if err := metakey.ValidateOps(meta); err != nil {
		return nil, fmt.Errorf("file: %s: %w", op, err)
	}
	files := make([]string, len(meta))
	for i, m := range meta {
		var err error
		if files[i], err = metaFile(m.Key); err != nil {
			return nil, fmt.Errorf("file: %s: %w", op, err)
		}
	}
	return files, nil
}

// checkMeta compares the Revision of every guarded op of meta with the hash
// of its file (files[i]) in directory mdir of root and returns an error
// wrapping ErrConflict naming those that differ.
func checkMeta(root *os.Root, mdir, op string, meta []confo.MetaOp, files []string) error {
	var conflicts []string
	for i, m := range meta {
		if !metakey.Guarded(m) {
			continue
		}
		rev, _, err := current(root, filepath.Join(mdir, files[i]))
		if err != nil {
			return fmt.Errorf("file: %s: metadata %q: %w", op, m.Key, err)
		}
		if rev != m.Revision {
			conflicts = append(conflicts, metakey.ConflictText(m, rev))
		}
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("file: %s: %w: %s", op, confo.ErrConflict, strings.Join(conflicts, ", "))
	}
	return nil
}
