package changelog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

// Prefix is the metadata key prefix of change records: a record's key is
// Prefix followed by its ID, e.g. "changes/01764500000123456789-9f2c41d0".
const Prefix = "changes/"

// Record is one change record: who changed which configurations of a
// namespace, when and why.
type Record struct {
	// Key is the record's metadata key; records sort by it in time order.
	Key string `json:"-"`
	// Revision is the record's metadata revision. On stores where one
	// commit gives one revision to everything it writes (etcd, memory,
	// ZooKeeper) it is the revision of each configuration it wrote.
	Revision int64 `json:"-"`
	// Author and Message are the commit's [confo.ChangeInfo].
	Author  string `json:"author"`
	Message string `json:"message,omitempty"`
	// Time is when the layer made the commit (its clock).
	Time time.Time `json:"time"`
	// Configurations lists what the commit wrote.
	Configurations []Written `json:"configurations"`
}

// Written is one configuration a recorded commit wrote.
type Written struct {
	// Name is the configuration's name.
	Name string `json:"name"`
	// Based is the revision the write replaced (0: it created it).
	Based int64 `json:"based,omitempty"`
	// Deleted reports a delete.
	Deleted bool `json:"deleted,omitempty"`
	// Digest identifies the value written: the first 16 bytes of its
	// SHA-256, in hex ("" for a delete).
	Digest string `json:"digest,omitempty"`
}

// Digest returns the digest of a configuration's stored bytes, as
// [Written].Digest holds it.
func Digest(value []byte) string {
	sum := sha256.Sum256(value)
	return hex.EncodeToString(sum[:16])
}

// Has reports whether r wrote configuration name, and how.
func (r Record) Has(name string) (Written, bool) {
	for _, w := range r.Configurations {
		if w.Name == name {
			return w, true
		}
	}
	return Written{}, false
}

// Records lists the change records of namespace ns kept in ms (a Manager's
// backend, or a store's), newest first; with name set, only those that
// wrote that configuration. A record that does not decode is skipped.
func Records(ctx context.Context, ms confo.MetaStore, ns, name string) ([]Record, error) {
	entries, err := ms.LoadMeta(ctx, ns, Prefix)
	if err != nil {
		return nil, fmt.Errorf("changelog: records of namespace %q: %w", ns, err)
	}
	out := make([]Record, 0, len(entries))
	for key, e := range entries {
		var r Record
		if json.Unmarshal(e.Value, &r) != nil {
			continue
		}
		r.Key, r.Revision = key, e.Revision
		if _, ok := r.Has(name); name == "" || ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(b.Key, a.Key) })
	return out, nil
}

// Match returns the record that wrote version v of configuration name,
// among records (as [Records] lists them): the one whose Revision is v's
// revision, else the newest one that wrote v's exact value (stores whose
// revisions are per configuration, such as the file backend's hashes).
func Match(records []Record, name string, v confo.Version) (Record, bool) {
	for _, r := range records {
		if w, ok := r.Has(name); ok && r.Revision == v.Revision && v.Value != nil && !w.Deleted {
			return r, true
		}
	}
	if v.Value == nil {
		return Record{}, false
	}
	digest := Digest(v.Value)
	for _, r := range records {
		if w, ok := r.Has(name); ok && w.Digest == digest {
			return r, true
		}
	}
	return Record{}, false
}

// MatchRevision returns the record whose Revision is rev and that wrote
// configuration name: the record of a version that Manager.History lists,
// on stores where a commit's revision is that of everything it wrote
// (etcd, memory, ZooKeeper).
func MatchRevision(records []Record, name string, rev int64) (Record, bool) {
	for _, r := range records {
		if _, ok := r.Has(name); ok && r.Revision == rev {
			return r, true
		}
	}
	return Record{}, false
}
