package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/confo-go/confo"
)

// maxBody bounds the body of a write (a configuration's text).
const maxBody = 4 << 20

// author names the console's changes in change records.
func (h *Handler) author() string {
	if h.o.User != "" {
		return h.o.User + " (confo console)"
	}
	return "confo console"
}

// changeContext carries the user's change message to the change record.
func (h *Handler) changeContext(r *http.Request) context.Context {
	return confo.WithChangeInfo(r.Context(), confo.ChangeInfo{
		Author: h.author(), Message: strings.TrimSpace(r.PostFormValue("message")),
	})
}

// check validates value with the Validator, if any: one problem a line.
func (h *Handler) check(ctx context.Context, backend, ns, name string, value map[string]any) []string {
	if h.o.Validator == nil {
		return nil
	}
	err := h.o.Validator.Validate(ctx, backend, ns, name, value)
	if err == nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(err.Error()), "\n")
}

// save writes the editor's text, guarded by the revision the page read:
// 303 to the page when written; the editor again with the problems (422)
// when the text is not a valid configuration; the conflict page (409) when
// another writer changed it since.
func (h *Handler) save(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	text := r.PostFormValue("value")
	read, err := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, errors.New("the form lacks the revision it was read at"))
		return
	}
	again := func(code int, problems []string) { // the editor with the user's text
		d := &configData{Backend: backend, Namespace: ns, Name: name, Revision: read,
			Text: text, Base: r.PostFormValue("base"), Message: r.PostFormValue("message"),
			Problems: problems, Exists: read != 0, Validator: h.o.Validator != nil,
			Reveal: h.o.Revealer != nil, Links: h.configLinks(backend, ns, name)}
		if v, err := parseObject(d.Base); err == nil {
			d.View = viewHTML(v, h.o.Revealer != nil)
		}
		p := h.newPage(r, name, d)
		p.Crumbs = h.crumbs(backend, ns, name)
		p.Error = "Not saved."
		h.render(w, r, code, "config", p)
	}
	mine, err := parseObject(text)
	if err != nil {
		again(http.StatusUnprocessableEntity, []string{err.Error()})
		return
	}
	if problems := h.check(r.Context(), backend, ns, name, mine); problems != nil {
		again(http.StatusUnprocessableEntity, problems)
		return
	}
	a, err := h.open(backend)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	rev, err := a.m.SetIfIn(h.changeContext(r), ns, name, mine, read)
	switch {
	case errors.Is(err, confo.ErrConflict):
		h.conflict(w, r, backend, read, mine)
		return
	case errors.Is(err, confo.ErrNamespaceNotFound):
		h.fail(w, r, status(err), err)
		return
	case err != nil: // a layer's refusal (schema, sealing) or the store's error
		again(status(err), []string{err.Error()})
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console save", slog.String("backend", backend),
		slog.String("namespace", ns), slog.String("name", name), slog.Int64("revision", rev))
	http.Redirect(w, r, h.configLink(backend, ns, name)+"?saved="+strconv.FormatInt(rev, 10), http.StatusSeeOther)
}

// conflict shows the other writer's change (from the value the user read
// to the store's value now) and an editor holding the user's change
// re-applied onto it, guarded by the new revision.
func (h *Handler) conflict(w http.ResponseWriter, r *http.Request, backend string, read int64, mine map[string]any) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	base, err := parseObject(r.PostFormValue("base"))
	if err != nil {
		base = map[string]any{}
	}
	_, theirs, now, err := h.readConfig(r.Context(), backend, ns, name)
	deleted := errors.Is(err, confo.ErrConfigNotFound)
	if err != nil && !deleted {
		h.fail(w, r, status(err), err)
		return
	}
	merged, both := merge(base, mine, theirs)
	c := &conflictData{Read: read, Now: now, Both: both, Deleted: deleted}
	theirsText := pretty(masked(theirs))
	if deleted {
		theirsText = "(deleted)"
	}
	c.Theirs = lineDiff(pretty(masked(base)), theirsText)
	c.Yours = lineDiff(pretty(masked(theirs)), pretty(masked(merged)))
	d := &configData{Backend: backend, Namespace: ns, Name: name, Revision: now,
		Text: pretty(merged), Base: pretty(theirs), Message: r.PostFormValue("message"),
		Exists: !deleted, Validator: h.o.Validator != nil, Reveal: h.o.Revealer != nil,
		Links: h.configLinks(backend, ns, name), Conflict: c}
	if deleted {
		d.Base = "{}"
	} else {
		d.View = viewHTML(theirs, h.o.Revealer != nil)
	}
	p := h.newPage(r, name, d)
	p.Crumbs = h.crumbs(backend, ns, name)
	p.Error = fmt.Sprintf("Not saved: %q changed in the store since you read it.", name)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console save conflict", slog.String("backend", backend),
		slog.String("namespace", ns), slog.String("name", name), slog.Int64("read", read), slog.Int64("now", now))
	h.render(w, r, http.StatusConflict, "config", p)
}

// create makes an empty configuration and opens it.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	backend, ns := r.PathValue("backend"), r.PathValue("ns")
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := confo.ValidateName(name); err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	a, err := h.open(backend)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	rev, err := a.m.SetIfIn(h.changeContext(r), ns, name, map[string]any{}, 0)
	if errors.Is(err, confo.ErrConflict) {
		err = fmt.Errorf("configuration %q exists in namespace %q: %w", name, ns, err)
	}
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	http.Redirect(w, r, h.configLink(backend, ns, name)+"?saved="+strconv.FormatInt(rev, 10), http.StatusSeeOther)
}

// deleteConfig deletes a configuration, guarded by the revision the
// confirmation page read.
func (h *Handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	read, err := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, errors.New("the form lacks the revision it was read at"))
		return
	}
	a, err := h.open(backend)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	if _, err := a.m.SetIfIn(h.changeContext(r), ns, name, nil, read); err != nil {
		if errors.Is(err, confo.ErrConflict) {
			err = fmt.Errorf("delete %q: it changed since you read it at revision %d; look again before deleting: %w", name, read, err)
		}
		h.fail(w, r, status(err), err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console delete", slog.String("backend", backend),
		slog.String("namespace", ns), slog.String("name", name))
	http.Redirect(w, r, h.nsLink(backend, ns), http.StatusSeeOther)
}

// rollback writes back the version of a revision.
func (h *Handler) rollback(w http.ResponseWriter, r *http.Request) {
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	rev, err := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, errors.New("rollback needs the revision to restore"))
		return
	}
	a, err := h.open(backend)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	if err := a.m.Rollback(h.changeContext(r), ns, name, rev); err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console rollback", slog.String("backend", backend),
		slog.String("namespace", ns), slog.String("name", name), slog.Int64("to", rev))
	http.Redirect(w, r, h.configLink(backend, ns, name)+"?rolledback="+strconv.FormatInt(rev, 10), http.StatusSeeOther)
}

// validate checks the editor's text as the user types: the JSON syntax,
// the object shape and the Validator. It answers {"problems": [...]}.
func (h *Handler) validate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"problems": []string{err.Error()}})
		return
	}
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	problems := []string{}
	v, err := parseObject(string(body))
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		problems = append(problems, h.check(r.Context(), backend, ns, name, v)...)
	}
	if err == nil && len(problems) == 0 {
		// The layers' checks (a schema layer's, say), by a Set on the
		// request's own Manager that is never persisted.
		a, err := h.open(backend)
		if err == nil {
			err = a.use(r.Context(), ns)
		}
		if err == nil {
			err = a.m.Set(name, v)
		}
		if err != nil {
			problems = append(problems, strings.Split(strings.TrimSpace(err.Error()), "\n")...)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"problems": problems})
}

// reveal opens the sealed value at a JSON pointer of the stored
// configuration with the Revealer, on the user's click.
func (h *Handler) reveal(w http.ResponseWriter, r *http.Request) {
	r.Header.Set("Accept", "application/json")
	if h.o.Revealer == nil {
		h.fail(w, r, http.StatusNotImplemented, fmt.Errorf("reveal: %w: no Revealer", errors.ErrUnsupported))
		return
	}
	backend, ns, name := r.PathValue("backend"), r.PathValue("ns"), r.PathValue("name")
	ptr := r.PostFormValue("ptr")
	_, v, _, err := h.readConfig(r.Context(), backend, ns, name)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	sealed, ok := lookupPointer(v, ptr)
	if !ok || !isSealed(sealed) {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("no sealed value at %q of %q", ptr, name))
		return
	}
	plain, err := h.o.Revealer.Reveal(r.Context(), backend, ns, name, ptr, sealed.(string))
	if err != nil {
		h.fail(w, r, http.StatusForbidden, fmt.Errorf("reveal %q of %q: %w", ptr, name, err))
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console reveal", slog.String("backend", backend),
		slog.String("namespace", ns), slog.String("name", name), slog.String("pointer", ptr))
	writeJSON(w, http.StatusOK, map[string]any{"value": plain})
}
