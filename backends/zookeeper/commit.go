package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
)

// Commit applies ops as one multi, guarded by each configuration's mzxid
// (see the package documentation). An error after the multi was sent whose
// reply never came (the connection lost, the session expired, ctx done)
// wraps [confo.ErrOutcomeUnknown]: the multi may have been applied.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commit(ctx, ns, ops, nil)
}

// request is what one request of a commit's multi stands for: the znode it
// writes and the words of a conflict on it.
type request struct {
	path     string
	conflict string // "" for the namespace znode
}

// commit is Commit with metadata ops (see meta.go) in the same multi.
func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	nsPath := b.Path(ns, "")
	op := fmt.Sprintf("commit to namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if len(ops) == 0 && len(meta) == 0 {
		return nil, nil
	}
	if len(meta) > 0 {
		if err := b.ensureMetaDir(ctx, ns); err != nil {
			return nil, err
		}
	}
	paths := make([]string, len(ops), len(ops)+len(meta))
	for i, o := range ops {
		paths[i] = nsPath + "/" + o.Name
	}
	for _, m := range meta {
		paths = append(paths, b.MetaPath(ns, m.Key))
	}
	// Round trip 1: the current stat of each configuration (and metadata
	// entry), and whether a Load asks writers to pause (then wait, and read
	// the stats again).
	var current []stat
	for waited := false; ; waited = true {
		marked := make(chan bool, 1)
		go func() {
			data, _, err := b.conn.Get(nsPath)
			marked <- err == nil && bytes.Equal(data, readerMark)
		}()
		var err error
		current, err = b.readAll(ctx, paths, func(p string) (stat, error) {
			ok, st, err := b.conn.Exists(p)
			return stat{stat: st, exists: ok}, err
		})
		if err != nil {
			return nil, err
		}
		if waited || !<-marked {
			break
		}
		if err := b.waitForReaders(ctx, nsPath); err != nil {
			return nil, fmt.Errorf("zookeeper: %s: %w", op, err)
		}
	}
	var conflicts []string
	for i, o := range ops {
		cur := current[i]
		if (o.Revision == 0 && cur.exists) || (o.Revision != 0 && (!cur.exists || cur.stat.Mzxid != o.Revision)) {
			conflicts = append(conflicts, strconv.Quote(o.Name)+" changed in the store")
		}
	}
	conflicts = append(conflicts, metaConflicts(meta, current[len(ops):])...)
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("zookeeper: %s: %w: %s", op, confo.ErrConflict, strings.Join(conflicts, ", "))
	}

	// Round trip 2: one multi, each write conditioned on the version read.
	// The first request writes the namespace znode: it fails if the
	// namespace is gone, tells Load that a commit happened, and its stat
	// gives the multi's zxid.
	reqs := []any{&zk.SetDataRequest{Path: nsPath, Data: nil, Version: -1}}
	what := []request{{path: nsPath}}
	for i, o := range ops {
		cur := current[i]
		switch {
		case o.Value != nil && !cur.exists:
			reqs = append(reqs, &zk.CreateRequest{Path: paths[i], Data: o.Value, Acl: b.acl})
		case o.Value != nil:
			reqs = append(reqs, &zk.SetDataRequest{Path: paths[i], Data: o.Value, Version: cur.stat.Version})
		case cur.exists:
			reqs = append(reqs, &zk.DeleteRequest{Path: paths[i], Version: cur.stat.Version})
		default:
			continue // deleting what is absent
		}
		what = append(what, request{path: paths[i], conflict: strconv.Quote(o.Name) + " changed in the store"})
	}
	mreqs, mwhat := b.metaRequests(meta, paths[len(ops):], current[len(ops):])
	reqs, what = append(reqs, mreqs...), append(what, mwhat...)
	if err := ctx.Err(); err != nil { // nothing sent
		return nil, fmt.Errorf("zookeeper: %s: %w", op, err)
	}
	if beforeMulti != nil {
		beforeMulti()
	}
	res, err := do(ctx, func() ([]zk.MultiResponse, error) { return b.conn.Multi(reqs...) })
	if err != nil {
		failed := -1
		for j, r := range res {
			if r.Error != nil && j < len(what) {
				failed = j
				break
			}
		}
		switch {
		case failed == 0 && errors.Is(err, zk.ErrNoNode):
			return nil, fmt.Errorf("zookeeper: %s: %w", op, confo.ErrNamespaceNotFound)
		case failed > 0 && (errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode)):
			return nil, fmt.Errorf("zookeeper: %s: %w: %s", op, confo.ErrConflict, what[failed].conflict)
		case failed > 0:
			return nil, multiError(b.fail(op+": write", what[failed].path, err), err)
		}
		return nil, multiError(b.fail(op+": multi", nsPath, err), err)
	}
	if len(res) == 0 || res[0].Stat == nil {
		return nil, fmt.Errorf("zookeeper: %s on %s: multi answered without a stat", op, b.servers)
	}
	zxid := res[0].Stat.Mzxid
	revs := make([]int64, len(ops))
	for i, o := range ops {
		if o.Value != nil {
			revs[i] = zxid
		}
	}
	return revs, nil
}
