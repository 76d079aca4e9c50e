package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
	"github.com/confo-go/confo/console"
	"github.com/confo-go/confo/seal"
)

// TestSealedFieldsStayMasked mounts the console beside a service whose
// Manager opens sealed fields: with a seal layer without identities in
// Options.Layers, no page shows the plaintext, and a save through the
// editor (which holds the envelope) keeps the field sealed.
func TestSealedFieldsStayMasked(t *testing.T) {
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	b := memory.New()
	require.NoError(t, b.CreateNamespace(ctx, "db"))
	require.NoError(t, seal.Wrap(b).SetRecipients(ctx, "db", []string{id.Recipient().String()}, 0))
	m := confo.New(confo.WithLayers(seal.Layer(id)))
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.AddBackend("mem", b))
	require.NoError(t, m.ActivateBackend("mem"))
	require.NoError(t, m.UseNamespace(ctx, "db"))
	require.NoError(t, m.Set("mysql", map[string]any{"host": "db.internal", "password": seal.Secret("hunter2")}))
	require.NoError(t, m.Persist(ctx))

	token := console.NewToken()
	h, err := console.New(m, console.Options{Token: token, Layers: []confo.Layer{seal.Layer()}})
	require.NoError(t, err)
	f := &fixture{m: m, token: token}
	f.srv = newServer(t, h)
	c, csrf := f.signInAt(t, "/b/mem/ns/db/c/mysql/")
	var all string
	for _, path := range []string{"/b/mem/ns/db/", "/b/mem/ns/db/c/mysql/", "/b/mem/ns/db/c/mysql/history", "/b/mem/ns/db/c/mysql/json"} {
		all += f.get(t, c, path, http.StatusOK)
	}
	assert.NotContains(t, all, "hunter2")
	assert.Contains(t, all, "sealed")

	page := f.get(t, c, "/b/mem/ns/db/c/mysql/", http.StatusOK)
	rev := regexp.MustCompile(`name="revision" id="edit-revision" value="(\d+)"`).FindStringSubmatch(page)[1]
	editor := regexp.MustCompile(`(?s)<textarea id="editor"[^>]*>(.*?)</textarea>`).FindStringSubmatch(page)
	require.NotNil(t, editor)
	text := html.UnescapeString(editor[1])
	require.Contains(t, text, seal.Prefix, "the editor holds the envelope")
	f.post(t, c, "/b/mem/ns/db/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {rev},
		"value": {strings.Replace(text, "db.internal", "db2.internal", 1)}}, http.StatusSeeOther)
	require.NoError(t, m.Reload(ctx))
	v, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, "db2.internal", v["host"])
	assert.Equal(t, "hunter2", v["password"], "still sealed, and opens")

	// A plain value over the sealed field is refused, not stored in clear.
	page = f.get(t, c, "/b/mem/ns/db/c/mysql/", http.StatusOK)
	rev = regexp.MustCompile(`name="revision" id="edit-revision" value="(\d+)"`).FindStringSubmatch(page)[1]
	resp, err := c.PostForm(f.srv.URL+"/b/mem/ns/db/c/mysql/save", url.Values{"csrf": {csrf}, "revision": {rev},
		"value": {`{"host": "db2.internal", "password": "plain"}`}})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.NotEqual(t, http.StatusSeeOther, resp.StatusCode)
	assert.Contains(t, string(body), "plain value for a sealed field", "the editor says why")
	assert.Contains(t, string(body), `id="editor"`)
	require.NoError(t, m.Reload(ctx))
	v, err = m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, "hunter2", v["password"])
}
