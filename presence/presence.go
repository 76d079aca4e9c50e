// Package presence answers the operator's question after a configuration
// change: did every instance pick it up? Each running Manager, given an
// instance identity, registers for each namespace it uses the store
// revision it has applied and its current problems ([Reporter]); anyone can
// list them with [List] or wait until enough instances applied a revision
// with [Wait] (the confo command's "status").
//
//	rep, err := presence.Start(ctx, m, presence.Instance{ID: "web-1", Labels: map[string]string{"zone": "a"}},
//		presence.Options{Namespaces: []string{"database"}})
//	defer rep.Close(ctx)
//
// # Stores
//
// A record is kept only while its instance lives. On etcd ([Backend] is
// implemented by backends/etcd) every record of one Reporter is put under
// one lease, kept alive by the client: an instance that dies disappears
// within the lease's TTL, one that closes its Reporter at once. The record
// of instance id for namespace ns is the key "<prefix>//<ns>/presence/<id>",
// among the namespace's metadata: it is never listed or loaded as a
// configuration, and a watch of the namespace's configurations does not see
// it.
//
// On Redis (backends/redis) each record is a key with a time to live,
// "<prefix>:presence:<ns>/<id>", that the session sets again every TTL/3:
// Redis expires the records of a dead instance, and each live instance
// writes once per TTL/3.
//
// On ZooKeeper (backends/zookeeper) each record is an ephemeral znode of
// the backend's session, "<prefix>.presence/<ns>/<id>": the ensemble
// deletes it when the session ends (the process died: within the session
// timeout), with no write while nothing changes.
//
// Stores without leases that keep metadata ([confo.MetaStore]: the file
// and memory backends) hold each record as the metadata entry
// "presence/<id>" with an expiry: the Reporter's session rewrites it every
// TTL/3, [List] skips expired records and deletes them. A dead instance so
// leaves listings within the TTL too, but each live instance also writes
// once per TTL/3 when nothing changes, and expiry compares the writer's
// clock with the lister's. Backends with neither make Start and List
// return an error wrapping [ErrNoPresence] and [errors.ErrUnsupported].
//
// # Cost
//
// A Reporter reads [confo.Manager.Status] (no I/O) once per Options.Interval
// and writes a namespace's record only when what it reports has changed
// (the applied revision, staleness, problems), so it makes at most one
// write per namespace per interval, and none while nothing changes. On etcd
// the lease costs one keep-alive every TTL/3 (not a write: lease renewals
// do not go through the raft log).
package presence

import (
	"context"
	"errors"
	"time"

	"github.com/confo-go/confo"
)

// Defaults of [Options].
const (
	DefaultInterval = 5 * time.Second
	DefaultTTL      = 30 * time.Second
)

// Instance identifies a running Manager.
type Instance struct {
	// ID names the instance uniquely among those that use a namespace
	// (a pod's name, host:port); it must be a valid name
	// ([confo.ValidateName]).
	ID string `json:"id"`
	// Labels describe it (version, zone, ...); they are listed beside it.
	Labels map[string]string `json:"labels,omitempty"`
}

// Record is what an instance reports for one namespace.
type Record struct {
	Instance
	// Applied is the store revision up to which the instance's view holds
	// the store's state ([confo.NamespaceStatus].Applied).
	Applied int64 `json:"applied"`
	// Stale reports that the instance serves the namespace from its
	// last-known-good mirror.
	Stale bool `json:"stale,omitempty"`
	// Problems lists the instance's problems in the namespace.
	Problems []Problem `json:"problems,omitempty"`
	// Updated is when the instance wrote the record.
	Updated time.Time `json:"updated"`
}

// Problem is a [confo.Problem] as an instance reports it.
type Problem struct {
	Name     string `json:"name"`
	Revision int64  `json:"revision,omitempty"`
	Error    string `json:"error"`
}

// Backend is implemented by backends that can keep records which vanish
// with their writer (etcd: keys under a lease).
type Backend interface {
	// OpenPresence starts a session whose records vanish when it is closed
	// or, if its process dies, within ttl.
	OpenPresence(ctx context.Context, ttl time.Duration) (Session, error)
	// ListPresence returns the live records of namespace ns, by instance
	// ID, and the store revision of the namespace's latest change (the
	// highest revision of its configurations; 0 when it has none).
	ListPresence(ctx context.Context, ns string) (records map[string][]byte, revision int64, err error)
}

// Session is one instance's lease on its records.
type Session interface {
	// Put writes the record of instance id in namespace ns under the
	// session. If the store lost the session (the TTL ran out while the
	// store was unreachable), Put opens a new one and writes again every
	// record the session holds.
	Put(ctx context.Context, ns, id string, record []byte) error
	// Close ends the session: its records vanish. A second Close does
	// nothing.
	Close(ctx context.Context) error
}

// ErrNoPresence is wrapped by the errors of Start and List on a backend
// that cannot keep presence records; it wraps [errors.ErrUnsupported].
var ErrNoPresence = presenceError{}

type presenceError struct{}

func (presenceError) Error() string        { return "presence: the backend keeps no presence records" }
func (presenceError) Is(target error) bool { return target == errors.ErrUnsupported }

// backendOf returns the presence Backend under b, unwrapping layers: the
// first that keeps presence natively, else the innermost [confo.MetaStore]
// (records with an expiry, see metaPresence).
func backendOf(b confo.Backend) (Backend, bool) {
	var meta confo.Backend
	for b != nil {
		if p, ok := b.(Backend); ok {
			return p, true
		}
		if _, ok := b.(confo.MetaStore); ok {
			meta = b
		}
		u, ok := b.(confo.Unwrapper)
		if !ok {
			break
		}
		b = u.Unwrap()
	}
	if meta != nil {
		return metaPresence{b: meta, ms: meta.(confo.MetaStore)}, true
	}
	return nil, false
}
