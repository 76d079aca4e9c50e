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

// commitScript applies a batch of configuration and metadata ops if every
// guard holds. KEYS: those of keys.namespace, then the namespace's metadata
// value and revision hashes. ARGV: namespace, channel, the number of
// configuration ops, then per configuration op: name, expected revision,
// "p" or "d", value; then per metadata op: key, expected revision ("any"
// for none), "p", "d" or "c" (check), value. It returns {revision} on
// success or {0, "c" name | "m" current "=" key...} on a conflict. A
// commit of metadata alone publishes nothing.
var commitScript = goredis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('` + errNoNamespace + `')
end
-- the revision of field of the hash values: '0' if absent, '-1' if it
-- has none in the hash revs (written by another tool)
local function current(values, revs, field)
  if redis.call('HEXISTS', values, field) == 0 then return '0' end
  return redis.call('HGET', revs, field) or '-1'
end
local function write(values, revs, field, kind, value, rev)
  if kind == 'p' then
    redis.call('HSET', values, field, value)
    redis.call('HSET', revs, field, rev)
  elseif kind == 'd' then
    redis.call('HDEL', values, field)
    redis.call('HDEL', revs, field)
  end
end
local nops = tonumber(ARGV[3])
local metaStart = 4 + 4 * nops
local conflicts = {0}
for i = 4, metaStart - 1, 4 do
  if current(KEYS[2], KEYS[3], ARGV[i]) ~= ARGV[i+1] then conflicts[#conflicts+1] = 'c' .. ARGV[i] end
end
for i = metaStart, #ARGV, 4 do
  if ARGV[i+1] ~= 'any' then
    local cur = current(KEYS[5], KEYS[6], ARGV[i])
    if cur ~= ARGV[i+1] then conflicts[#conflicts+1] = 'm' .. cur .. '=' .. ARGV[i] end
  end
end
if #conflicts > 1 then return conflicts end
local rev = redis.call('INCR', KEYS[4])
for i = 4, metaStart - 1, 4 do
  write(KEYS[2], KEYS[3], ARGV[i], ARGV[i+2], ARGV[i+3], rev)
end
for i = metaStart, #ARGV, 4 do
  write(KEYS[5], KEYS[6], ARGV[i], ARGV[i+2], ARGV[i+3], rev)
end
if nops > 0 then redis.call('PUBLISH', ARGV[2], rev) end
return {rev}
`)

// Commit applies ops in one script: all or none, guarded by revision. An
// error after the script was sent whose reply never came (a timeout, a lost
// connection) wraps [confo.ErrOutcomeUnknown]: the script may have run.
func (b *Backend) Commit(ctx context.Context, ns string, ops []confo.Op) ([]int64, error) {
	return b.commit(ctx, ns, ops, nil)
}

// commit is Commit and CommitMeta: one run of commitScript.
func (b *Backend) commit(ctx context.Context, ns string, ops []confo.Op, meta []confo.MetaOp) ([]int64, error) {
	op := fmt.Sprintf("commit to namespace %q", ns)
	if err := b.checkOpen(op); err != nil {
		return nil, err
	}
	if len(ops) == 0 && len(meta) == 0 {
		return nil, nil
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
	res, err := commitScript.Run(ctx, b.client, keys, args...).Slice()
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
		return nil, fmt.Errorf("redis: %s: %w: %s", op, confo.ErrConflict, conflictText(res[1:], meta))
	}
	revs := make([]int64, len(ops))
	for i, o := range ops {
		if o.Value != nil {
			revs[i] = rev
		}
	}
	return revs, nil
}

// conflictText says which configurations and metadata entries of a
// conflict reply of commitScript differ from what the commit was based on.
func conflictText(reply []any, meta []confo.MetaOp) string {
	var names, conflicts []string
	for _, n := range reply {
		s, _ := n.(string)
		if name, ok := strings.CutPrefix(s, "c"); ok {
			names = append(names, strconv.Quote(name))
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
	if len(names) > 0 {
		conflicts = append([]string{strings.Join(names, ", ") + " changed in the store"}, conflicts...)
	}
	return strings.Join(conflicts, ", ")
}
