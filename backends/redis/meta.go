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

// loadMetaScript returns, if the namespace ARGV[1] exists, the metadata
// entries whose keys start with ARGV[2] as a flat list of key, value,
// revision (false when it has none). The prefix is applied here, so that
// reading one kind of entry (schemas) does not send every other (change
// records) over the network.
var loadMetaScript = goredis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('` + errNoNamespace + `')
end
local prefix = ARGV[2]
local all = redis.call('HGETALL', KEYS[2])
local out = {}
for i = 1, #all, 2 do
  if string.sub(all[i], 1, #prefix) == prefix then
    out[#out+1] = all[i]
    out[#out+1] = all[i+1]
    out[#out+1] = redis.call('HGET', KEYS[3], all[i]) or false
  end
end
return out
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
		[]string{b.keys.namespaces(), b.keys.metaValues(ns), b.keys.metaRevisions(ns)}, ns, prefix).Slice()
	if err != nil {
		if strings.Contains(err.Error(), errNoNamespace) {
			return nil, fmt.Errorf("redis: %s: %w", op, confo.ErrNamespaceNotFound)
		}
		return nil, b.fail(op, err)
	}
	if len(res)%3 != 0 {
		return nil, fmt.Errorf("redis: %s on %s: unexpected script reply (%d items, not key, value, revision triples)", op, b.addr, len(res))
	}
	out := make(map[string]confo.Entry, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		if metakey.Validate(k) != nil {
			continue
		}
		revText, _ := res[i+2].(string) // nil: no revision
		rev, _ := strconv.ParseInt(revText, 10, 64)
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
