package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// The console authenticates every request but the login page and its
// static assets. A browser signs in once, with the one-time access token
// (GET login?token=..., as `confo ui` prints it, or the login form) or with
// the user and password of [Options], and gets a session: a random
// identifier in a cookie that scripts cannot read (HttpOnly) and that no
// other site's request carries (SameSite=Strict). Each session has its own
// CSRF token, which every write must echo (form field or X-CSRF-Token
// header). Secrets are compared in constant time, as SHA-256 digests so
// that their lengths leak nothing either, and never logged or shown.

const (
	sessionCookie = "confo_session"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

// session is one signed-in browser.
type session struct {
	csrf    string
	expires time.Time
}

// auth holds the sessions and the secrets they are opened with.
type auth struct {
	ttl    time.Duration
	limit  int // failed sign-ins per client per minute
	now    func() time.Time
	user   [32]byte // digests; zero when unset
	pass   [32]byte
	hasPW  bool
	mu     sync.Mutex
	token  [32]byte // digest of the one-time token
	hasTok bool     // false once it has been used
	byID   map[[32]byte]*session
	fails  map[string][]time.Time // client address -> recent failures
}

func newAuth(o Options) *auth {
	a := &auth{
		ttl:   o.SessionTTL,
		limit: o.LoginLimit,
		now:   time.Now,
		byID:  make(map[[32]byte]*session),
		fails: make(map[string][]time.Time),
	}
	if a.ttl <= 0 {
		a.ttl = 12 * time.Hour
	}
	if a.limit <= 0 {
		a.limit = 5
	}
	if o.Token != "" {
		a.token, a.hasTok = sha256.Sum256([]byte(o.Token)), true
	}
	if o.User != "" {
		a.user, a.pass, a.hasPW = sha256.Sum256([]byte(o.User)), sha256.Sum256([]byte(o.Password)), true
	}
	return a
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewToken returns a fresh random access token for [Options.Token].
func NewToken() string { return randomString(32) }

// equal compares two secrets in constant time.
func equal(a, b string) bool {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// client names the remote end of r for the login rate limit: its IP.
func client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited reports whether client c has used up its failed sign-ins of the
// last minute.
func (a *auth) limited(c string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	cut := a.now().Add(-time.Minute)
	recent := a.fails[c][:0]
	for _, t := range a.fails[c] {
		if t.After(cut) {
			recent = append(recent, t)
		}
	}
	if len(recent) == 0 {
		delete(a.fails, c)
	} else {
		a.fails[c] = recent
	}
	return len(recent) >= a.limit
}

// failed records a failed sign-in of client c.
func (a *auth) failed(c string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.fails) > 10000 { // bound the memory an address-hopping client can take
		clear(a.fails)
	}
	a.fails[c] = append(a.fails[c], a.now())
}

// useToken reports whether tok is the one-time token, and if so spends it.
func (a *auth) useToken(tok string) bool {
	d := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := subtle.ConstantTimeCompare(d[:], a.token[:]) == 1
	if !ok || !a.hasTok {
		return false
	}
	a.hasTok = false
	return true
}

// checkPassword reports whether user and password are the configured ones.
func (a *auth) checkPassword(user, password string) bool {
	if !a.hasPW {
		return false
	}
	du, dp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	u := subtle.ConstantTimeCompare(du[:], a.user[:])
	p := subtle.ConstantTimeCompare(dp[:], a.pass[:])
	return u&p == 1
}

// open starts a session and returns its identifier.
func (a *auth) open() string {
	id := randomString(32)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for k, s := range a.byID { // drop the expired ones
		if now.After(s.expires) {
			delete(a.byID, k)
		}
	}
	a.byID[sha256.Sum256([]byte(id))] = &session{csrf: randomString(32), expires: now.Add(a.ttl)}
	return id
}

// lookup returns the live session of r, or nil.
func (a *auth) lookup(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	key := sha256.Sum256([]byte(c.Value))
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.byID[key]
	if s == nil {
		return nil
	}
	if a.now().After(s.expires) {
		delete(a.byID, key)
		return nil
	}
	return s
}

// close ends the session of r, if any.
func (a *auth) close(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.byID, sha256.Sum256([]byte(c.Value)))
	}
}

// csrfOK reports whether the write r carries the session's CSRF token.
func csrfOK(r *http.Request, s *session) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && equal(got, s.csrf)
}

// setSecurityHeaders sets the headers every response carries: a strict
// Content-Security-Policy (scripts and styles from the console's own
// files only, no inline script, no framing), no MIME sniffing, no referrer
// (the sign-in URL carries the token) and no caching.
func setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}
