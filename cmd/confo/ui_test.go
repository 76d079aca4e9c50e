package main

import (
	"bufio"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/presence"
)

// lockedBuffer is a strings.Builder that a child process writes while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startUI runs confo ui against s and returns the sign-in link it prints
// and its stderr.
func startUI(t *testing.T, s *target, args ...string) (string, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append(append(append([]string{}, s.flags...), "ui"), args...)...)
	cmd.Env = childEnv(s.env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	link := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "open (one-time link): "); ok {
				link <- l
			}
		}
		close(link)
	}()
	select {
	case l, ok := <-link:
		require.True(t, ok, "confo ui ended: %s", stderr)
		return l, stderr
	case <-time.After(time.Minute):
		t.Fatalf("confo ui printed no link: %s", stderr)
	}
	return "", nil
}

func uiClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestUI serves the console on loopback, signs in once with the printed
// link, and checks that the link does not work twice, that requests
// without the session are refused and that --read-only refuses writes.
func TestUI(t *testing.T) {
	t.Parallel()
	s := etcdStore(t)
	s.ok("ns", "create", "database")
	s.ok("set", "database", "mysql", "host=db.internal", "port=3306")
	link, stderr := startUI(t, s, "--read-only")
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", u.Hostname(), "loopback by default")
	base := u.Scheme + "://" + u.Host + "/"
	token := u.Query().Get("token")
	require.Len(t, token, 43, "32 random bytes")

	code, _ := fetch(t, uiClient(t), http.MethodGet, base, nil)
	assert.Equal(t, http.StatusUnauthorized, code)

	c := uiClient(t)
	code, _ = fetch(t, c, http.MethodGet, link, nil)
	require.Equal(t, http.StatusSeeOther, code)
	code, page := fetch(t, c, http.MethodGet, base+"b/etcd/ns/database/c/mysql/", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "db.internal")
	assert.Contains(t, page, "read-only")
	csrf := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, csrf)
	code, _ = fetch(t, c, http.MethodPost, base+"b/etcd/ns/database/c/mysql/save",
		url.Values{"csrf": {csrf[1]}, "revision": {"1"}, "value": {`{"host":"x"}`}})
	assert.Equal(t, http.StatusForbidden, code, "read-only")

	// An instance of a service reports the namespace: the console lists it.
	svc := confo.New()
	t.Cleanup(func() { svc.Close() })
	require.NoError(t, svc.LoadBackend(t.Context(), "etcd", confo.EtcdBackend, confo.Credentials{
		"endpoints": strings.Split(etcdEndpoints, ","), "prefix": s.flags[len(s.flags)-1]}))
	require.NoError(t, svc.ActivateBackend("etcd"))
	require.NoError(t, svc.UseNamespace(t.Context(), "database"))
	rep, err := presence.Start(t.Context(), svc, presence.Instance{ID: "web-1"}, presence.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { rep.Close(context.Background()) })
	code, page = fetch(t, c, http.MethodGet, base+"b/etcd/ns/database/", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `(?s)id="instances".*web-1`, page)

	code, _ = fetch(t, uiClient(t), http.MethodGet, link, nil)
	assert.Equal(t, http.StatusUnauthorized, code, "the link works once")
	assert.NotContains(t, stderr.String(), token, "the token is printed once, on stdout, and never logged")
}

// TestUIReveal opens a sealed field through the console of confo ui given
// an identity; without one, the field stays masked.
func TestUIReveal(t *testing.T) {
	t.Parallel()
	s := etcdStore(t)
	key, recipient := keygen(t, s, t.TempDir(), "key.txt")
	s.ok("ns", "create", "database")
	s.ok("recipients", "add", "database", recipient)
	s.ok("set", "database", "mysql", "host=db.internal")
	r := s.runIn(cliSecret+"\n", "seal", "database", "mysql", "password=-")
	require.Equal(t, 0, r.code, r.stderr)

	link, _ := startUI(t, s, "--identity", key)

	u, err := url.Parse(link)
	require.NoError(t, err)
	base := u.Scheme + "://" + u.Host + "/"
	c := uiClient(t)
	code, _ := fetch(t, c, http.MethodGet, link, nil)
	require.Equal(t, http.StatusSeeOther, code)
	code, page := fetch(t, c, http.MethodGet, base+"b/etcd/ns/database/c/mysql/", nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, page, cliSecret)
	assert.Contains(t, page, `data-ptr="/password"`)
	csrf := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, csrf)
	code, body := fetch(t, c, http.MethodPost, base+"b/etcd/ns/database/c/mysql/reveal",
		url.Values{"csrf": {csrf[1]}, "ptr": {"/password"}})
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, cliSecret)

	// A save keeps the field sealed, and its message is in the history.
	rev := regexp.MustCompile(`name="revision" id="edit-revision" value="(\d+)"`).FindStringSubmatch(page)
	text := regexp.MustCompile(`(?s)<textarea id="editor"[^>]*>(.*?)</textarea>`).FindStringSubmatch(page)
	require.NotNil(t, rev)
	require.NotNil(t, text)
	value := strings.Replace(html.UnescapeString(text[1]), "db.internal", "db2.internal", 1)
	code, body = fetch(t, c, http.MethodPost, base+"b/etcd/ns/database/c/mysql/save",
		url.Values{"csrf": {csrf[1]}, "revision": {rev[1]}, "value": {value}, "message": {"move to db2"}})
	require.Equal(t, http.StatusSeeOther, code, body)
	code, body = fetch(t, c, http.MethodGet, base+"b/etcd/ns/database/c/mysql/history", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "move to db2")
	assert.Equal(t, cliSecret+"\n", s.ok("get", "database", "mysql", "password", "--reveal", "-i", key))
	assert.Contains(t, s.ok("get", "database", "mysql"), "db2.internal")
}

// TestUIPassword signs in with the user and password from the environment,
// as many times as needed, while a wrong password is refused.
func TestUIPassword(t *testing.T) {
	t.Parallel()
	s := etcdStore(t)
	s.ok("ns", "create", "database")
	s.env = append(s.env, "CONFO_UI_USER=ops", "CONFO_UI_PASSWORD=pw-from-env-123")
	link, stderr := startUI(t, s)
	u, err := url.Parse(link)
	require.NoError(t, err)
	base := u.Scheme + "://" + u.Host + "/"
	for range 2 {
		c := uiClient(t)
		code, _ := fetch(t, c, http.MethodPost, base+"login", url.Values{"user": {"ops"}, "password": {"pw-from-env-123"}})
		require.Equal(t, http.StatusSeeOther, code)
		code, page := fetch(t, c, http.MethodGet, base, nil)
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, page, "database")
	}
	code, _ := fetch(t, uiClient(t), http.MethodPost, base+"login", url.Values{"user": {"ops"}, "password": {"wrong"}})
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.NotContains(t, stderr.String(), "pw-from-env-123")
}
