package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one template set per page: the layout and the page's
// "content".
var pages = func() map[string]*template.Template {
	out := make(map[string]*template.Template)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.New(name).ParseFS(templateFS, "templates/layout.html", n))
	}
	return out
}()

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// crumb is one step of the breadcrumb trail.
type crumb struct {
	Label, URL string
}

// page is what every template gets.
type page struct {
	Title    string
	Base     string
	CSRF     string
	ReadOnly bool
	SignedIn bool
	Crumbs   []crumb
	Notice   string
	Error    string
	// Events is the URL of the page's server-sent events, if any.
	Events string
	Data   any
}

// newPage returns the page data of request r.
func (h *Handler) newPage(r *http.Request, title string, data any) *page {
	p := &page{Title: title, Base: h.base, ReadOnly: h.o.ReadOnly, Data: data}
	if s := sessionFrom(r); s != nil {
		p.CSRF, p.SignedIn = s.csrf, true
	}
	return p
}

// render writes template name with p, buffered so that a template error
// is a clean 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "console template", slog.String("page", name), slog.Any("err", err))
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	p := &page{Title: "Sign in", Base: h.base, Error: msg, Data: struct {
		Password bool
	}{h.auth.hasPW}}
	h.render(w, r, code, "login", p)
}

// fail answers an error: JSON for script requests, a page for the others.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelError, "console error", slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if wantsJSON(r) {
		writeJSON(w, code, map[string]any{"error": err.Error()})
		return
	}
	p := h.newPage(r, http.StatusText(code), nil)
	p.Error = err.Error()
	h.render(w, r, code, "error", p)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// link returns the console URL of the path segments, each escaped.
func (h *Handler) link(segs ...string) string {
	var b strings.Builder
	b.WriteString(h.base)
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func (h *Handler) nsLink(backend, ns string) string {
	return h.link("b", backend, "ns", ns) + "/"
}

func (h *Handler) configLink(backend, ns, name string) string {
	return h.link("b", backend, "ns", ns, "c", name) + "/"
}

// crumbs returns the trail to a backend's namespace and configuration.
func (h *Handler) crumbs(backend, ns, name string) []crumb {
	c := []crumb{{Label: "Backends", URL: h.base}}
	if ns != "" {
		c = append(c, crumb{Label: backend + " / " + ns, URL: h.nsLink(backend, ns)})
	}
	if name != "" {
		c = append(c, crumb{Label: name, URL: h.configLink(backend, ns, name)})
	}
	return c
}
