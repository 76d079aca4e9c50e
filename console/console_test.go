package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/console"
)

// fixture is a console over a memory backend, served by httptest.
type fixture struct {
	m     *confo.Manager
	srv   *httptest.Server
	token string
	logs  *bytes.Buffer
}

// newFixture returns a console over a manager whose backend "mem" holds
// namespace "database" with "mysql" and "postgres".
func newFixture(t testing.TB, opts console.Options) *fixture {
	t.Helper()
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", memory.New()))
	require.NoError(t, m.ActivateBackend("mem"))
	ctx := context.Background()
	require.NoError(t, m.CreateNamespace(ctx, "database"))
	require.NoError(t, m.UseNamespace(ctx, "database"))
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db.internal", "port": 3306}))
	require.NoError(t, m.Set("postgres", map[string]any{"host": "pg.internal", "password": console.SealedPrefix + "age1abc"}))
	require.NoError(t, m.Persist(ctx))

	f := &fixture{m: m, logs: &bytes.Buffer{}}
	if opts.Token == "" && opts.User == "" {
		opts.Token = console.NewToken()
	}
	f.token = opts.Token
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	h, err := console.New(m, opts)
	require.NoError(t, err)
	f.srv = newServer(t, h)
	return f
}

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// client returns an HTTP client with a cookie jar that follows no
// redirect.
func (f *fixture) client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn exchanges the token for a session and returns the client and
// the session's CSRF token.
func (f *fixture) signIn(t testing.TB) (*http.Client, string) {
	t.Helper()
	return f.signInAt(t, "/b/mem/ns/database/c/mysql/")
}

// signInAt is signIn, reading the CSRF token from the page at path.
func (f *fixture) signInAt(t testing.TB, path string) (*http.Client, string) {
	t.Helper()
	c := f.client(t)
	resp, err := c.Get(f.srv.URL + "/login?token=" + url.QueryEscape(f.token))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	body := f.get(t, c, path, http.StatusOK)
	m := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "the page names the CSRF token")
	return c, m[1]
}

func (f *fixture) get(t testing.TB, c *http.Client, path string, want int) string {
	t.Helper()
	resp, err := c.Get(f.srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "GET %s: %s", path, b)
	return string(b)
}

func (f *fixture) post(t testing.TB, c *http.Client, path string, form url.Values, want int) (string, *http.Response) {
	t.Helper()
	resp, err := c.PostForm(f.srv.URL+path, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "POST %s: %s", path, b)
	return string(b), resp
}

func TestRequestsWithoutSessionRefused(t *testing.T) {
	f := newFixture(t, console.Options{})
	c := f.client(t)
	for _, path := range []string{"/", "/b/mem/ns/database/", "/b/mem/ns/database/c/mysql/",
		"/b/mem/ns/database/c/mysql/json", "/b/mem/ns/database/events", "/b/mem/ns/database/c/mysql/history"} {
		body := f.get(t, c, path, http.StatusUnauthorized)
		assert.NotContains(t, body, "db.internal", path)
	}
	f.post(t, c, "/b/mem/ns/database/c/mysql/save", url.Values{"value": {`{}`}, "revision": {"1"}}, http.StatusUnauthorized)
	// A forged cookie is no session.
	u, _ := url.Parse(f.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "confo_session", Value: "forged"}})
	f.get(t, c, "/", http.StatusUnauthorized)
}

func TestTokenIsOneTime(t *testing.T) {
	f := newFixture(t, console.Options{})
	f.signIn(t)
	c := f.client(t)
	resp, err := c.Get(f.srv.URL + "/login?token=" + url.QueryEscape(f.token))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a spent token opens no second session")
}

func TestSessionCookieFlags(t *testing.T) {
	f := newFixture(t, console.Options{})
	resp, err := f.client(t).Get(f.srv.URL + "/login?token=" + url.QueryEscape(f.token))
	require.NoError(t, err)
	resp.Body.Close()
	cookies := resp.Cookies()
	require.Len(t, cookies, 1)
	assert.True(t, cookies[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookies[0].SameSite)
	assert.Equal(t, "/", resp.Header.Get("Location"), "the token leaves the address bar")
}

func TestWriteWithoutCSRFRefused(t *testing.T) {
	f := newFixture(t, console.Options{})
	c, csrf := f.signIn(t)
	form := url.Values{"value": {`{"host":"evil"}`}, "revision": {"1"}}
	f.post(t, c, "/b/mem/ns/database/c/mysql/save", form, http.StatusForbidden)
	form.Set("csrf", "wrong"+csrf)
	f.post(t, c, "/b/mem/ns/database/c/mysql/save", form, http.StatusForbidden)
	f.post(t, c, "/b/mem/ns/database/c/mysql/delete", url.Values{"revision": {"1"}}, http.StatusForbidden)
	f.post(t, c, "/b/mem/ns/database/c/mysql/rollback", url.Values{"revision": {"1"}}, http.StatusForbidden)
	v, err := f.m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, "db.internal", v["host"], "nothing was written")
}

func TestCrossOriginWriteRefused(t *testing.T) {
	f := newFixture(t, console.Options{})
	c, csrf := f.signIn(t)
	for _, path := range []string{"/login", "/b/mem/ns/database/c/mysql/save"} {
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+path,
			strings.NewReader(url.Values{"csrf": {csrf}, "revision": {"1"}, "value": {`{}`}, "token": {f.token}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, console.Options{})
	for _, path := range []string{"/login", "/", "/static/app.js"} {
		resp, err := f.client(t).Get(f.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", path)
		assert.NotContains(t, csp, "unsafe-inline", path)
		assert.Contains(t, csp, "frame-ancestors 'none'", path)
		assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
}

func TestNoInlineScript(t *testing.T) {
	f := newFixture(t, console.Options{})
	c, _ := f.signIn(t)
	for _, path := range []string{"/", "/b/mem/ns/database/", "/b/mem/ns/database/c/mysql/",
		"/b/mem/ns/database/c/mysql/history", "/b/mem/ns/database/c/mysql/delete"} {
		body := f.get(t, c, path, http.StatusOK)
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			assert.Contains(t, m, "src=", "inline script in %s", path)
		}
		assert.NotRegexp(t, `\son[a-z]+=`, body, "inline handler in %s", path)
	}
}

func TestLoginRateLimited(t *testing.T) {
	f := newFixture(t, console.Options{User: "ops", Password: "s3cret-pw", LoginLimit: 3})
	c := f.client(t)
	for range 3 {
		f.post(t, c, "/login", url.Values{"user": {"ops"}, "password": {"wrong"}}, http.StatusUnauthorized)
	}
	f.post(t, c, "/login", url.Values{"user": {"ops"}, "password": {"wrong"}}, http.StatusTooManyRequests)
	// Even the right password waits out the limit.
	f.post(t, c, "/login", url.Values{"user": {"ops"}, "password": {"s3cret-pw"}}, http.StatusTooManyRequests)
}

func TestPasswordSignIn(t *testing.T) {
	f := newFixture(t, console.Options{User: "ops", Password: "s3cret-pw"})
	c := f.client(t)
	f.post(t, c, "/login", url.Values{"user": {"ops"}, "password": {"s3cret-pw"}}, http.StatusSeeOther)
	body := f.get(t, c, "/", http.StatusOK)
	assert.Contains(t, body, "database")
	f.post(t, f.client(t), "/login", url.Values{"user": {"ops"}, "password": {"s3cret-p"}}, http.StatusUnauthorized)
}

func TestNoSecretInPagesOrLog(t *testing.T) {
	f := newFixture(t, console.Options{Token: "tok-" + strings.Repeat("x", 40), User: "ops", Password: "pw-" + strings.Repeat("y", 40)})
	c, _ := f.signIn(t)
	var pages strings.Builder
	for _, path := range []string{"/", "/b/mem/ns/database/", "/b/mem/ns/database/c/mysql/", "/b/mem/ns/database/c/postgres/"} {
		pages.WriteString(f.get(t, c, path, http.StatusOK))
	}
	pages.WriteString(f.get(t, f.client(t), "/login", http.StatusOK))
	f.post(t, f.client(t), "/login", url.Values{"user": {"ops"}, "password": {"pw-wrong"}}, http.StatusUnauthorized)
	u, _ := url.Parse(f.srv.URL)
	session := c.Jar.Cookies(u)[0].Value
	for what, secret := range map[string]string{"token": f.token, "password": "pw-" + strings.Repeat("y", 40), "session": session} {
		assert.False(t, strings.Contains(pages.String(), secret), "a page shows the %s", what)
		assert.False(t, strings.Contains(f.logs.String(), secret), "the log shows the %s", what)
	}
	assert.Contains(t, f.logs.String(), "path=/login", "the log has the requests, without their query")
	view := regexp.MustCompile(`(?s)<pre class="json" id="view".*?</pre>`).FindString(f.get(t, c, "/b/mem/ns/database/c/postgres/", http.StatusOK))
	assert.Contains(t, view, "sealed")
	assert.NotContains(t, view, "age1abc", "a sealed value is masked in the view")
}

func TestSaveGuardedByRevision(t *testing.T) {
	f := newFixture(t, console.Options{})
	c, csrf := f.signIn(t)
	page := f.get(t, c, "/b/mem/ns/database/c/mysql/", http.StatusOK)
	rev := regexp.MustCompile(`name="revision" id="edit-revision" value="(\d+)"`).FindStringSubmatch(page)[1]

	// Another writer changes the port.
	require.NoError(t, f.m.SetField("mysql", "port", 3307))
	require.NoError(t, f.m.Persist(t.Context()))

	base := "{\n  \"host\": \"db.internal\",\n  \"port\": 3306\n}"
	form := url.Values{"csrf": {csrf}, "revision": {rev}, "base": {base}, "message": {"move host"},
		"value": {`{"host": "db2.internal", "port": 3306}`}}
	body, _ := f.post(t, c, "/b/mem/ns/database/c/mysql/save", form, http.StatusConflict)
	assert.Contains(t, body, `id="conflict-diff"`)
	assert.Contains(t, body, "3307", "their change is shown")
	// The editor holds the user's change re-applied onto theirs.
	newRev := regexp.MustCompile(`name="revision" id="edit-revision" value="(\d+)"`).FindStringSubmatch(body)[1]
	assert.NotEqual(t, rev, newRev)
	require.NoError(t, f.m.Reload(t.Context()))
	v, _ := f.m.Get("mysql")
	assert.Equal(t, "db.internal", v["host"], "nothing written on conflict")

	form.Set("revision", newRev)
	form.Set("value", `{"host": "db2.internal", "port": 3307}`)
	_, resp := f.post(t, c, "/b/mem/ns/database/c/mysql/save", form, http.StatusSeeOther)
	assert.Contains(t, resp.Header.Get("Location"), "?saved=")
	require.NoError(t, f.m.Reload(t.Context()))
	v, _ = f.m.Get("mysql")
	assert.Equal(t, "db2.internal", v["host"])
	assert.EqualValues(t, 3307, v["port"])
}

type rejectPort struct{}

func (rejectPort) Validate(_ context.Context, _, _, _ string, v map[string]any) error {
	if _, ok := v["port"].(string); ok {
		return errors.New("/port: want a number")
	}
	return nil
}

func TestValidation(t *testing.T) {
	f := newFixture(t, console.Options{Validator: rejectPort{}})
	c, csrf := f.signIn(t)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/b/mem/ns/database/c/mysql/validate", strings.NewReader(`{"port":"x"}`))
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "/port: want a number")

	body, _ := f.post(t, c, "/b/mem/ns/database/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {"1"},
		"value": {`{"port":"x"}`}}, http.StatusUnprocessableEntity)
	assert.Contains(t, body, "/port: want a number")
	f.post(t, c, "/b/mem/ns/database/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {"1"},
		"value": {`[1]`}}, http.StatusUnprocessableEntity)
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t, console.Options{ReadOnly: true})
	c, csrf := f.signIn(t)
	page := f.get(t, c, "/b/mem/ns/database/c/mysql/", http.StatusOK)
	assert.NotContains(t, page, `id="editor"`)
	f.post(t, c, "/b/mem/ns/database/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {"1"}, "value": {`{}`}}, http.StatusForbidden)
	f.post(t, c, "/b/mem/ns/database/c/mysql/delete", url.Values{"csrf": {csrf}, "revision": {"1"}}, http.StatusForbidden)
	f.post(t, c, "/b/mem/ns/database/c/mysql/rollback", url.Values{"csrf": {csrf}, "revision": {"1"}}, http.StatusForbidden)
}

func TestDeleteAndRollback(t *testing.T) {
	f := newFixture(t, console.Options{})
	c, csrf := f.signIn(t)
	page := f.get(t, c, "/b/mem/ns/database/c/mysql/delete", http.StatusOK)
	rev := regexp.MustCompile(`name="revision" value="(\d+)"`).FindStringSubmatch(page)[1]
	f.post(t, c, "/b/mem/ns/database/c/mysql/delete", url.Values{"csrf": {csrf}, "revision": {rev}}, http.StatusSeeOther)
	f.get(t, c, "/b/mem/ns/database/c/mysql/", http.StatusNotFound)
	f.post(t, c, "/b/mem/ns/database/c/mysql/rollback", url.Values{"csrf": {csrf}, "revision": {rev}}, http.StatusSeeOther)
	body := f.get(t, c, "/b/mem/ns/database/c/mysql/", http.StatusOK)
	assert.Contains(t, body, "db.internal")
}

func TestNamespaceDoesNotMoveTheManagersNamespace(t *testing.T) {
	f := newFixture(t, console.Options{})
	require.NoError(t, f.m.CreateNamespace(t.Context(), "sales"))
	c, _ := f.signIn(t)
	f.get(t, c, "/b/mem/ns/sales/", http.StatusOK)
	assert.Equal(t, "database", f.m.Namespace())
}

func TestNamespaceFilter(t *testing.T) {
	f := newFixture(t, console.Options{})
	c, _ := f.signIn(t)
	body := f.get(t, c, "/b/mem/ns/database/?q=post", http.StatusOK)
	assert.Contains(t, body, `data-name="postgres"`)
	assert.NotContains(t, body, `data-name="mysql"`)
}

// BenchmarkNamespacePage renders a namespace of 1,000 configurations (the
// console's target: under 100 ms on the server), beside its baseline, the
// Manager loading the same namespace.
func BenchmarkNamespacePage(b *testing.B) {
	f := newFixture(b, console.Options{})
	ctx := context.Background()
	require.NoError(b, f.m.CreateNamespace(ctx, "big"))
	require.NoError(b, f.m.UseNamespace(ctx, "big"))
	for i := range 1000 {
		require.NoError(b, f.m.Set(fmt.Sprintf("service-%04d", i), map[string]any{
			"host": fmt.Sprintf("10.0.%d.%d", i/256, i%256), "port": 8000 + i, "enabled": i%2 == 0,
			"tags": []any{"a", "b"}, "timeout": "5s"}))
	}
	require.NoError(b, f.m.Persist(ctx))
	b.Run("baseline=load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := confo.New()
			bk, _ := f.m.Backend("mem")
			require.NoError(b, m.AddBackend("mem", bk))
			require.NoError(b, m.ActivateBackend("mem"))
			require.NoError(b, m.UseNamespace(ctx, "big"))
			if _, err := m.GetAll(); err != nil {
				b.Fatal(err)
			}
		}
	})
	c, _ := f.signIn(b)
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(f.srv.URL + "/b/mem/ns/big/")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatal(resp.Status)
			}
		}
	})
}

func TestBasePath(t *testing.T) {
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", memory.New()))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.CreateNamespace(t.Context(), "database"))
	token := console.NewToken()
	h, err := console.New(m, console.Options{Token: token, BasePath: "/confo/"})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/confo/", h)
	f := &fixture{m: m, token: token, srv: newServer(t, mux)}
	c := f.client(t)
	resp, err := c.Get(f.srv.URL + "/confo/login?token=" + url.QueryEscape(token))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/confo/", resp.Header.Get("Location"))
	assert.Equal(t, "/confo/", resp.Cookies()[0].Path)
	body := f.get(t, c, "/confo/", http.StatusOK)
	assert.Contains(t, body, `href="/confo/b/mem/ns/database/"`)
	assert.Contains(t, body, `src="/confo/static/app.js"`)
	f.get(t, c, "/confo/b/mem/ns/database/", http.StatusOK)
	f.get(t, c, "/confo/static/app.css", http.StatusOK)
	_, err = console.New(m, console.Options{Token: token, BasePath: "confo"})
	assert.Error(t, err)
	_, err = console.New(m, console.Options{})
	assert.ErrorIs(t, err, console.ErrNoSignIn)
}
