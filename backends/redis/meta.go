package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/metakey"
)

// Metadata of a namespace (see [confo.MetaStore]) is kept in two more
// hashes, beside the configurations' and never read as configurations:
//
//	confo:meta:<namespace>    hash: metadata key -> its value
//	confo:metarev:<namespace> hash: metadata key -> its revision
//
// CommitMeta is one Lua script, as Commit: every guard, on a configuration
// or a metadata entry, is checked before anything is written, and the
// whole commit takes one revision from the store's counter. A commit of
// metadata alone publishes nothing on the namespace's channel.

var _ confo.MetaStore = (*Backend)(nil)

func (k keys) metaValues(ns string) string    { return k.prefix + ":meta:" + ns }
func (k keys) metaRevisions(ns string) string { return k.prefix + ":metarev:" + ns }

// loadMetaScript returns whether the namespace exists and its metadata
// values and revisions.
var loadMetaScript = goredis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('` + errNoNamespace + `')
end
return {redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
`)

// LoadMeta reads the metadata entries of namespace ns whose keys start
// with prefix, in one script.
func (b *Backend) LoadMeta(ctx context.Context, ns, prefix string) (map[string]confo.Entry, error) {
	op := fmt.Sprintf("load metadata of namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if err := metakey.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	res, err := loadMetaScript.Run(ctx, b.client,
		[]string{b.keys.namespaces(), b.keys.metaValues(ns), b.keys.metaRevisions(ns)}, ns).Slice()
	if err != nil {
		if strings.Contains(err.Error(), errNoNamespace) {
			return nil, fmt.Errorf("redis: %s: %w", op, confo.ErrNamespaceNotFound)
		}
		return nil, b.fail(op, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("redis: %s on %s: unexpected script reply", op, b.addr)
	}
	values, _ := res[0].([]any)
	revisions, _ := res[1].([]any)
	revs := make(map[string]int64, len(revisions)/2)
	for i := 0; i+1 < len(revisions); i += 2 {
		k, _ := revisions[i].(string)
		v, _ := revisions[i+1].(string)
		revs[k], _ = strconv.ParseInt(v, 10, 64)
	}
	out := make(map[string]confo.Entry)
	for i := 0; i+1 < len(values); i += 2 {
		k, _ := values[i].(string)
		v, _ := values[i+1].(string)
		if !strings.HasPrefix(k, prefix) || metakey.Validate(k) != nil {
			continue
		}
		rev := revs[k]
		if rev <= 0 {
			rev = -1 // written without a revision by another tool
		}
		out[k] = confo.Entry{Value: []byte(v), Revision: rev}
	}
	return out, nil
}

// CommitMeta is Commit with metadata ops in the same script. Without
// metadata ops it is Commit.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	return b.commit(ctx, ns, ops, meta)
}
