package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
)

// revisionDiff is diff NS NAME REV1 [REV2]: the fields of configuration
// NAME that differ between the versions written at REV1 and REV2 (default:
// the current one).
func (a *app) revisionDiff(cmd *cobra.Command, argv []string) error {
	ns, name := argv[0], argv[1]
	var revs []int64
	for _, s := range argv[2:] {
		rev, err := strconv.ParseInt(s, 10, 64)
		if err != nil || rev <= 0 {
			return usagef("diff: REV %q: want a positive revision number (see confo history)", s)
		}
		revs = append(revs, rev)
	}
	return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
		for _, n := range []string{ns, name} {
			if err := confo.ValidateName(n); err != nil {
				return err
			}
		}
		b, err := m.Layered(m.GetBackends().Active)
		if err != nil {
			return err
		}
		h, ok := b.(confo.Historian)
		if !ok {
			return fmt.Errorf("diff: backend %q keeps no history", m.GetBackends().Active)
		}
		from, cur, err := h.Version(ctx, ns, name, revs[0])
		if err != nil {
			return err
		}
		toRev := cur
		if len(revs) == 2 {
			toRev = revs[1]
		}
		var to confo.Version
		if toRev != 0 {
			if to, _, err = h.Version(ctx, ns, name, toRev); err != nil {
				return err
			}
		}
		before, _ := decodeObject(from.Value)
		after, _ := decodeObject(to.Value)
		if a.json {
			return a.printJSON(map[string]any{"namespace": ns, "name": name,
				"from": map[string]any{"revision": revs[0], "value": before},
				"to":   map[string]any{"revision": toRev, "value": after}})
		}
		toLabel := fmt.Sprintf("revision %d", toRev)
		if len(revs) == 1 {
			toLabel += ", current"
		}
		_, err = fmt.Fprint(a.stdout, fieldDiff(name, fmt.Sprintf("revision %d", revs[0]), toLabel,
			before, after, from.Value != nil, to.Value != nil))
		return err
	})
}
