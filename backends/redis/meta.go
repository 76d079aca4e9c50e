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

// commitMetaScript is commitScript with metadata ops. ARGV: namespace,
// channel, the number of configuration ops, then per configuration op:
// name, expected revision, "p" or "d", value; then per metadata op: key,
// expected revision ("any" for none), "p", "d" or "c" (check), value. It
// returns {revision} on success or {0, "c" name | "m" key "=" current...}
// on a conflict.
var commitMetaScript = goredis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('` + errNoNamespace + `')
end
local nops = tonumber(ARGV[3])
local metaStart = 4 + 4 * nops
local conflicts = {0}
for i = 4, metaStart - 1, 4 do
  local name = ARGV[i]
  local cur = '0'
  if redis.call('HEXISTS', KEYS[2], name) == 1 then
    cur = redis.call('HGET', KEYS[3], name)
    if not cur then cur = '-1' end
  end
  if cur ~= ARGV[i+1] then conflicts[#conflicts+1] = 'c' .. name end
end
for i = metaStart, #ARGV, 4 do
  if ARGV[i+1] ~= 'any' then
    local key = ARGV[i]
    local cur = '0'
    if redis.call('HEXISTS', KEYS[5], key) == 1 then
      cur = redis.call('HGET', KEYS[6], key)
      if not cur then cur = '-1' end
    end
    if cur ~= ARGV[i+1] then conflicts[#conflicts+1] = 'm' .. cur .. '=' .. key end
  end
end
if #conflicts > 1 then return conflicts end
local rev = redis.call('INCR', KEYS[4])
for i = 4, metaStart - 1, 4 do
  local name = ARGV[i]
  if ARGV[i+2] == 'p' then
    redis.call('HSET', KEYS[2], name, ARGV[i+3])
    redis.call('HSET', KEYS[3], name, rev)
  else
    redis.call('HDEL', KEYS[2], name)
    redis.call('HDEL', KEYS[3], name)
  end
end
for i = metaStart, #ARGV, 4 do
  local key = ARGV[i]
  if ARGV[i+2] == 'p' then
    redis.call('HSET', KEYS[5], key, ARGV[i+3])
    redis.call('HSET', KEYS[6], key, rev)
  elseif ARGV[i+2] == 'd' then
    redis.call('HDEL', KEYS[5], key)
    redis.call('HDEL', KEYS[6], key)
  end
end
if nops > 0 then redis.call('PUBLISH', ARGV[2], rev) end
return {rev}
`)

// CommitMeta is Commit with metadata ops in the same script. Without
// metadata ops it is Commit.
func (b *Backend) CommitMeta(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	if len(meta) == 0 {
		return b.Commit(ctx, ns, ops)
	}
	op := fmt.Sprintf("commit to namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if err := metakey.ValidateOps(meta); err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	args := make([]any, 0, 3+4*(len(ops)+len(meta)))
	args = append(args, ns, b.keys.channel(ns), len(ops))
	for _, o := range ops {
		if o.Value == nil {
			args = append(args, o.Name, strconv.FormatInt(o.Revision, 10), "d", "")
		} else {
			args = append(args, o.Name, strconv.FormatInt(o.Revision, 10), "p", o.Value)
		}
	}
	for _, m := range meta {
		rev := "any"
		if metakey.Guarded(m) {
			rev = strconv.FormatInt(m.Revision, 10)
		}
		switch {
		case m.Check:
			args = append(args, m.Key, rev, "c", "")
		case m.Value == nil:
			args = append(args, m.Key, rev, "d", "")
		default:
			args = append(args, m.Key, rev, "p", m.Value)
		}
	}
	if err := ctx.Err(); err != nil { // nothing sent
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	keys := append(b.keys.namespace(ns), b.keys.metaValues(ns), b.keys.metaRevisions(ns))
	res, err := commitMetaScript.Run(ctx, b.client, keys, args...).Slice()
	if err != nil {
		if strings.Contains(err.Error(), errNoNamespace) {
			return nil, fmt.Errorf("redis: %s: %w", op, confo.ErrNamespaceNotFound)
		}
		return nil, b.commitError(op, err)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("redis: %s on %s: empty script reply", op, b.addr)
	}
	rev, _ := res[0].(int64)
	if rev == 0 {
		var conflicts []string
		for _, n := range res[1:] {
			s, _ := n.(string)
			if name, ok := strings.CutPrefix(s, "c"); ok {
				conflicts = append(conflicts, fmt.Sprintf("%q changed in the store", name))
				continue
			}
			curText, key, _ := strings.Cut(strings.TrimPrefix(s, "m"), "=")
			cur, _ := strconv.ParseInt(curText, 10, 64)
			for _, m := range meta {
				if m.Key == key && metakey.Guarded(m) {
					conflicts = append(conflicts, metakey.ConflictText(m, cur))
					break
				}
			}
		}
		return nil, fmt.Errorf("redis: %s: %w: %s", op, confo.ErrConflict, strings.Join(conflicts, ", "))
	}
	revs := make([]int64, len(ops))
	for i, o := range ops {
		if o.Value != nil {
			revs[i] = rev
		}
	}
	return revs, nil
}
