package console_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/etcd"
	"github.com/confo-go/confo/changelog"
	"github.com/confo-go/confo/console"
	"github.com/confo-go/confo/internal/embedetcd"
)

// The browser tests drive Debian's chromium (scripts/install-servers.sh
// installs it) with chromedp against a console over a real, in-process
// etcd. Set CONFO_CONSOLE_SCREENSHOTS to a directory to keep the
// screenshots of the main pages; they go to a temporary directory
// otherwise.

// browserTimeout bounds the whole browser test, startup included.
const browserTimeout = 3 * time.Minute

// waitTimeout bounds each wait for the page, generous for a loaded machine.
const waitTimeout = 30 * time.Second

// b64Revealer opens the test's "sealed" values: base64 after the prefix.
type b64Revealer struct{}

func (b64Revealer) Reveal(_ context.Context, _, _, _, _, sealed string) (any, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, console.SealedPrefix))
	return string(b), err
}

// twoInstances reports two instances of a namespace: one up to date with
// m, one at revision 1.
type twoInstances struct{ m *confo.Manager }

func (i twoInstances) Instances(_ context.Context, _, ns string) ([]console.Instance, error) {
	st, err := i.m.Status(ns)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return []console.Instance{{ID: "api-7f9c@10.0.3.17", Applied: st.Applied, Seen: now.Add(-3 * time.Second)},
		{ID: "worker-2a41@10.0.3.22", Applied: 1, Lag: st.Applied - 1, Seen: now.Add(-2 * time.Minute)}}, nil
}

// changeRecords reports the change records that the changelog layer keeps
// in the metadata of m's store.
type changeRecords struct{ m *confo.Manager }

func (c changeRecords) Changes(ctx context.Context, backend, ns, name string, revs []int64) (map[int64]console.Change, error) {
	b, err := c.m.Backend(backend)
	if err != nil {
		return nil, err
	}
	ms, ok := b.(confo.MetaStore)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	recs, err := changelog.Records(ctx, ms, ns, name)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]console.Change)
	for _, rev := range revs {
		if r, ok := changelog.MatchRevision(recs, name, rev); ok {
			out[rev] = console.Change{Author: r.Author, Message: r.Message, Time: r.Time}
		}
	}
	return out, nil
}

// browserEnv is a console over etcd open in a headless chromium.
type browserEnv struct {
	t       *testing.T
	url     string
	m       *confo.Manager // the console's
	other   *confo.Manager // another writer
	ctx     context.Context
	shots   string
	timeout time.Duration
}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: run scripts/install-servers.sh (Debian package chromium)")
	return ""
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	t.Cleanup(cancel)
	srv, err := embedetcd.Start(ctx, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Close)

	open := func() *confo.Manager {
		m := confo.New()
		t.Cleanup(func() { m.Close() })
		require.NoError(t, m.LoadBackend(ctx, "etcd", confo.EtcdBackend,
			confo.Credentials{"endpoints": srv.Endpoints(), "namespaces": []any{"database", "sales"}}))
		require.NoError(t, m.ActivateBackend("etcd"))
		require.NoError(t, m.UseNamespace(ctx, "database"))
		return m
	}
	e := &browserEnv{t: t, m: open(), timeout: waitTimeout}
	require.NoError(t, e.m.Set("mysql", map[string]any{"host": "db.internal", "port": 3306, "pool": map[string]any{"max": 20}}))
	require.NoError(t, e.m.Set("postgres", map[string]any{"host": "pg.internal", "port": 5432,
		"password": console.SealedPrefix + base64.StdEncoding.EncodeToString([]byte("hunter2"))}))
	require.NoError(t, e.m.Set("cache", map[string]any{"ttl": "30s"}))
	require.NoError(t, e.m.Persist(ctx))
	e.other = open()

	token := console.NewToken()
	h, err := console.New(e.m, console.Options{Token: token, Validator: rejectPort{},
		Revealer: b64Revealer{}, Instances: twoInstances{e.m}, Changes: changeRecords{e.m},
		Layers: []confo.Layer{changelog.Layer()}})
	require.NoError(t, err)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	e.url = hs.URL

	e.shots = os.Getenv("CONFO_CONSOLE_SCREENSHOTS")
	if e.shots == "" {
		e.shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(e.shots, 0o755))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 820),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	e.ctx = bctx
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(1366, 768), chromedp.Navigate("about:blank")), "start chromium")

	// 401 before signing in, in the browser too.
	resp, err := chromedp.Run(bctx, chromedp.NavigateResponse(e.url+"/b/etcd/ns/database/"))
	require.NoError(t, err)
	assert.EqualValues(t, http.StatusUnauthorized, resp.Status)
	e.waitVisible("#sign-in")
	e.do(chromedp.Navigate(e.url + "/login?token=" + token))
	e.waitVisible("table.list")
	return e
}

// do runs steps in the browser, failing the test on an error.
func (e *browserEnv) do(steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	require.NoError(e.t, chromedp.Do(ctx, steps...))
}

func (e *browserEnv) waitVisible(sel string) {
	e.t.Helper()
	e.do(chromedp.WaitVisible(sel))
}

// text returns the text of the first node sel matches.
func (e *browserEnv) text(sel string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	require.NoError(e.t, err, sel)
	return s
}

// until waits for the JavaScript predicate js to hold, across
// navigations (an evaluation that a navigation interrupts is retried).
func (e *browserEnv) until(js string) {
	e.t.Helper()
	deadline := time.Now().Add(e.timeout)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		var ok bool
		ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	body, _ := chromedp.Run(e.ctx, chromedp.Evaluate[string]("document.body.innerText"))
	e.t.Fatalf("waiting for %s (last error: %v)\npage: %s", js, err, body)
}

// setValue sets the value of the form field sel, as a paste would,
// without events (typing, with SendKeys, fires them).
func (e *browserEnv) setValue(sel, value string) chromedp.Action[chromedp.Void] {
	js, err := json.Marshal(value)
	require.NoError(e.t, err)
	sj, err := json.Marshal(sel)
	require.NoError(e.t, err)
	return chromedp.Evaluate[chromedp.Void]("document.querySelector(" + string(sj) + ").value = " + string(js))
}

// eval evaluates js and returns its value.
func eval[T any](e *browserEnv, js string) T {
	e.t.Helper()
	v, err := chromedp.Run(e.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(e.t, err, js)
	return v
}

// shot saves a screenshot of the viewport as name.png.
func (e *browserEnv) shot(name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(filepath.Join(e.shots, name+".png"), png, 0o644))
}

// write is the other writer: it changes one field of a configuration.
func (e *browserEnv) write(name, field string, value any) {
	e.t.Helper()
	require.NoError(e.t, e.other.Reload(e.ctx))
	require.NoError(e.t, e.other.SetField(name, field, value))
	require.NoError(e.t, e.other.Persist(e.ctx))
}

// stored reads a configuration from the store through the other writer.
func (e *browserEnv) stored(name string) map[string]any {
	e.t.Helper()
	require.NoError(e.t, e.other.Reload(e.ctx))
	v, err := e.other.Get(name)
	require.NoError(e.t, err)
	return v
}

func (e *browserEnv) openLive(path string) {
	e.t.Helper()
	e.do(chromedp.Navigate(e.url + path))
	e.until(`document.body.dataset.live === "1"`)
}

// TestBrowser walks through the console in chromium: sign in, browse,
// filter, edit and save, a validation error, the conflict flow with a
// second writer, live updates, reveal, history with a diff and rollback,
// and the refusals without a session (401) and without the CSRF token
// (403).
func TestBrowser(t *testing.T) {
	e := newBrowserEnv(t)
	const cfg = "/b/etcd/ns/database/c/mysql/"

	t.Run("browse", func(t *testing.T) {
		e.t = t
		assert.Contains(t, e.text("main"), "database")
		e.shot("home")
		e.do(chromedp.Click(`a[href="/b/etcd/ns/database/"]`))
		e.waitVisible("#configs")
		assert.Contains(t, e.text("#instances"), "worker-2a41")
		e.do(chromedp.SendKeys("#filter", "my"))
		e.until(`document.querySelectorAll("#configs tbody tr:not([hidden])").length === 1`)
		e.do(e.setValue("#filter", ""), chromedp.SendKeys("#filter", "s"))
		e.until(`document.querySelectorAll("#configs tbody tr:not([hidden])").length === 2`)
		e.shot("namespace")
	})

	t.Run("keyboard", func(t *testing.T) {
		e.t = t
		e.do(chromedp.Navigate(e.url + "/b/etcd/ns/database/"))
		e.waitVisible("#configs")
		e.do(chromedp.KeyEvent("/"))
		e.until(`document.activeElement.id === "filter"`)
		// DevTools sends the "/" character apart from its keydown, so it
		// lands in the field a real browser keeps it out of.
		e.do(e.setValue("#filter", ""))
		e.do(chromedp.KeyEvent("post"), chromedp.KeyEvent("\x1b")) // Escape leaves the field
		e.until(`document.querySelectorAll("#configs tbody tr:not([hidden])").length === 1`)
		e.until(`document.activeElement.id !== "filter"`)
		e.do(chromedp.KeyEvent("j"), chromedp.KeyEvent("\r"))
		e.until(`location.pathname.endsWith("/c/postgres/")`)
		e.waitVisible("#editor")
		e.do(chromedp.KeyEvent("e"))
		e.until(`document.activeElement.id === "editor"`)
		e.do(chromedp.KeyEvent("\x1b"), chromedp.KeyEvent("h"))
		e.until(`location.pathname.endsWith("/c/postgres/history")`)
	})

	t.Run("edit and save", func(t *testing.T) {
		e.t = t
		e.do(chromedp.Navigate(e.url + cfg))
		e.waitVisible("#editor")
		e.do(e.setValue("#editor", `{"host": "db2.internal", "port": 3306, "pool": {"max": 20}}`),
			chromedp.SendKeys("#message", "move to db2"), chromedp.Click("#save"))
		e.until(`(document.querySelector("#notice")||{}).textContent?.startsWith("Saved at revision")`)
		assert.Equal(t, "db2.internal", e.stored("mysql")["host"])
		assert.Contains(t, e.text("#view"), "db2.internal")
		e.shot("config")
	})

	t.Run("validation error", func(t *testing.T) {
		e.t = t
		e.do(chromedp.Navigate(e.url + cfg))
		e.waitVisible("#editor")
		// Typed: the page checks as the user types.
		e.do(e.setValue("#editor", `{"host": "db2.internal", "port": "x"`), chromedp.SendKeys("#editor", "}"))
		e.until(`document.querySelector("#problems").textContent.includes("/port: want a number")`)
		e.do(chromedp.SendKeys("#editor", ","))
		e.until(`document.querySelector("#problems").textContent.includes("not valid JSON")`)
		e.shot("validation")
		// And refused again on save.
		e.do(e.setValue("#editor", `{"port": "x"}`), chromedp.Click("#save"))
		e.until(`document.querySelector("#error") && document.querySelector("#problems").textContent.includes("/port: want a number")`)
		assert.EqualValues(t, 3306, e.stored("mysql")["port"], "nothing written")
	})

	t.Run("conflict", func(t *testing.T) {
		e.t = t
		e.openLive(cfg)
		e.do(e.setValue("#editor", `{"host": "db3.internal", "port": 3306, "pool": {"max": 20}}`))
		e.write("mysql", "port", 3310)
		e.until(`!document.querySelector("#remote").hidden`)
		assert.Contains(t, e.text("#remote"), "another writer")
		e.do(chromedp.Click("#save"))
		e.waitVisible("#conflict")
		assert.Contains(t, e.text("#conflict-diff"), "3310", "their change")
		e.shot("conflict")
		assert.Equal(t, "db2.internal", e.stored("mysql")["host"], "nothing written on conflict")
		// Re-apply: the editor holds the user's host over their port.
		e.do(chromedp.Click("#save"))
		e.until(`(document.querySelector("#notice")||{}).textContent?.startsWith("Saved at revision")`)
		v := e.stored("mysql")
		assert.Equal(t, "db3.internal", v["host"])
		assert.EqualValues(t, 3310, v["port"])
	})

	t.Run("live update", func(t *testing.T) {
		e.t = t
		e.openLive("/b/etcd/ns/database/")
		e.write("redis", "host", "cache.internal")
		e.until(`!!document.querySelector('#configs tr[data-name="redis"]')`)
		e.write("cache", "ttl", "45s")
		e.until(`document.querySelector('#configs tr[data-name="cache"]').textContent.includes("45s")`)

		e.openLive("/b/etcd/ns/database/c/postgres/")
		e.write("postgres", "host", "pg2.internal")
		e.until(`document.querySelector("#view").textContent.includes("pg2.internal")`)
		assert.Contains(t, e.text("#remote"), "Updated by another writer")
		assert.Equal(t, e.text("#revision"), e.text("#guard-revision"), "a save is guarded by the revision shown")
		e.shot("live")
	})

	t.Run("reveal", func(t *testing.T) {
		e.t = t
		assert.NotContains(t, e.text("#view"), "hunter2")
		e.do(chromedp.Click("#view button.sealed"))
		e.until(`document.querySelector("#view").textContent.includes("hunter2")`)
	})

	t.Run("history and rollback", func(t *testing.T) {
		e.t = t
		e.do(chromedp.Navigate(e.url + cfg + "history"))
		e.waitVisible("#versions")
		n := eval[int](e, `document.querySelectorAll("#versions tbody tr").length`)
		require.GreaterOrEqual(t, n, 4, "created, saved, their port, re-applied")
		first := eval[string](e, `document.querySelector("#versions tbody tr:last-child").dataset.rev`)
		assert.Contains(t, e.text("#versions"), "move to db2", "the change message of the save")
		e.do(chromedp.Click(`#versions tbody tr:last-child input[name="a"]`), chromedp.Click("#compare"))
		e.until(`!!document.querySelector("table#diff tr.add") && location.search.includes("a=` + first + `")`)
		assert.Contains(t, e.text("table#diff"), "db3.internal")
		e.shot("history")
		// Two clicks: the button asks for confirmation first.
		e.do(chromedp.Click("#rollback-" + first + "-button"))
		e.until(`document.querySelector("#rollback-` + first + `-button").textContent.includes("Confirm")`)
		e.do(chromedp.Click("#rollback-" + first + "-button"))
		e.until(`(document.querySelector("#notice")||{}).textContent?.startsWith("Rolled back")`)
		v := e.stored("mysql")
		assert.Equal(t, "db.internal", v["host"])
		assert.EqualValues(t, 3306, v["port"])
	})

	t.Run("delete with confirmation", func(t *testing.T) {
		e.t = t
		e.do(chromedp.Navigate(e.url + "/b/etcd/ns/database/c/cache/"))
		e.do(chromedp.Click("#delete-link"))
		e.waitVisible("#confirm-delete")
		e.do(chromedp.Click("#confirm-delete"))
		e.waitVisible("#configs")
		require.NoError(t, e.other.Reload(e.ctx))
		_, err := e.other.Get("cache")
		assert.True(t, errors.Is(err, confo.ErrConfigNotFound), "%v", err)
	})

	t.Run("refusals", func(t *testing.T) {
		e.t = t
		// A write from the signed-in page without the CSRF token.
		code := eval[int](e, `fetch("/b/etcd/ns/database/c/mysql/save", {method: "POST",
			body: new URLSearchParams({value: "{}", revision: "1"})}).then(r => r.status)`)
		assert.Equal(t, http.StatusForbidden, code)
		// Any request without the session.
		resp, err := http.Get(e.url + "/b/etcd/ns/database/c/mysql/json")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
}
