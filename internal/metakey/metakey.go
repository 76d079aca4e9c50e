// Package metakey holds what every [confo.MetaStore] of this module checks
// the same way: metadata keys, the ops of one CommitMeta, and the words of a
// conflict on a metadata entry.
package metakey

import (
	"fmt"
	"strings"

	"github.com/confo-go/confo"
)

// Validate checks a metadata key: a slash-separated path ("schema/mysql",
// "changes/00000000000000000042") whose every segment is a valid name
// ([confo.ValidateName]). Anything else wraps [confo.ErrInvalidName].
func Validate(key string) error {
	if key == "" {
		return fmt.Errorf("%w: metadata key is empty", confo.ErrInvalidName)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := confo.ValidateName(seg); err != nil {
			return fmt.Errorf("metadata key %q: %w", key, err)
		}
	}
	return nil
}

// ValidatePrefix checks the prefix of a LoadMeta: empty, or a string that
// could start a valid key (it may end in "/" or in part of a segment).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := Validate(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("metadata prefix: %w", err)
	}
	return nil
}

// ValidateOps checks the metadata ops of one CommitMeta: valid keys, at
// most one write per key (a Check and a write of the same key may go
// together), and no Check with [confo.AnyRevision], which would guard
// nothing.
func ValidateOps(meta []confo.MetaOp) error {
	written := make(map[string]bool, len(meta))
	for _, op := range meta {
		if err := Validate(op.Key); err != nil {
			return err
		}
		if op.Revision < confo.AnyRevision {
			return fmt.Errorf("%w: metadata %q: revision %d", confo.ErrInvalidValue, op.Key, op.Revision)
		}
		if op.Check {
			if op.Revision == confo.AnyRevision {
				return fmt.Errorf("%w: metadata %q: a check of any revision guards nothing", confo.ErrInvalidValue, op.Key)
			}
			continue
		}
		if written[op.Key] {
			return fmt.Errorf("%w: metadata %q written twice in one commit", confo.ErrInvalidValue, op.Key)
		}
		written[op.Key] = true
	}
	return nil
}

// Guarded reports whether op compares a revision.
func Guarded(op confo.MetaOp) bool { return op.Revision != confo.AnyRevision }

// ConflictText says how metadata entry op.Key differs from what the caller
// expected, given its current revision cur (0: it does not exist).
func ConflictText(op confo.MetaOp, cur int64) string {
	switch {
	case op.Revision == 0:
		return fmt.Sprintf("metadata %q was created in the store (revision %d)", op.Key, cur)
	case cur == 0:
		return fmt.Sprintf("metadata %q was deleted from the store (read at revision %d)", op.Key, op.Revision)
	}
	return fmt.Sprintf("metadata %q was changed in the store (read at revision %d, now %d)", op.Key, op.Revision, cur)
}
