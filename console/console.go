// Package console is a web console over a [confo.Manager]: an
// [http.Handler] that a service mounts in its admin mux (as it mounts
// net/http/pprof) and that the confo command serves with `confo ui`.
//
// It shows the backends and their namespaces, a namespace's
// configurations, one configuration as formatted JSON with an editor,
// its history with a diff of any two versions, and the instances that use
// a namespace; it saves, deletes and rolls back through the Manager, so
// its guards, layers (schemas, sealing, change records) and errors apply
// as in the library. A save is guarded by the revision the page was read
// at: when another writer changed the configuration since, the console
// shows that change as a diff and lets the user re-apply theirs. Pages
// update live from [confo.Manager.Watch] by server-sent events.
//
// It is safe by default: every request but the sign-in page needs a
// session, opened with a one-time token or a user and password
// ([Options]); sessions live in HttpOnly, SameSite=Strict cookies; every
// write needs the session's CSRF token; the Content-Security-Policy allows
// no inline script; sign-in failures are rate-limited; no secret is ever
// written to a page or the log. [Options.ReadOnly] refuses every write.
//
// The console never changes the namespace in use of the Manager it is
// given: each request works on a short-lived Manager of its own over the
// same [confo.Backend].
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

// Validator checks a configuration before the console saves it and as
// the user types (a schema; the schema package provides one). The error
// says what is wrong, one problem per line.
type Validator interface {
	Validate(ctx context.Context, backend, ns, name string, value map[string]any) error
}

// Revealer opens a sealed value (a string starting with "confo:sealed:")
// for a user who clicks to see it: the one at JSON pointer ptr ("/password")
// of configuration name, whose envelope is sealed. It returns the plain
// value. Without a Revealer, sealed values stay masked.
type Revealer interface {
	Reveal(ctx context.Context, backend, ns, name, ptr, sealed string) (any, error)
}

// SealedPrefix starts every sealed value; the console masks such strings.
const SealedPrefix = "confo:sealed:"

// Instance is one process that uses a namespace, as an [InstanceLister]
// reports it.
type Instance struct {
	// ID names the instance (host and process, say).
	ID string
	// Applied is the store revision up to which it holds the namespace.
	Applied int64
	// Lag is how far it is behind the namespace's latest change, in store
	// revisions (0: up to date).
	Lag int64
	// Seen is when it last reported.
	Seen time.Time
}

// InstanceLister lists the instances that use a namespace (presence).
type InstanceLister interface {
	Instances(ctx context.Context, backend, ns string) ([]Instance, error)
}

// Change says who made a version of a configuration and why, as a
// [ChangeLister] reports it.
type Change struct {
	Author, Message string
	Time            time.Time
}

// ChangeLister reports the change records of versions of a configuration
// (the changelog package keeps them), by store revision; a revision
// without a record is left out.
type ChangeLister interface {
	Changes(ctx context.Context, backend, ns, name string, revisions []int64) (map[int64]Change, error)
}

// Options configure a console. At least one way to sign in, Token or User,
// must be set: the console has no anonymous mode.
type Options struct {
	// Token is a one-time access token: the first sign-in with it opens a
	// session, later ones fail. See [NewToken].
	Token string
	// User and Password sign in through the login form, any number of
	// times.
	User, Password string
	// ReadOnly refuses every write (save, delete, rollback) with 403 and
	// hides the controls.
	ReadOnly bool
	// BasePath is the path the console is mounted at, ending in "/"
	// (default "/"). The handler strips it itself.
	BasePath string
	// SecureCookie marks the session cookie Secure: set it when the
	// console is served over HTTPS.
	SecureCookie bool
	// SessionTTL bounds a session's life (default 12 h).
	SessionTTL time.Duration
	// LoginLimit is how many failed sign-ins a client may make per minute
	// (default 5); further attempts get 429.
	LoginLimit int
	// Logger receives one line per request (method, path without the
	// query, status) and the errors; nil logs nothing.
	Logger *slog.Logger
	// Layers, when set, are what the console's own Managers wrap the
	// store's Backend in (reached from the Manager's registered backend
	// by [confo.Unwrapper]), instead of the layers the Manager registered
	// it with. A service whose Manager opens sealed fields (a seal layer
	// with identities) gives the console a seal layer without identities
	// here, so that pages show sealed fields masked, and a Revealer to
	// open one on a click; it lists its other layers (schema, change
	// records) again, in the same order.
	Layers []confo.Layer
	// Validator, Revealer and Instances light up the validation,
	// the reveal of sealed values and the instances of a namespace.
	Validator Validator
	Revealer  Revealer
	Instances InstanceLister
	// Changes lights up who made each version and why, in the history.
	// Not needed when Layers hold a change-record layer (changelog's):
	// the history's versions then carry their author, message and time.
	Changes ChangeLister
}

// ErrNoSignIn is returned by [New] when Options give no way to sign in.
var ErrNoSignIn = errors.New("console: no way to sign in: set Options.Token or Options.User")

// Handler is the console. It is safe for concurrent use.
type Handler struct {
	m    *confo.Manager
	o    Options
	base string
	auth *auth
	mux  *http.ServeMux
	log  *slog.Logger
}

// New returns a console over m. It returns [ErrNoSignIn] when opts give no
// way to sign in.
func New(m *confo.Manager, opts Options) (*Handler, error) {
	if opts.Token == "" && opts.User == "" {
		return nil, ErrNoSignIn
	}
	if opts.User != "" && opts.Password == "" {
		return nil, fmt.Errorf("%w: Options.User without a Password", ErrNoSignIn)
	}
	base := opts.BasePath
	if base == "" {
		base = "/"
	}
	if !strings.HasPrefix(base, "/") || !strings.HasSuffix(base, "/") {
		return nil, fmt.Errorf("console: BasePath %q must start and end with /", base)
	}
	h := &Handler{m: m, o: opts, base: base, auth: newAuth(opts), log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.login)
	mux.Handle("POST /logout", h.authed(h.logout))

	mux.Handle("GET /{$}", h.authed(h.home))
	mux.Handle("GET /b/{backend}/ns/{ns}/{$}", h.authed(h.namespacePage))
	mux.Handle("GET /b/{backend}/ns/{ns}/events", h.authed(h.events))
	mux.Handle("GET /b/{backend}/ns/{ns}/c/{name}/{$}", h.authed(h.configPage))
	mux.Handle("GET /b/{backend}/ns/{ns}/c/{name}/json", h.authed(h.configJSON))
	mux.Handle("GET /b/{backend}/ns/{ns}/c/{name}/history", h.authed(h.historyPage))
	mux.Handle("GET /b/{backend}/ns/{ns}/c/{name}/delete", h.authed(h.deletePage))
	mux.Handle("POST /b/{backend}/ns/{ns}/c/{name}/validate", h.authed(h.validate))
	mux.Handle("POST /b/{backend}/ns/{ns}/c/{name}/reveal", h.authed(h.reveal))
	mux.Handle("POST /b/{backend}/ns/{ns}/c/{name}/save", h.writer(h.save))
	mux.Handle("POST /b/{backend}/ns/{ns}/c/{name}/delete", h.writer(h.deleteConfig))
	mux.Handle("POST /b/{backend}/ns/{ns}/c/{name}/rollback", h.writer(h.rollback))
	mux.Handle("POST /b/{backend}/ns/{ns}/new", h.writer(h.create))
	h.mux = mux
}

// statusWriter remembers the status of a response for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets server-sent events through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ServeHTTP serves the console under Options.BasePath.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	setSecurityHeaders(w)
	sw := &statusWriter{ResponseWriter: w}
	rest, ok := strings.CutPrefix(r.URL.Path, h.base)
	switch {
	case !ok:
		http.NotFound(sw, r)
	case crossOrigin.Check(r) != nil:
		// Beside SameSite cookies and CSRF tokens: a browser's cross-site
		// write (the sign-in form included) says so (Sec-Fetch-Site,
		// Origin).
		http.Error(sw, "cross-origin request refused", http.StatusForbidden)
	default:
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + rest
		r2.URL.RawPath = ""
		h.mux.ServeHTTP(sw, r2)
	}
	// The path only: the query of a sign-in link holds the token.
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
}

// crossOrigin refuses the writes that browsers mark cross-origin.
var crossOrigin = http.NewCrossOriginProtection()

type ctxKey struct{}

// sessionFrom returns the session the request was authenticated with.
func sessionFrom(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

// authed refuses requests without a live session with 401 (and the
// sign-in form, for a browser).
func (h *Handler) authed(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.auth.lookup(r)
		if s == nil {
			h.renderLogin(w, r, http.StatusUnauthorized, "")
			return
		}
		if r.Method == http.MethodPost && !csrfOK(r, s) {
			h.fail(w, r, http.StatusForbidden, errors.New("missing or wrong CSRF token: reload the page"))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

// writer is authed for writes, which read-only mode refuses.
func (h *Handler) writer(next http.HandlerFunc) http.Handler {
	return h.authed(func(w http.ResponseWriter, r *http.Request) {
		if h.o.ReadOnly {
			h.fail(w, r, http.StatusForbidden, errors.New("the console is read-only"))
			return
		}
		next(w, r)
	})
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		h.signIn(w, r, func() bool { return h.auth.useToken(tok) })
		return
	}
	if h.auth.lookup(r) != nil {
		http.Redirect(w, r, h.base, http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, "")
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if tok := r.PostFormValue("token"); tok != "" {
		h.signIn(w, r, func() bool { return h.auth.useToken(tok) })
		return
	}
	user, password := r.PostFormValue("user"), r.PostFormValue("password")
	h.signIn(w, r, func() bool { return h.auth.checkPassword(user, password) })
}

// signIn opens a session when check passes, else counts a failure. A
// client over the limit is refused before check runs, so that it neither
// learns anything nor spends the one-time token.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, check func() bool) {
	c := client(r)
	if h.auth.limited(c) {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "console sign-in rate-limited", slog.String("client", c))
		h.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins: wait a minute.")
		return
	}
	if !check() {
		h.auth.failed(c)
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "console sign-in failed", slog.String("client", c))
		h.renderLogin(w, r, http.StatusUnauthorized, "Wrong or used token, or wrong user or password.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: h.auth.open(), Path: h.base,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.o.SecureCookie,
		MaxAge: int(h.auth.ttl / time.Second),
	})
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "console sign-in", slog.String("client", c))
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.auth.close(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: h.base, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.o.SecureCookie})
	http.Redirect(w, r, h.base+"login", http.StatusSeeOther)
}

// status maps an error of the Manager to an HTTP status.
func status(err error) int {
	switch {
	case errors.Is(err, confo.ErrNamespaceNotFound), errors.Is(err, confo.ErrConfigNotFound),
		errors.Is(err, confo.ErrBackendNotFound), errors.Is(err, confo.ErrRevisionNotFound):
		return http.StatusNotFound
	case errors.Is(err, confo.ErrInvalidName):
		return http.StatusBadRequest
	case errors.Is(err, confo.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, confo.ErrInvalidValue):
		return http.StatusUnprocessableEntity
	case errors.Is(err, errors.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}
