package seal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

// MetaRotation is the metadata key of a rotation in progress (see
// [Backend.Rotate]).
const MetaRotation = "seal/rotation"

// DefaultBatchSize is how many configurations one rotation step re-seals
// unless RotateOptions says otherwise.
const DefaultBatchSize = 50

// rotateAttempts bounds how often a batch is retried after a conflict with
// a concurrent writer.
const rotateAttempts = 10

// Recipients returns the recipients of namespace ns, as stored, and the
// revision of their metadata entry (0 when there is none). It returns an
// error wrapping errors.ErrUnsupported when the store keeps no metadata.
func (b *Backend) Recipients(ctx context.Context, ns string) ([]string, int64, error) {
	entries, err := b.LoadMeta(ctx, ns, MetaRecipients)
	if err != nil {
		return nil, 0, fmt.Errorf("seal: recipients of namespace %q: %w", ns, err)
	}
	e, ok := entries[MetaRecipients]
	if !ok {
		return nil, 0, nil
	}
	var out []string
	for _, line := range strings.Split(string(e.Value), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, e.Revision, nil
}

// rotation is the progress record of a rotation, stored under MetaRotation.
type rotation struct {
	// Keys is the fingerprint of the recipients the rotation seals to.
	Keys string `json:"keys"`
	// After is the last configuration re-sealed, in name order.
	After string `json:"after"`
	// Done counts the configurations re-sealed.
	Done int `json:"done"`
	// Started is when the rotation started.
	Started time.Time `json:"started"`
}

// SetRecipients replaces the recipients of namespace ns, guarded by rev
// (from [Backend.Recipients]; 0 when there are none yet): a concurrent
// change makes it fail with confo.ErrConflict. Each recipient must parse
// ([ParseRecipient]); age does not mix hybrid and X25519 recipients. It
// records a rotation to do in the same step when sealed values may be
// sealed to other recipients: run [Backend.Rotate] to re-seal them.
func (b *Backend) SetRecipients(ctx context.Context, ns string, recipients []string, rev int64) error {
	recipients = slices.Compact(slices.Sorted(slices.Values(recipients)))
	if len(recipients) == 0 {
		return fmt.Errorf("seal: set recipients of namespace %q: %w: a namespace with sealed fields needs one", ns, ErrNoRecipients)
	}
	if _, err := newKeyring(recipients); err != nil {
		return fmt.Errorf("seal: set recipients of namespace %q: %w", ns, err)
	}
	if err := checkMix(recipients); err != nil {
		return fmt.Errorf("seal: set recipients of namespace %q: %w", ns, err)
	}
	rec, _ := json.Marshal(rotation{Keys: Fingerprint(recipients), Started: time.Now().UTC()})
	meta := []confo.MetaOp{
		{Key: MetaRecipients, Value: []byte(strings.Join(recipients, "\n") + "\n"), Revision: rev},
		{Key: MetaRotation, Value: rec, Revision: confo.AnyRevision},
	}
	if rev == 0 { // the first recipients: nothing is sealed yet
		meta = meta[:1]
	}
	if _, err := b.CommitMeta(ctx, ns, nil, meta); err != nil {
		return fmt.Errorf("seal: set recipients of namespace %q: %w", ns, err)
	}
	return nil
}

// checkMix refuses hybrid and X25519 recipients together, as age does.
func checkMix(recipients []string) error {
	pq := 0
	for _, r := range recipients {
		if strings.HasPrefix(r, "age1pq1") {
			pq++
		}
	}
	if pq > 0 && pq < len(recipients) {
		return errors.New("age cannot seal to post-quantum and X25519 recipients together: rotate to one kind")
	}
	return nil
}

// AddRecipients adds recipients to namespace ns (see SetRecipients).
func (b *Backend) AddRecipients(ctx context.Context, ns string, add ...string) error {
	cur, rev, err := b.Recipients(ctx, ns)
	if err != nil {
		return err
	}
	return b.SetRecipients(ctx, ns, append(cur, add...), rev)
}

// RemoveRecipients removes recipients from namespace ns (see
// SetRecipients); removing one that is not there is an error naming it.
func (b *Backend) RemoveRecipients(ctx context.Context, ns string, remove ...string) error {
	cur, rev, err := b.Recipients(ctx, ns)
	if err != nil {
		return err
	}
	for _, r := range remove {
		i := slices.Index(cur, strings.TrimSpace(r))
		if i < 0 {
			return fmt.Errorf("seal: remove recipient %q from namespace %q: not a recipient", r, ns)
		}
		cur = slices.Delete(cur, i, i+1)
	}
	return b.SetRecipients(ctx, ns, cur, rev)
}

// RotateOptions tune [Backend.Rotate].
type RotateOptions struct {
	// BatchSize is how many configurations one guarded step re-seals;
	// zero means DefaultBatchSize.
	BatchSize int
	// Progress, when set, is called after each step.
	Progress func(RotateProgress)
}

// RotateProgress says how far a rotation is.
type RotateProgress struct {
	// Namespace is the namespace being rotated.
	Namespace string
	// Done counts the configurations re-sealed so far, including those of
	// an interrupted run this one resumed; Total is Done plus those left.
	Done, Total int
	// Last is the last configuration re-sealed.
	Last string
	// Resumed reports that an interrupted rotation was resumed.
	Resumed bool
}

// Rotate re-seals every sealed field of namespace ns that is not sealed to
// the namespace's current recipients, in guarded batches (each one atomic,
// with the progress record), while other managers keep reading and
// writing: a batch that conflicts with a concurrent write is read again
// and retried. It resumes an interrupted rotation: values already sealed
// to the current recipients are skipped, and the progress record carries
// the count. Values already sealed to the current recipients are
// recognised by the fingerprint their envelope shows, without opening
// them; the layer needs identities that open every other sealed field
// (the old ones); a field none opens stops the rotation with an error
// naming it. The record is removed when the rotation is
// complete. Versions kept in the store's history stay sealed to the old
// recipients: rotate the secrets themselves when a removed key is
// compromised.
func (b *Backend) Rotate(ctx context.Context, ns string, opts RotateOptions) (RotateProgress, error) {
	if len(b.ids) == 0 {
		return RotateProgress{Namespace: ns}, fmt.Errorf("seal: rotate namespace %q: %w: re-sealing needs the identities that open the sealed fields", ns, ErrNoIdentity)
	}
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	prog := RotateProgress{Namespace: ns}
	entries, err := b.LoadMeta(ctx, ns, MetaRotation)
	if err != nil {
		return prog, fmt.Errorf("seal: rotate namespace %q: %w", ns, err)
	}
	keys, _, err := b.recipients(ctx, ns)
	if err != nil {
		return prog, fmt.Errorf("seal: rotate: %w", err)
	}
	rec := rotation{Keys: keys.fingerprint, Started: time.Now().UTC()}
	recRev := int64(0)
	if e, ok := entries[MetaRotation]; ok {
		var old rotation
		if json.Unmarshal(e.Value, &old) == nil && old.Keys == keys.fingerprint {
			rec, prog.Resumed, prog.Done = old, old.Done > 0, old.Done
		}
		recRev = e.Revision
	}
	for attempt := 0; ; {
		todo, err := b.toReseal(ctx, ns, keys.fingerprint)
		if err != nil {
			return prog, err
		}
		prog.Total = prog.Done + len(todo)
		if len(todo) == 0 {
			break
		}
		batch := todo[:min(size, len(todo))]
		next := rec
		next.After, next.Done = batch[len(batch)-1].Name, rec.Done+len(batch)
		raw, _ := json.Marshal(next)
		meta := []confo.MetaOp{{Key: MetaRotation, Value: raw, Revision: recRev}}
		if _, err := b.commit(withReseal(ctx), ns, batch, meta); err != nil {
			if errors.Is(err, confo.ErrConflict) && attempt < rotateAttempts {
				attempt++
				if recRev, err = b.metaRevision(ctx, ns, MetaRotation); err != nil {
					return prog, err
				}
				if keys, _, err = b.recipients(ctx, ns); err != nil {
					return prog, fmt.Errorf("seal: rotate: %w", err)
				}
				rec.Keys = keys.fingerprint
				continue
			}
			return prog, fmt.Errorf("seal: rotate namespace %q, %d configurations re-sealed: batch %q to %q: %w", ns, rec.Done, batch[0].Name, next.After, err)
		}
		rec, attempt = next, 0
		if recRev, err = b.metaRevision(ctx, ns, MetaRotation); err != nil {
			return prog, err
		}
		prog.Done, prog.Last = rec.Done, rec.After
		if opts.Progress != nil {
			opts.Progress(prog)
		}
	}
	if recRev != 0 {
		if _, err := b.CommitMeta(ctx, ns, nil, []confo.MetaOp{{Key: MetaRotation, Revision: recRev}}); err != nil {
			return prog, fmt.Errorf("seal: rotate namespace %q: remove the progress record: %w", ns, err)
		}
	}
	return prog, nil
}

// metaRevision returns the revision of metadata entry key of ns, 0 if none.
func (b *Backend) metaRevision(ctx context.Context, ns, key string) (int64, error) {
	entries, err := b.LoadMeta(ctx, ns, key)
	if err != nil {
		return 0, fmt.Errorf("seal: rotate namespace %q: %w", ns, err)
	}
	return entries[key].Revision, nil
}

// toReseal reads ns and returns, in name order, a put of each
// configuration with a sealed field not sealed to fingerprint keys.
func (b *Backend) toReseal(ctx context.Context, ns, keys string) ([]confo.Op, error) {
	snap, err := b.Load(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("seal: rotate namespace %q: %w", ns, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state(ns)
	var ops []confo.Op
	for _, name := range slices.Sorted(maps.Keys(snap.Entries)) {
		e, cs := snap.Entries[name], s.configs[name]
		if cs == nil {
			continue
		}
		for _, sf := range cs.sealed {
			if sf.keys == keys {
				continue
			}
			if e.Err != nil { // to re-seal, and it does not open
				return nil, fmt.Errorf("seal: rotate namespace %q: %w", ns, e.Err)
			}
			ops = append(ops, confo.Op{Name: name, Value: e.Value, Revision: e.Revision})
			break
		}
	}
	return ops, nil
}
