package etcd_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/etcd"
)

// TestAuthConfoRole runs against a cluster with auth enabled, where user app
// holds a role covering exactly the Confo prefix ("/confo/" up to
// "/confo0"): everything Confo does under /confo works, namespace markers
// included, a key outside the role is a permission error naming the key, a
// wrong password is an authentication error, and the password appears in no
// error, no log line and no formatting of the credentials.
func TestAuthConfoRole(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	admin := rawClient(t, c)
	const rootPassword, password = "r00t-S3cret-pw", "app-S3cret-pw-4711"
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", rootPassword); return err },
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "confo"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "confo", "/confo/", "/confo0", clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "app", password); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "app", "confo"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		require.NoError(t, step())
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error // every error seen, checked for the password at the end
	creds := func(user, pw, prefix string) confo.Credentials {
		return confo.Credentials{"endpoints": c.Endpoints(), "user": user, "password": pw, "prefix": prefix, "dial_timeout": "2s"}
	}
	load := func(t *testing.T, cr confo.Credentials) (*confo.Manager, error) {
		m := confo.New(confo.WithLogger(logger))
		t.Cleanup(func() { m.Close() })
		err := m.LoadBackend(ctx, "etcd", confo.EtcdBackend, cr)
		if err == nil {
			require.NoError(t, m.ActivateBackend("etcd"))
		} else {
			errs = append(errs, err)
		}
		return m, err
	}

	t.Run("UserPassword", func(t *testing.T) {
		m, err := load(t, creds("app", password, "/confo"))
		require.NoError(t, err)
		require.NoError(t, m.CreateNamespace(ctx, "sales"))
		require.NoError(t, m.CreateNamespace(ctx, "analytics"))
		ns, err := m.GetNamespaces(ctx)
		require.NoError(t, err, "markers at /confo//<ns> are inside /confo/")
		assert.Equal(t, []string{"analytics", "sales"}, ns.All)
		require.NoError(t, m.UseNamespace(ctx, "sales"))
		require.NoError(t, m.Set("mysql", map[string]any{"host": "db", "port": 3306}))
		require.NoError(t, m.Persist(ctx))
		require.NoError(t, m.Reload(ctx))
		require.NoError(t, m.Delete("mysql"))
		require.NoError(t, m.Persist(ctx))
		require.NoError(t, m.Set("mysql", map[string]any{"host": "db2"}))
		require.NoError(t, m.Persist(ctx))

		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		events, err := m.Watch(wctx, "sales")
		require.NoError(t, err, "watch under auth")
		other, err := load(t, creds("app", password, "/confo"))
		require.NoError(t, err)
		require.NoError(t, other.UseNamespace(ctx, "sales"))
		require.NoError(t, other.SetField("mysql", "port", 3307))
		require.NoError(t, other.Persist(ctx))
		select {
		case ev := <-events:
			assert.Equal(t, "mysql", ev.Name)
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event under auth")
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		start := time.Now()
		_, err := load(t, creds("app", "not-"+password, "/confo"))
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
		assert.Contains(t, err.Error(), "authenticate")
		assert.Contains(t, err.Error(), c.Endpoints()[0])
		assert.Less(t, time.Since(start), 10*time.Second)
		t.Log(err)
	})

	t.Run("UnknownUser", func(t *testing.T) {
		_, err := load(t, creds("nobody", password, "/confo"))
		require.ErrorIs(t, err, confo.ErrInvalidCredentials)
		t.Log(err)
	})

	t.Run("PrefixOutsideRole", func(t *testing.T) {
		_, err := load(t, creds("app", password, "/other"))
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
		assert.Contains(t, err.Error(), "/other/", "names the key it could not read")
		t.Log(err)
	})

	t.Run("KeyOutsideRole", func(t *testing.T) {
		// Root creates a namespace under /other; app, connected under
		// /confo, cannot reach it through a second backend.
		m, err := load(t, creds("root", rootPassword, "/other"))
		require.NoError(t, err)
		require.NoError(t, m.CreateNamespace(ctx, "ns"))
		require.NoError(t, m.UseNamespace(ctx, "ns"))
		require.NoError(t, m.Set("db", map[string]any{"host": "h"}))
		require.NoError(t, m.Persist(ctx))

		app, err := load(t, creds("app", password, "/confo"))
		require.NoError(t, err)
		// A backend built by hand on app's client with the other prefix.
		b, err := app.Backend("etcd")
		require.NoError(t, err)
		cli := b.(*etcd.Backend).Client()
		_, err = cli.Get(ctx, "/other/ns/db")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "the role does not reach /other")

		outside := etcd.NewFromClient(cli, etcd.Config{Prefix: "/other"})
		require.NoError(t, app.AddBackend("outside", outside))
		require.NoError(t, app.ActivateBackend("outside"))
		err = app.UseNamespace(ctx, "ns")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
		assert.Contains(t, err.Error(), "/other/ns/")
		errs = append(errs, err)
		err = app.CreateNamespace(ctx, "new")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
		assert.Contains(t, err.Error(), "/other//new")
		errs = append(errs, err)
		t.Log(err)
	})

	t.Run("PasswordNeverShown", func(t *testing.T) {
		cr := creds("app", password, "/confo")
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out := fmt.Sprintf(verb, cr)
			assert.NotContains(t, out, password, "fmt %s", verb)
			assert.NotContains(t, strings.ToLower(out), fmt.Sprintf("%x", password), "fmt %s", verb)
		}
		for _, wrapped := range []any{&cr, []confo.Credentials{cr}, map[string]confo.Credentials{"etcd": cr}, struct{ C confo.Credentials }{cr}} {
			assert.NotContains(t, fmt.Sprintf("%v %+v %#v", wrapped, wrapped, wrapped), password, "inside %T", wrapped)
		}
		cfg, err := etcd.ParseCredentials(cr)
		require.NoError(t, err)
		require.Equal(t, password, cfg.Password)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			assert.NotContains(t, fmt.Sprintf(verb, cfg), password, "etcd.Config with %s", verb)
			assert.NotContains(t, fmt.Sprintf(verb, &cfg), password, "*etcd.Config with %s", verb)
		}
		logger.Info("config", "cfg", cfg)
		logger.Info("loading", "credentials", cr)
		logger.Debug("loading", slog.Any("credentials", cr), slog.Group("g", "c", cr))

		require.NotEmpty(t, errs)
		for _, err := range errs {
			for _, verb := range []string{"%v", "%+v", "%#v"} {
				assert.NotContains(t, fmt.Sprintf(verb, err), password, "error %v", err)
				assert.NotContains(t, fmt.Sprintf(verb, err), rootPassword, "error %v", err)
			}
		}
		require.NotZero(t, logs.Len(), "the manager logged at debug level")
		assert.NotContains(t, logs.String(), password)
		assert.NotContains(t, logs.String(), rootPassword)
		t.Logf("%d errors and %d bytes of JSON logs checked", len(errs), logs.Len())
	})
}
