package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/console"
	"github.com/confo-go/confo/schema"
)

// TestSchemaLayer gives the console a schema layer: the page checks the
// editor's text against the configuration's schema as the user types
// (with no Validator), and a save that fails it is refused.
func TestSchemaLayer(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	_, err := schema.Wrap(b).Set(ctx, "db", "mysql", []byte(`{"type": "object",
		"properties": {"port": {"type": "integer", "maximum": 65535}}, "required": ["port"]}`))
	require.NoError(t, err)
	m := confo.New()
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", b))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.UseNamespace(ctx, "db"))
	require.NoError(t, m.Set("mysql", map[string]any{"port": 3306}))
	require.NoError(t, m.Persist(ctx))

	token := console.NewToken()
	h, err := console.New(m, console.Options{Token: token, Layers: []confo.Layer{schema.Layer()}})
	require.NoError(t, err)
	f := &fixture{m: m, token: token, srv: newServer(t, h)}
	c, csrf := f.signInAt(t, "/b/mem/ns/db/c/mysql/")

	validate := func(text string) string {
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/b/mem/ns/db/c/mysql/validate", strings.NewReader(text))
		require.NoError(t, err)
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		return string(body)
	}
	assert.Contains(t, validate(`{"port": 70000}`), "/port")
	assert.Contains(t, validate(`{"port": 3307}`), `"problems":[]`)

	page := f.get(t, c, "/b/mem/ns/db/c/mysql/", http.StatusOK)
	rev := regexp.MustCompile(`name="revision" id="edit-revision" value="(\d+)"`).FindStringSubmatch(page)[1]
	body, _ := f.post(t, c, "/b/mem/ns/db/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {rev},
		"value": {`{"port": "x"}`}}, http.StatusUnprocessableEntity)
	assert.Contains(t, body, "/port")
	f.post(t, c, "/b/mem/ns/db/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {rev},
		"value": {`{"port": 3307}`}}, http.StatusSeeOther)
}
