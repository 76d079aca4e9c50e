package presence

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/confo-go/confo"
)

// Status is one instance of a [Listing].
type Status struct {
	Record
	// Lag is how many store revisions the instance is behind the
	// namespace's latest change: Listing.Revision minus Applied, or 0. On
	// etcd, revisions count every change of the store, so Lag measures
	// distance, not the number of this namespace's changes missed.
	Lag int64 `json:"lag"`
	// Err is set, and the rest empty but the ID, when the record does not
	// decode.
	Err string `json:"error,omitempty"`
}

// Listing is what [List] returns.
type Listing struct {
	// Namespace is the namespace listed.
	Namespace string `json:"namespace"`
	// Revision is the store revision of the namespace's latest change.
	Revision int64 `json:"revision"`
	// Instances are the live instances that use it, by ID.
	Instances []Status `json:"instances"`
}

// List returns the live instances that use namespace ns of backend b (a
// Manager's [confo.Manager.Backend], layers and all), with the revision
// each applied, its lag behind the namespace's latest change, and its
// problems. It returns an error wrapping [ErrNoPresence] when b cannot keep
// presence records.
func List(ctx context.Context, b confo.Backend, ns string) (Listing, error) {
	if err := confo.ValidateName(ns); err != nil {
		return Listing{}, fmt.Errorf("presence: list: %w", err)
	}
	pb, ok := backendOf(b)
	if !ok {
		return Listing{}, fmt.Errorf("presence: list namespace %q on %T: %w", ns, b, ErrNoPresence)
	}
	raw, rev, err := pb.ListPresence(ctx, ns)
	if err != nil {
		return Listing{}, fmt.Errorf("presence: list namespace %q: %w", ns, err)
	}
	l := Listing{Namespace: ns, Revision: rev, Instances: make([]Status, 0, len(raw))}
	for id, data := range raw {
		var st Status
		if err := json.Unmarshal(data, &st.Record); err != nil {
			st = Status{Err: fmt.Sprintf("record does not decode: %v", err)}
		}
		st.ID = id
		st.Lag = max(0, rev-st.Applied)
		l.Instances = append(l.Instances, st)
	}
	slices.SortFunc(l.Instances, func(a, b Status) int { return cmp.Compare(a.ID, b.ID) })
	return l, nil
}

// Applied returns how many instances of l applied revision rev or later.
func (l Listing) Applied(rev int64) int {
	n := 0
	for _, st := range l.Instances {
		if st.Err == "" && st.Applied >= rev {
			n++
		}
	}
	return n
}

// Goal says how many instances [Wait] waits for: Count instances, or else
// Percent of the live instances (at least one).
type Goal struct {
	Percent float64
	Count   int
}

// reached reports whether l meets g for revision rev.
func (g Goal) reached(l Listing, rev int64) bool {
	done := l.Applied(rev)
	if g.Count > 0 {
		return done >= g.Count
	}
	if len(l.Instances) == 0 {
		return false
	}
	return float64(done) >= g.Percent/100*float64(len(l.Instances))
}

// String says the goal as the command takes it ("100%", "3").
func (g Goal) String() string {
	if g.Count > 0 {
		return fmt.Sprint(g.Count)
	}
	return fmt.Sprintf("%g%%", g.Percent)
}

// Wait lists namespace ns every poll until goal is reached for revision
// rev, and returns the last listing. When ctx ends first it returns that
// listing with an error that says how many instances applied rev and
// wraps ctx's error.
func Wait(ctx context.Context, b confo.Backend, ns string, rev int64, goal Goal, poll time.Duration) (Listing, error) {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last Listing
	for {
		l, err := List(ctx, b, ns)
		if err == nil {
			last = l
			if goal.reached(l, rev) {
				return l, nil
			}
		} else if ctx.Err() == nil {
			return l, err
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("presence: wait for %s of the instances of namespace %q to apply revision %d: %d of %d did: %w",
				goal, ns, rev, last.Applied(rev), len(last.Instances), ctx.Err())
		case <-tick.C:
		}
	}
}
