package confo_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
)

func TestManagerConfigErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		do      func(ctx context.Context, m *confo.Manager) error
		wantErr error
		names   []string
	}{
		"Get present": {
			do: func(ctx context.Context, m *confo.Manager) error { _, err := m.Get("mysql"); return err },
		},
		"Get missing": {
			do:      func(ctx context.Context, m *confo.Manager) error { _, err := m.Get("redis"); return err },
			wantErr: confo.ErrConfigNotFound, names: []string{`"redis"`, `"database"`},
		},
		"GetField missing config": {
			do:      func(ctx context.Context, m *confo.Manager) error { _, err := m.GetField("redis", "host"); return err },
			wantErr: confo.ErrConfigNotFound, names: []string{`"redis"`},
		},
		"GetField missing field": {
			do:      func(ctx context.Context, m *confo.Manager) error { _, err := m.GetField("mysql", "user"); return err },
			wantErr: confo.ErrFieldNotFound, names: []string{`"mysql"`, `"user"`},
		},
		"GetField empty field": {
			do:      func(ctx context.Context, m *confo.Manager) error { _, err := m.GetField("mysql", ""); return err },
			wantErr: confo.ErrFieldNotFound, names: []string{`"mysql"`},
		},
		"Decode missing": {
			do:      func(ctx context.Context, m *confo.Manager) error { var c dbConfig; return m.Decode("redis", &c) },
			wantErr: confo.ErrConfigNotFound, names: []string{`"redis"`},
		},
		"Delete missing": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.Delete("redis") },
			wantErr: confo.ErrConfigNotFound, names: []string{`"redis"`, `"database"`},
		},
		"Delete twice": {
			do: func(ctx context.Context, m *confo.Manager) error {
				if err := m.Delete("mysql"); err != nil {
					return err
				}
				return m.Delete("mysql")
			},
			wantErr: confo.ErrConfigNotFound, names: []string{`"mysql"`},
		},
		"Get deleted": {
			do: func(ctx context.Context, m *confo.Manager) error {
				if err := m.Delete("mysql"); err != nil {
					return err
				}
				_, err := m.Get("mysql")
				return err
			},
			wantErr: confo.ErrConfigNotFound, names: []string{`"mysql"`},
		},
		"PersistConfig missing": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.PersistConfig(ctx, "database", "redis") },
			wantErr: confo.ErrConfigNotFound, names: []string{`"redis"`, `"database"`},
		},
		"SetField empty field": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.SetField("mysql", "", 1) },
			wantErr: confo.ErrInvalidName, names: []string{`"mysql"`},
		},
		"SetField invalid UTF-8 field": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.SetField("mysql", "a\xffb", 1) },
			wantErr: confo.ErrInvalidName, names: []string{`"mysql"`, `"a\xffb"`},
		},
		"Set NaN": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.Set("bad", map[string]any{"x": nan()}) },
			wantErr: confo.ErrInvalidValue, names: []string{`"bad"`},
		},
		"Set nested NaN": {
			do: func(ctx context.Context, m *confo.Manager) error {
				return m.Set("bad", map[string]any{"x": []any{map[string]any{"y": nan()}}})
			},
			wantErr: confo.ErrInvalidValue, names: []string{`"bad"`},
		},
		"Set Inf": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.Set("bad", map[string]any{"x": inf()}) },
			wantErr: confo.ErrInvalidValue, names: []string{`"bad"`},
		},
		"Set channel": {
			do: func(ctx context.Context, m *confo.Manager) error {
				return m.Set("bad", map[string]any{"x": make(chan int)})
			},
			wantErr: confo.ErrInvalidValue, names: []string{`"bad"`},
		},
		"Set cycle": {
			do: func(ctx context.Context, m *confo.Manager) error {
				cycle := map[string]any{}
				cycle["self"] = cycle
				return m.Set("bad", map[string]any{"x": cycle})
			},
			wantErr: confo.ErrInvalidValue, names: []string{`"bad"`},
		},
		"Set func": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.Set("bad", map[string]any{"x": func() {}}) },
			wantErr: confo.ErrInvalidValue, names: []string{`"bad"`},
		},
		"SetField NaN": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.SetField("mysql", "port", nan()) },
			wantErr: confo.ErrInvalidValue, names: []string{`"mysql"`, `"port"`},
		},
		"SetField channel": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.SetField("mysql", "port", make(chan int)) },
			wantErr: confo.ErrInvalidValue, names: []string{`"mysql"`, `"port"`},
		},
		"SetField func": {
			do:      func(ctx context.Context, m *confo.Manager) error { return m.SetField("mysql", "port", func() {}) },
			wantErr: confo.ErrInvalidValue, names: []string{`"mysql"`, `"port"`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			m, rec := newTestManager(t)
			before, err := m.GetAll()
			require.NoError(t, err)

			err = tt.do(t.Context(), m)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			requireError(t, err, tt.wantErr, tt.names...)
			assert.Empty(t, rec.commits(), "nothing reaches the store")
			if tt.wantErr != confo.ErrConfigNotFound {
				after, err := m.GetAll()
				require.NoError(t, err)
				assert.Equal(t, before, after, "a failed call changes nothing")
			}
		})
	}
}
