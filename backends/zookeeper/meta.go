package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// Metadata of a namespace (schemas, sealing recipients, change records; see
// [confo.MetaStore]) lives in a tree beside the prefix, one znode per entry:
//
//	/confo.meta/<namespace>/<escaped key>   e.g. /confo.meta/database/schema%2Fmysql
//
// so Load and Watch, which read the children of /confo/<namespace>, and
// Namespaces, which lists the children of /confo, never see it. A key's
// slashes are escaped as %2F and its percent signs as %25, so each entry is
// one znode whatever its depth. An entry's revision is its znode's mzxid,
// as a configuration's is.
//
// CommitMeta is Commit's two round trips with the metadata znodes read and
// written beside the configurations: round trip 1 reads their stats and
// refuses a stale guard with [confo.ErrConflict] naming the key; round trip
// 2 is one multi that also writes, deletes or checks (a check request) each
// entry on the version just read. A guard that an entry must not exist
// (revision 0) is a create, which fails if it exists, followed, for a Check,
// by the delete of what it created. The namespace's directory under
// /confo.meta is created beforehand if missing. Each multi carries one
// request per configuration op, one per metadata op (two for a Check of
// revision 0) and one for the namespace znode, so len(ops)+len(meta)+1 must
// stay within max_ops.
//
// [Backend.DeleteNamespace] deletes the namespace's metadata in the same
// multi as its configurations. A namespace znode deleted by another tool
// leaves its metadata directory behind, which a namespace created again
// under the same name finds.

var _ confo.MetaStore = (*Backend)(nil)

// metaRoot is the znode under which every namespace's metadata lives.
func (b *Backend) metaRoot() string { return b.prefix + ".meta" }

// metaDir is the znode of namespace ns's metadata.
func (b *Backend) metaDir(ns string) string { return b.metaRoot() + "/" + ns }

// MetaPath returns the znode of metadata entry key of namespace ns:
// "<prefix>.meta/<ns>/<key with "%" as %25 and "/" as %2F>".
func (b *Backend) MetaPath(ns, key string) string { return b.metaDir(ns) + "/" + escapeKey(key) }

var (
	keyEscaper   = strings.NewReplacer("%", "%25", "/", "%2F")
	keyUnescaper = strings.NewReplacer("%25", "%", "%2F", "/")
)

// escapeKey makes metadata key one znode name.
func escapeKey(key string) string { return keyEscaper.Replace(key) }

// unescapeKey reverses escapeKey; ok is false for a name escapeKey cannot
// have made.
func unescapeKey(name string) (key string, ok bool) {
	key = keyUnescaper.Replace(name)
	return key, escapeKey(key) == name
}

// ensureMetaDir checks that namespace ns exists and creates its metadata
// directory (and the metadata root) if missing.
func (b *Backend) ensureMetaDir(ctx context.Context, ns string) error {
	nsPath, dir := b.Path(ns, ""), b.metaDir(ns)
	op := fmt.Sprintf("commit to namespace %q", ns)
	for createdRoot := false; ; createdRoot = true {
		// One round trip once the metadata root exists: a multi that
		// checks the namespace znode (any version) and creates the
		// directory, failing on it if it exists already.
		res, err := do(ctx, func() ([]zk.MultiResponse, error) {
			return b.conn.Multi(&zk.CheckVersionRequest{Path: nsPath, Version: -1}, &zk.CreateRequest{Path: dir, Acl: b.acl})
		})
		failed := -1
		for i, r := range res {
			if r.Error != nil {
				failed = i
				break
			}
		}
		switch {
		case err == nil || (failed == 1 && errors.Is(err, zk.ErrNodeExists)):
			return nil
		case failed == 0 && errors.Is(err, zk.ErrNoNode):
			return fmt.Errorf("zookeeper: %s: %w (no znode %s)", op, confo.ErrNamespaceNotFound, nsPath)
		case failed == 1 && errors.Is(err, zk.ErrNoNode) && !createdRoot: // no metadata root yet
			root := b.metaRoot()
			_, err := do(ctx, func() (string, error) { return b.conn.Create(root, nil, 0, b.acl) })
			if err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return b.fail(op+": create", root, err)
			}
		case failed == 1:
			return b.fail(op+": create", dir, err)
		default:
			return b.fail(op+": check", nsPath, err)
		}
	}
}

// metaConflicts says how each guarded metadata op differs from its entry's
// current stat (read in Commit's first round trip).
func metaConflicts(meta []confo.MetaOp, current []stat) []string {
	var out []string
	for i, op := range meta {
		if !metakey.Guarded(op) {
			continue
		}
		var cur int64
		if current[i].exists {
			cur = current[i].stat.Mzxid
		}
		if cur != op.Revision {
			out = append(out, metakey.ConflictText(op, cur))
		}
	}
	return out
}

// metaRequests returns the requests of a commit's multi for meta, whose
// znodes are paths, conditioned on their current stats.
func (b *Backend) metaRequests(meta []confo.MetaOp, paths []string, current []stat) ([]any, []request) {
	var reqs []any
	var what []request
	add := func(req any, i int) {
		reqs = append(reqs, req)
		what = append(what, request{path: paths[i], conflict: fmt.Sprintf("metadata %q changed in the store", meta[i].Key)})
	}
	for i, op := range meta {
		cur := current[i]
		version := int32(-1) // AnyRevision
		if metakey.Guarded(op) && cur.exists {
			version = cur.stat.Version
		}
		switch {
		case op.Check && op.Revision == 0: // must be absent: create fails if not
			add(&zk.CreateRequest{Path: paths[i], Acl: b.acl}, i)
			add(&zk.DeleteRequest{Path: paths[i], Version: -1}, i)
		case op.Check:
			add(&zk.CheckVersionRequest{Path: paths[i], Version: version}, i)
		case op.Value != nil && !cur.exists:
			add(&zk.CreateRequest{Path: paths[i], Data: op.Value, Acl: b.acl}, i)
		case op.Value != nil:
			add(&zk.SetDataRequest{Path: paths[i], Data: op.Value, Version: version}, i)
		case cur.exists:
			add(&zk.DeleteRequest{Path: paths[i], Version: version}, i)
		default:
			// deleting what is absent, unguarded (a guarded one was a
			// conflict in the first round trip)
		}
	}
	return reqs, what
}

// CommitMeta is [Backend.Commit] with metadata ops in the same multi (see
// above): all or none. A stale guard, on a configuration or a metadata
// entry, is [confo.ErrConflict] naming it; a missing namespace is
// [confo.ErrNamespaceNotFound].
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("zookeeper: commit: %w", err)
	}
	if err := metakey.ValidateOps(meta); err != nil {
		return nil, fmt.Errorf("zookeeper: commit to namespace %q: %w", ns, err)
	}
	revs, err := b.commit(ctx, ns, ops, meta)
	if err != nil {
		return nil, err
	}
	if revs == nil {
		revs = []int64{}
	}
	return revs, nil
}

// LoadMeta returns the metadata entries of namespace ns whose keys start
// with prefix. It reads the namespace znode, the entries, then the
// namespace znode again, and reads again if a commit landed meanwhile
// (every commit of this backend writes the namespace znode), until ctx
// ends. Each Entry.Revision is the entry's mzxid.
func (b *Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	op := fmt.Sprintf("load metadata of namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if err := confo.ValidateName(ns); err != nil {
		return nil, fmt.Errorf("zookeeper: load metadata: %w", err)
	}
	if err := metakey.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("zookeeper: %s: %w", op, err)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 { // a commit landed during the last read: back off, with jitter
			d := time.Duration(rand.Int64N(int64(min(attempt*attempt, 50))*int64(time.Millisecond) + 1))
			if err := sleep(ctx, d); err != nil {
				return nil, fmt.Errorf("zookeeper: %s: %w", op, err)
			}
		}
		out, ok, err := b.loadMetaOnce(ctx, ns, prefix, op)
		if err != nil || ok {
			return out, err
		}
	}
}

// loadMetaOnce reads the metadata of ns under prefix once; ok is false if
// a commit landed during the read.
func (b *Backend) loadMetaOnce(ctx context.Context, ns, prefix, op string) (map[string]confo.Entry, bool, error) {
	nsPath, dir := b.Path(ns, ""), b.metaDir(ns)
	exists := func() (stat, error) {
		st, err := do(ctx, func() (stat, error) { ok, st, err := b.conn.Exists(nsPath); return stat{stat: st, exists: ok}, err })
		if err != nil {
			return stat{}, b.fail(op+": check", nsPath, err)
		}
		if !st.exists {
			return stat{}, fmt.Errorf("zookeeper: %s: %w (no znode %s)", op, confo.ErrNamespaceNotFound, nsPath)
		}
		return st, nil
	}
	before, err := exists()
	if err != nil {
		return nil, false, err
	}
	names, err := do(ctx, func() ([]string, error) { names, _, err := b.conn.Children(dir); return names, err })
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return nil, false, b.fail(op+": list", dir, err)
	}
	var keys, paths []string
	for _, name := range names {
		key, ok := unescapeKey(name)
		if !ok || !strings.HasPrefix(key, prefix) || metakey.Validate(key) != nil {
			continue // not written by a MetaStore, or not asked for
		}
		keys, paths = append(keys, key), append(paths, dir+"/"+name)
	}
	got, err := b.readAll(ctx, paths, func(p string) (stat, error) {
		data, st, err := b.conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			return stat{}, nil
		}
		return stat{data: data, stat: st, exists: err == nil}, err
	})
	if err != nil {
		return nil, false, err
	}
	after, err := exists()
	if err != nil {
		return nil, false, err
	}
	for _, g := range got {
		if !g.exists {
			return nil, false, nil // deleted during the read
		}
	}
	if after.stat.Version != before.stat.Version || after.stat.Mzxid != before.stat.Mzxid {
		return nil, false, nil // a commit landed during the read
	}
	out := make(map[string]confo.Entry, len(keys))
	for i, key := range keys {
		value := got[i].data
		if value == nil {
			value = []byte{}
		}
		out[key] = confo.Entry{Value: value, Revision: got[i].stat.Mzxid}
	}
	return out, true, nil
}
