package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/confo-go/confo"
)

// stat is a znode's state as one read saw it; exists is false when absent.
type stat struct {
	data   []byte
	stat   *zk.Stat
	exists bool
}

// readAll runs read for each path in parallel (bounded) and returns the
// results in order; the first error wins.
func (b *Backend) readAll(ctx context.Context, paths []string, read func(path string) (stat, error)) ([]stat, error) {
	out := make([]stat, len(paths))
	errs := make([]error, len(paths))
	sem := make(chan struct{}, parallelReads)
	var wg sync.WaitGroup
	for i, p := range paths {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = do(ctx, func() (stat, error) { return read(p) })
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, b.fail("read", paths[i], err)
		}
	}
	return out, nil
}

// Load reads namespace ns: its children, each child, then the namespace
// znode again to check nothing changed meanwhile, reading again if it did
// (see the package documentation). It reads until it succeeds or ctx ends,
// and never reports ErrConflict.
func (b *Backend) Load(ctx context.Context, ns string) (confo.Snapshot, error) {
	op := fmt.Sprintf("load namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return confo.Snapshot{}, err
	}
	return b.load(ctx, b.conn, ns)
}

// load reads namespace ns through conn.
func (b *Backend) load(ctx context.Context, conn *zk.Conn, ns string) (confo.Snapshot, error) {
	nsPath := b.Path(ns, "")
	op := fmt.Sprintf("load namespace %q", ns)
	mark := markNone
	for attempt := 0; ; attempt++ {
		if attempt > 0 { // a commit landed during the last read: back off, with jitter
			d := time.Duration(rand.Int64N(int64(min(attempt*attempt, 50))*int64(time.Millisecond) + 1))
			if err := sleep(ctx, d); err != nil {
				return confo.Snapshot{}, fmt.Errorf("zookeeper: %s: %w", op, err)
			}
		}
		if attempt >= optimisticLoads && mark != markRefused {
			// Ask this backend's writers to pause (see waitForReaders).
			_, err := do(ctx, func() (*zk.Stat, error) { return conn.Set(nsPath, readerMark, -1) })
			switch {
			case err == nil:
				mark = markSet
			case errors.Is(err, zk.ErrNoNode):
				return confo.Snapshot{}, fmt.Errorf("zookeeper: %s: %w", op, confo.ErrNamespaceNotFound)
			case errors.Is(err, zk.ErrNoAuth):
				mark = markRefused // a reader without write access: retry without the mark
			default:
				return confo.Snapshot{}, b.fail(op+": mark", nsPath, err)
			}
		}
		snap, ok, err := b.readOnce(ctx, conn, ns, nsPath, op)
		if err != nil {
			return confo.Snapshot{}, err
		}
		if !ok {
			continue
		}
		if mark == markSet {
			// Clear the mark unless a commit already did (best effort: a
			// mark left behind delays the next commit by readerWait once).
			version := snap.nsVersion
			_, _ = do(ctx, func() (*zk.Stat, error) { return conn.Set(nsPath, nil, version) })
		}
		return snap.Snapshot, nil
	}
}

// Load's use of the reader mark.
const (
	markNone    = iota // not set
	markSet            // set by this load
	markRefused        // the session may not write the namespace znode
)

// readerMark is the data a Load that keeps failing writes to the namespace
// znode; commits write nil there.
var readerMark = []byte("confo:reading")

// readerWait bounds how long a Commit waits for the Loads that marked the
// namespace.
const readerWait = 250 * time.Millisecond

// loaded is a snapshot with the namespace znode's version at its read.
type loaded struct {
	confo.Snapshot
	nsVersion int32
}

// readOnce reads namespace ns once through conn. ok is false if a commit
// landed during the read.
func (b *Backend) readOnce(ctx context.Context, conn *zk.Conn, ns, nsPath, op string) (snap loaded, ok bool, err error) {
	type children struct {
		names []string
		stat  *zk.Stat
	}
	before, err := do(ctx, func() (children, error) {
		names, st, err := conn.Children(nsPath)
		return children{names, st}, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return loaded{}, false, fmt.Errorf("zookeeper: %s: %w", op, confo.ErrNamespaceNotFound)
	}
	if err != nil {
		return loaded{}, false, b.fail(op+": list", nsPath, err)
	}
	paths := make([]string, len(before.names))
	for i, name := range before.names {
		paths[i] = nsPath + "/" + name
	}
	got, err := b.readAll(ctx, paths, func(p string) (stat, error) {
		data, st, err := conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			return stat{}, nil
		}
		return stat{data: data, stat: st, exists: err == nil}, err
	})
	if err != nil {
		return loaded{}, false, err
	}
	after, err := do(ctx, func() (stat, error) {
		ok, st, err := conn.Exists(nsPath)
		return stat{stat: st, exists: ok}, err
	})
	if err != nil {
		return loaded{}, false, b.fail(op+": check", nsPath, err)
	}
	if !after.exists {
		return loaded{}, false, fmt.Errorf("zookeeper: %s: %w", op, confo.ErrNamespaceNotFound)
	}
	if after.stat.Cversion != before.stat.Cversion || after.stat.Version != before.stat.Version ||
		slices.ContainsFunc(got, func(s stat) bool { return !s.exists }) {
		return loaded{}, false, nil // a commit landed during the read
	}
	snap = loaded{Snapshot: confo.Snapshot{Entries: make(map[string]confo.Entry, len(got))}, nsVersion: after.stat.Version}
	snap.Revision = max(after.stat.Mzxid, after.stat.Pzxid)
	for i, name := range before.names {
		snap.Entries[name] = confo.Entry{Value: got[i].data, Revision: got[i].stat.Mzxid}
		snap.Revision = max(snap.Revision, got[i].stat.Mzxid)
	}
	return snap, true, nil
}

// waitForReaders waits, at most readerWait, while the namespace znode holds
// the mark of a Load that keeps failing, so that it gets one quiet read. A
// mark left by a Load that ended is cleared by the next commit.
func (b *Backend) waitForReaders(ctx context.Context, nsPath string) error {
	deadline := time.Now().Add(readerWait)
	for {
		data, err := do(ctx, func() ([]byte, error) { data, _, err := b.conn.Get(nsPath); return data, err })
		if err != nil || !bytes.Equal(data, readerMark) || time.Now().After(deadline) {
			return nil // a missing namespace is the commit's to report
		}
		if err := sleep(ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
}
