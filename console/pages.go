package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

// maxCounted is how many namespaces of a backend the home page counts the
// configurations of (counting reads each namespace).
const maxCounted = 100

type nsCount struct {
	Name, URL string
	Count     int // -1: not counted
	Err       string
}

type backendInfo struct {
	Name       string
	Active     bool
	Namespaces []nsCount
	Err        string
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	bs := h.m.GetBackends()
	infos := make([]backendInfo, 0, len(bs.All))
	for _, name := range bs.All {
		info := backendInfo{Name: name, Active: name == bs.Active}
		a, err := h.open(name)
		var nss []string
		if err == nil {
			nss, err = a.namespaces(ctx)
		}
		if err != nil {
			info.Err = err.Error()
			infos = append(infos, info)
			continue
		}
		for i, ns := range nss {
			c := nsCount{Name: ns, URL: h.nsLink(name, ns), Count: -1}
			if i < maxCounted {
				if s, err := a.b.Load(ctx, ns); err != nil {
					c.Err = err.Error()
				} else {
					c.Count = len(s.Entries)
				}
			}
			info.Namespaces = append(info.Namespaces, c)
		}
		infos = append(infos, info)
	}
	p := h.newPage(r, "Backends", infos)
	p.Crumbs = []crumb{{Label: "Backends", URL: h.base}}
	h.render(w, r, http.StatusOK, "home", p)
}

type configRow struct {
	Name, URL, Preview string
	Revision           int64
	Fields             int
}

type problemRow struct {
	Name, Err string
	Revision  int64
}

type instanceRow struct {
	ID, Seen string
	Applied  int64
	Lag      int64
}

type namespaceData struct {
	Backend, Namespace string
	Query              string
	Total              int
	Rows               []configRow
	Problems           []problemRow
	Applied            int64
	Instances          []instanceRow
	HasInstances       bool
	InstancesErr       string
	NewURL             string
}

// previewLen is the length of a configuration's preview in a list.
const previewLen = 120

func (h *Handler) namespacePage(w http.ResponseWriter, r *http.Request) {
	backend, ns := r.PathValue("backend"), r.PathValue("ns")
	d, err := h.namespaceData(r.Context(), backend, ns, r.URL.Query().Get("q"))
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	p := h.newPage(r, ns, d)
	p.Crumbs = h.crumbs(backend, ns, "")
	p.Events = h.link("b", backend, "ns", ns, "events")
	h.render(w, r, http.StatusOK, "namespace", p)
}

func (h *Handler) namespaceData(ctx context.Context, backend, ns, q string) (*namespaceData, error) {
	a, err := h.open(backend)
	if err != nil {
		return nil, err
	}
	all, revs, err := a.m.GetAllIn(ctx, ns)
	if err != nil {
		return nil, err
	}
	d := &namespaceData{Backend: backend, Namespace: ns, Query: q, Total: len(all),
		NewURL: h.link("b", backend, "ns", ns, "new")}
	names := make([]string, 0, len(all))
	for name := range all {
		if q == "" || strings.Contains(strings.ToLower(name), strings.ToLower(q)) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	d.Rows = make([]configRow, len(names))
	for i, name := range names {
		v := all[name]
		d.Rows[i] = configRow{Name: name, URL: h.configLink(backend, ns, name),
			Preview: preview(v, previewLen), Revision: revs[name], Fields: len(v)}
	}
	for _, pr := range a.m.Problems(ns) {
		d.Problems = append(d.Problems, problemRow{Name: pr.Name, Err: pr.Err.Error(), Revision: pr.Revision})
	}
	if st, err := a.m.Status(ns); err == nil {
		d.Applied = st.Applied
	}
	if h.o.Instances != nil {
		d.HasInstances = true
		insts, err := h.o.Instances.Instances(ctx, backend, ns)
		switch {
		case errors.Is(err, errors.ErrUnsupported): // the store keeps no presence
			d.HasInstances = false
		case err != nil:
			d.InstancesErr = err.Error()
		}
		for _, in := range insts {
			d.Instances = append(d.Instances, instanceRow{ID: in.ID, Applied: in.Applied,
				Seen: ago(time.Since(in.Seen)), Lag: in.Lag})
		}
	}
	return d, nil
}

type configData struct {
	Backend, Namespace, Name string
	Revision                 int64
	View                     template.HTML
	Text                     string // the editor's text
	Base                     string // the value the editor started from
	Message                  string
	Problems                 []string
	Exists                   bool
	Validator                bool
	Reveal                   bool
	Links                    map[string]string
	// Conflict is set when a save met another writer's change.
	Conflict *conflictData
}

type conflictData struct {
	Read, Now int64
	Theirs    []diffLine // what the other writer changed: base -> their value
	Yours     []diffLine // the user's change re-applied: their value -> merged
	Both      []string   // keys both changed (the user's version is kept)
	Deleted   bool       // the other writer deleted the configuration
}

func (h *Handler) configLinks(backend, ns, name string) map[string]string {
	base := h.link("b", backend, "ns", ns, "c", name)
	return map[string]string{
		"page": base + "/", "json": base + "/json", "history": base + "/history",
		"delete": base + "/delete", "save": base + "/save", "validate": base + "/validate",
		"reveal": base + "/reveal", "rollback": base + "/rollback",
		"events": h.link("b", backend, "ns", ns, "events"),
	}
}

// readConfig loads configuration name of ns and returns its value and the
// revision it was read at.
func (h *Handler) readConfig(ctx context.Context, backend, ns, name string) (*access, map[string]any, int64, error) {
	a, err := h.open(backend)
	if err != nil {
		return nil, nil, 0, err
	}
	v, rev, err := a.m.GetIn(ctx, ns, name)
	if err != nil {
		return a, nil, 0, err
	}
	return a, v, rev, nil
}

func (h *Handler) configData(backend, ns, name string, v map[string]any, rev int64) *configData {
	text := pretty(v)
	return &configData{Backend: backend, Namespace: ns, Name: name, Revision: rev,
		View: viewHTML(v, h.o.Revealer != nil), Text: text, Base: text, Exists: true,
		Validator: h.o.Validator != nil, Reveal: h.o.Revealer != nil,
		Links: h.configLinks(backend, ns, name)}
}

func (h *Handler) configPage(w http.ResponseWriter, r *http.Request) {
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	_, v, rev, err := h.readConfig(r.Context(), backend, ns, name)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	d := h.configData(backend, ns, name, v, rev)
	p := h.newPage(r, name, d)
	p.Crumbs = h.crumbs(backend, ns, name)
	p.Events = d.Links["events"]
	if s := r.URL.Query().Get("saved"); s != "" {
		p.Notice = "Saved at revision " + s + "."
	}
	if s := r.URL.Query().Get("rolledback"); s != "" {
		p.Notice = "Rolled back to the version of revision " + s + "."
	}
	h.render(w, r, http.StatusOK, "config", p)
}

// configJSON serves a configuration for the page's live update: its
// revision, the editor's text and the masked view.
func (h *Handler) configJSON(w http.ResponseWriter, r *http.Request) {
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	_, v, rev, err := h.readConfig(r.Context(), backend, ns, name)
	if errors.Is(err, confo.ErrConfigNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"deleted": true})
		return
	}
	if err != nil {
		r.Header.Set("Accept", "application/json")
		h.fail(w, r, status(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"revision": strconv.FormatInt(rev, 10), "text": pretty(v),
		"view": string(viewHTML(v, h.o.Revealer != nil)),
	})
}

type versionRow struct {
	Revision       int64
	Author         string
	Message        string
	When           string
	Deleted        bool
	Current        bool
	Err            string
	Preview        string
	IsA, IsB       bool
	CanRollback    bool
	RollbackTarget string
}

type historyData struct {
	Backend, Namespace, Name string
	Versions                 []versionRow
	A, B                     int64
	Diff                     []diffLine
	Changed                  bool
	HasChanges               bool
	Links                    map[string]string
}

func (h *Handler) historyPage(w http.ResponseWriter, r *http.Request) {
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	a, err := h.open(backend)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	versions, err := a.m.History(r.Context(), ns, name)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	d := &historyData{Backend: backend, Namespace: ns, Name: name, Links: h.configLinks(backend, ns, name)}
	byRev := make(map[int64]confo.ConfigVersion, len(versions))
	for _, v := range versions {
		byRev[v.Revision] = v
	}
	// Default: the newest version beside the one before.
	if len(versions) > 0 {
		d.B = versions[0].Revision
		d.A = d.B
		if len(versions) > 1 {
			d.A = versions[1].Revision
		}
	}
	if q, err := strconv.ParseInt(r.URL.Query().Get("a"), 10, 64); err == nil {
		d.A = q
	}
	if q, err := strconv.ParseInt(r.URL.Query().Get("b"), 10, 64); err == nil {
		d.B = q
	}
	va, okA := byRev[d.A]
	vb, okB := byRev[d.B]
	if len(versions) > 0 && (!okA || !okB) {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("revision %d or %d of %q: %w", d.A, d.B, name, confo.ErrRevisionNotFound))
		return
	}
	var changes map[int64]Change
	if h.o.Changes != nil && len(versions) > 0 {
		revs := make([]int64, len(versions))
		for i, v := range versions {
			revs[i] = v.Revision
		}
		if changes, err = h.o.Changes.Changes(r.Context(), backend, ns, name, revs); err != nil {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "console change records", slog.String("name", name), slog.Any("err", err))
		}
		d.HasChanges = true
	}
	d.Diff = lineDiff(versionText(va), versionText(vb))
	d.Changed = changed(d.Diff)
	for i, v := range versions {
		row := versionRow{Revision: v.Revision, Deleted: v.Deleted, Current: i == 0,
			IsA: v.Revision == d.A, IsB: v.Revision == d.B, CanRollback: i > 0 && v.Err == nil}
		// A change-record layer among Options.Layers (changelog) already
		// fills the version's author, message and time; a ChangeLister's
		// record, when it has one, takes precedence.
		c := Change{Author: v.Author, Message: v.Message, Time: v.Time}
		if rc, ok := changes[v.Revision]; ok {
			c = rc
		}
		if c.Author != "" || c.Message != "" || !c.Time.IsZero() {
			d.HasChanges = true
			row.Author, row.Message = c.Author, c.Message
			if !c.Time.IsZero() {
				row.When = ago(time.Since(c.Time))
			}
		}
		if v.Err != nil {
			row.Err = v.Err.Error()
		} else if v.Value != nil {
			row.Preview = preview(v.Value, previewLen)
		}
		d.Versions = append(d.Versions, row)
	}
	p := h.newPage(r, name+" history", d)
	p.Crumbs = append(h.crumbs(backend, ns, name), crumb{Label: "history", URL: d.Links["history"]})
	h.render(w, r, http.StatusOK, "history", p)
}

// versionText is a version as the diff shows it, sealed values masked.
func versionText(v confo.ConfigVersion) string {
	switch {
	case v.Deleted:
		return "(deleted)"
	case v.Err != nil:
		return "(not a JSON object)"
	case v.Value == nil:
		return ""
	}
	return pretty(masked(v.Value))
}

func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request) {
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	_, v, rev, err := h.readConfig(r.Context(), backend, ns, name)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	d := h.configData(backend, ns, name, v, rev)
	p := h.newPage(r, "Delete "+name, d)
	p.Crumbs = h.crumbs(backend, ns, name)
	h.render(w, r, http.StatusOK, "delete", p)
}

// ago says how long ago something was, shortly.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}
