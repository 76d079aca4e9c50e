package changelog

import (
	"context"
	"errors"

	"github.com/confo-go/confo"
)

// History returns the versions the wrapped Backend's [confo.Historian]
// keeps of configuration name, each with the author, message and time of
// the record that wrote it (see [Match]); a version no kept record wrote
// (written before the layer, or its record pruned) has none. On a store
// without metadata the versions come without them.
func (b *Backend) History(ctx context.Context, ns, name string, limit int) ([]confo.Version, error) {
	versions, err := b.wrapped.History(ctx, ns, name, limit)
	if err != nil || len(versions) == 0 {
		return versions, err
	}
	records, err := b.recordsOf(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	for i := range versions {
		annotate(&versions[i], records, name)
	}
	return versions, nil
}

// Version returns the version of configuration name written at revision
// rev, as the wrapped Backend's [confo.Historian] does, with the author,
// message and time of the record that wrote it.
func (b *Backend) Version(ctx context.Context, ns, name string, rev int64) (confo.Version, int64, error) {
	v, current, err := b.wrapped.Version(ctx, ns, name, rev)
	if err != nil {
		return v, current, err
	}
	records, err := b.recordsOf(ctx, ns, name)
	if err != nil {
		return confo.Version{}, 0, err
	}
	annotate(&v, records, name)
	return v, current, nil
}

// recordsOf returns the records that wrote configuration name, none on a
// store without metadata.
func (b *Backend) recordsOf(ctx context.Context, ns, name string) ([]Record, error) {
	records, err := b.Records(ctx, ns, name)
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, nil
	}
	return records, err
}

// annotate fills v's author, message and time from the record among
// records that wrote it, if any.
func annotate(v *confo.Version, records []Record, name string) {
	r, ok := Match(records, name, *v)
	if !ok && v.Value == nil { // a deletion: only its revision tells
		r, ok = MatchRevision(records, name, v.Revision)
	}
	if ok {
		v.Author, v.Message, v.Time = r.Author, r.Message, r.Time
	}
}
