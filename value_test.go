package confo_test

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

// invalidNames maps a description to a name every call must refuse.
var invalidNames = map[string]string{
	"empty":            "",
	"slash":            "a/b",
	"only slash":       "/",
	"NUL":              "a\x00b",
	"newline":          "a\nb",
	"tab":              "a\tb",
	"escape":           "\x1b[31m",
	"DEL":              "a\x7fb",
	"C1 NEL":           "a\u0085b",
	"C1 CSI":           "a\u009bb",
	"dot":              ".",
	"dot dot":          "..",
	"256 bytes":        strings.Repeat("x", 256),
	"256 bytes UTF-8":  strings.Repeat("é", 128),
	"invalid UTF-8":    "a\xffb",
	"overlong NUL":     "a\xc0\x80b",
	"lone surrogate":   "a\xed\xa0\x80b",
	"truncated UTF-8":  "ab\xe2\x82",
	"slash and spaces": " / ",
}

var validNames = map[string]string{
	"plain":           "mysql",
	"255 bytes":       strings.Repeat("x", 255),
	"255 bytes UTF-8": strings.Repeat("é", 127) + "x",
	"three dots":      "...",
	"dots inside":     "a..b",
	"leading dot":     ".hidden",
	"space":           "my sql",
	"unicode":         "données-日本",
	"NBSP":            "a\u00a0b",
	"punctuation":     `a:b@c#d%e\f`,
}

func TestValidateName(t *testing.T) {
	for desc, name := range invalidNames {
		t.Run("invalid "+desc, func(t *testing.T) {
			err := confo.ValidateName(name)
			requireError(t, err, confo.ErrInvalidName, strconv.Quote(name))
		})
	}
	for desc, name := range validNames {
		t.Run("valid "+desc, func(t *testing.T) {
			require.NoError(t, confo.ValidateName(name))
		})
	}
	assert.Len(t, validNames["255 bytes UTF-8"], confo.MaxNameLen)
	assert.Len(t, invalidNames["256 bytes UTF-8"], confo.MaxNameLen+1)
}

// TestManagerInvalidName proves that every call taking a namespace or
// configuration name refuses an invalid one before any I/O.
func TestManagerInvalidName(t *testing.T) {
	nsCalls := map[string]func(ctx context.Context, m *confo.Manager, ns string) error{
		"CreateNamespace":     func(ctx context.Context, m *confo.Manager, ns string) error { return m.CreateNamespace(ctx, ns) },
		"UseNamespace":        func(ctx context.Context, m *confo.Manager, ns string) error { return m.UseNamespace(ctx, ns) },
		"PersistNamespace":    func(ctx context.Context, m *confo.Manager, ns string) error { return m.PersistNamespace(ctx, ns) },
		"PersistConfig ns":    func(ctx context.Context, m *confo.Manager, ns string) error { return m.PersistConfig(ctx, ns, "mysql") },
		"PersistConfig other": func(ctx context.Context, m *confo.Manager, ns string) error { return m.PersistConfig(ctx, ns, "redis") },
		"Watch":               func(ctx context.Context, m *confo.Manager, ns string) error { _, err := m.Watch(ctx, ns); return err },
		"OnChange": func(ctx context.Context, m *confo.Manager, ns string) error {
			_, err := m.OnChange(ctx, ns, func(confo.Event) {})
			return err
		},
	}
	configCalls := map[string]func(ctx context.Context, m *confo.Manager, name string) error{
		"Set":      func(ctx context.Context, m *confo.Manager, name string) error { return m.Set(name, mysql()) },
		"Set nil":  func(ctx context.Context, m *confo.Manager, name string) error { return m.Set(name, nil) },
		"SetField": func(ctx context.Context, m *confo.Manager, name string) error { return m.SetField(name, "port", 1) },
		"Get":      func(ctx context.Context, m *confo.Manager, name string) error { _, err := m.Get(name); return err },
		"GetField": func(ctx context.Context, m *confo.Manager, name string) error {
			_, err := m.GetField(name, "host")
			return err
		},
		"Decode": func(ctx context.Context, m *confo.Manager, name string) error {
			var c dbConfig
			return m.Decode(name, &c)
		},
		"Delete": func(ctx context.Context, m *confo.Manager, name string) error { return m.Delete(name) },
		"PersistConfig": func(ctx context.Context, m *confo.Manager, name string) error {
			return m.PersistConfig(ctx, "database", name)
		},
	}

	for desc, name := range invalidNames {
		t.Run(desc, func(t *testing.T) {
			m, rec := newTestManager(t)
			require.NoError(t, m.Set("redis", map[string]any{"port": 6379})) // an unsaved change Persist would send
			ctx := t.Context()
			for call, do := range nsCalls {
				err := do(ctx, m, name)
				requireError(t, err, confo.ErrInvalidName, strconv.Quote(name))
				assert.NotErrorIs(t, err, confo.ErrNamespaceNotLoaded, call)
			}
			for call, do := range configCalls {
				err := do(ctx, m, name)
				requireError(t, err, confo.ErrInvalidName, strconv.Quote(name))
				assert.NotErrorIs(t, err, confo.ErrConfigNotFound, call)
			}
			assert.Empty(t, rec.recorded(), "no I/O for an invalid name")
			assert.Equal(t, "database", m.Namespace())
			n, err := m.ConfigCount()
			require.NoError(t, err)
			assert.Equal(t, 2, n, "nothing was set or deleted")
		})
	}
}

func TestManagerValidNames(t *testing.T) {
	for desc, name := range validNames {
		t.Run(desc, func(t *testing.T) {
			ctx := t.Context()
			m, _ := newTestManager(t)
			require.NoError(t, m.CreateNamespace(ctx, name))
			require.NoError(t, m.UseNamespace(ctx, name))
			require.NoError(t, m.Set(name, map[string]any{"k": "v"}))
			require.NoError(t, m.SetField(name, name, "w"))
			require.NoError(t, m.PersistConfig(ctx, name, name))
			require.NoError(t, m.PersistNamespace(ctx, name))
			b, err := m.Backend("test")
			require.NoError(t, err)
			assert.Equal(t, map[string]map[string]any{name: {"k": "v", name: "w"}}, storeView(t, b, name))
			ns, err := m.GetNamespaces(ctx)
			require.NoError(t, err)
			assert.Contains(t, ns.All, name)
			require.NoError(t, m.Delete(name))
			require.NoError(t, m.Persist(ctx))
			assert.Empty(t, storeView(t, b, name))
		})
	}
}

type server struct {
	Name  string   `json:"name"`
	Port  uint16   `json:"port"`
	Tags  []string `json:"tags,omitempty"`
	Ratio float32  `json:"ratio"`
	Empty *int     `json:"empty"`
	skip  int
}

func TestManagerSetNormalizes(t *testing.T) {
	for name, tt := range map[string]struct {
		in   any
		want any
	}{
		"int":               {in: 5678, want: int64(5678)},
		"int8":              {in: int8(-8), want: int64(-8)},
		"int32":             {in: int32(32), want: int64(32)},
		"int64":             {in: int64(64), want: int64(64)},
		"uint":              {in: uint(7), want: int64(7)},
		"uint8":             {in: uint8(255), want: int64(255)},
		"uint64 small":      {in: uint64(42), want: int64(42)},
		"max int64":         {in: int64(math.MaxInt64), want: int64(math.MaxInt64)},
		"min int64":         {in: int64(math.MinInt64), want: int64(math.MinInt64)},
		"max int64 + 1":     {in: uint64(math.MaxInt64) + 1, want: json.Number("9223372036854775808")},
		"max uint64":        {in: uint64(math.MaxUint64), want: json.Number("18446744073709551615")},
		"float64 whole":     {in: 2.0, want: int64(2)},
		"float64 negative":  {in: -3.0, want: int64(-3)},
		"float64 zero":      {in: 0.0, want: int64(0)},
		"float64 neg zero":  {in: math.Copysign(0, -1), want: int64(0)},
		"float64 half":      {in: 1.5, want: 1.5},
		"float64 1e3":       {in: 1e3, want: int64(1000)},
		"float64 1e300":     {in: 1e300, want: 1e300},
		"float64 1e20":      {in: 1e20, want: 1e20},
		"float64 tiny":      {in: 1e-300, want: 1e-300},
		"float32 half":      {in: float32(0.5), want: 0.5},
		"float32 whole":     {in: float32(3), want: int64(3)},
		"string":            {in: "x", want: "x"},
		"empty string":      {in: "", want: ""},
		"HTML string":       {in: "<a&b>", want: "<a&b>"},
		"invalid UTF-8":     {in: "a\xffb", want: "a\ufffdb"},
		"bool":              {in: true, want: true},
		"nil":               {in: nil, want: nil},
		"nil map":           {in: map[string]int(nil), want: nil},
		"nil slice":         {in: []int(nil), want: nil},
		"empty slice":       {in: []int{}, want: []any{}},
		"typed map":         {in: map[string]int{"a": 1}, want: map[string]any{"a": int64(1)}},
		"int keyed map":     {in: map[int]string{1: "a"}, want: map[string]any{"1": "a"}},
		"typed slice":       {in: []uint8{1, 2}, want: "AQI="}, // as encoding/json: []byte is base64
		"slice of floats":   {in: []float64{1, 1.5}, want: []any{int64(1), 1.5}},
		"array":             {in: [2]int{1, 2}, want: []any{int64(1), int64(2)}},
		"nested any":        {in: map[string]any{"a": []any{map[string]any{"b": 2.0}}}, want: map[string]any{"a": []any{map[string]any{"b": int64(2)}}}},
		"struct":            {in: server{Name: "db", Port: 5432, Tags: []string{"a"}, Ratio: 0.25, skip: 1}, want: map[string]any{"name": "db", "port": int64(5432), "tags": []any{"a"}, "ratio": 0.25, "empty": nil}},
		"pointer to struct": {in: &server{Name: "db"}, want: map[string]any{"name": "db", "port": int64(0), "ratio": int64(0), "empty": nil}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			m, rec := newTestManager(t)

			require.NoError(t, m.Set("v", map[string]any{"x": tt.in}))
			got, err := m.GetField("v", "x")
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "Set")

			require.NoError(t, m.SetField("f", "x", tt.in))
			got, err = m.GetField("f", "x")
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "SetField")

			require.NoError(t, m.Persist(ctx))
			want, err := m.GetAll()
			require.NoError(t, err)

			// The same values, with the same Go types, in a second manager
			// that loads after the persist, and in one that reloads.
			assert.Equal(t, want, storeView(t, rec.store, "database"))
			require.NoError(t, m.Reload(ctx))
			reloaded, err := m.GetAll()
			require.NoError(t, err)
			assert.Equal(t, want, reloaded)
		})
	}
}

func TestManagerRoundTrip(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	m1 := newManager(t, shared{store})
	m2 := newManager(t, shared{store})
	require.NoError(t, m1.CreateNamespace(ctx, "database"))
	require.NoError(t, m1.UseNamespace(ctx, "database"))
	require.NoError(t, m2.UseNamespace(ctx, "database")) // loaded before m1 persists

	values := map[string]map[string]any{
		"postgres": {"driver": "postgres", "host": "127.0.0.1", "port": 5678},
		"mysql":    {"driver": "mysql", "host": "localhost", "port": uint16(1234), "timeout": 2.5},
		"service": {
			"replicas": int32(3),
			"limits":   map[string]float64{"cpu": 0.5, "memory": 512},
			"hosts":    []string{"a", "b"},
			"servers":  []server{{Name: "x", Port: 1}},
			"enabled":  true,
			"owner":    nil,
			"huge":     uint64(math.MaxUint64),
			"deep":     map[string]any{"a": map[string]any{"b": []any{1, "2", 3.25, false, nil, []int{4}}}},
		},
		"empty": {},
	}
	for name, v := range values {
		require.NoError(t, m1.Set(name, v))
	}
	require.NoError(t, m1.Set("nil", nil))
	want, err := m1.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]any{}, want["nil"], "Set of nil is an empty object")
	require.NoError(t, m1.Persist(ctx))

	require.NoError(t, m2.Reload(ctx))
	got, err := m2.GetAll()
	require.NoError(t, err)
	assert.Equal(t, want, got)
	for name := range want {
		one, err := m2.Get(name)
		require.NoError(t, err)
		assert.Equal(t, want[name], one)
	}
	assert.Equal(t, want, storeView(t, store, "database"))
	assert.Equal(t, int64(3), want["service"]["replicas"])
	assert.Equal(t, map[string]any{"cpu": 0.5, "memory": int64(512)}, want["service"]["limits"])
}

func TestManagerSetCopies(t *testing.T) {
	m, _ := newTestManager(t)
	nested := map[string]any{"b": 1}
	list := []any{1, 2}
	typed := []int{1, 2}
	value := map[string]any{"a": nested, "list": list, "typed": typed, "s": "x"}
	require.NoError(t, m.Set("c", value))
	field := map[string]any{"k": []any{"v"}}
	require.NoError(t, m.SetField("c", "field", field))
	want, err := m.Get("c")
	require.NoError(t, err)

	value["s"] = "changed"
	value["new"] = true
	delete(value, "a")
	nested["b"] = 2
	list[0] = 99
	typed[0] = 99
	field["k"].([]any)[0] = "changed"
	field["extra"] = 1

	got, err := m.Get("c")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, map[string]any{
		"a": map[string]any{"b": int64(1)}, "list": []any{int64(1), int64(2)}, "typed": []any{int64(1), int64(2)},
		"s": "x", "field": map[string]any{"k": []any{"v"}},
	}, got)
}

func TestManagerGetCopies(t *testing.T) {
	m, _ := newTestManager(t)
	require.NoError(t, m.Set("c", map[string]any{"obj": map[string]any{"k": "v"}, "arr": []any{1, map[string]any{"x": 1}}, "s": "x"}))
	want, err := m.Get("c")
	require.NoError(t, err)

	mutateObject := func(c map[string]any) {
		c["s"] = "changed"
		c["added"] = 1
		c["obj"].(map[string]any)["k"] = "changed"
		arr := c["arr"].([]any)
		arr[0] = "changed"
		arr[1].(map[string]any)["x"] = "changed"
	}

	got, err := m.Get("c")
	require.NoError(t, err)
	mutateObject(got)

	all, err := m.GetAll()
	require.NoError(t, err)
	mutateObject(all["c"])
	all["c"] = nil
	all["other"] = map[string]any{}

	obj, err := m.GetField("c", "obj")
	require.NoError(t, err)
	obj.(map[string]any)["k"] = "changed"
	arr, err := m.GetField("c", "arr")
	require.NoError(t, err)
	arr.([]any)[0] = "changed"
	arr.([]any)[1].(map[string]any)["x"] = "changed"

	var decoded map[string]any
	require.NoError(t, m.Decode("c", &decoded))
	mutateObject(decoded)

	got, err = m.Get("c")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	all, err = m.GetAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"mysql": mysqlRead(), "c": want}, all)
}

func TestManagerDecode(t *testing.T) {
	m, _ := newTestManager(t)
	var c dbConfig
	require.NoError(t, m.Decode("mysql", &c))
	assert.Equal(t, dbConfig{Driver: "mysql", Host: "localhost", Port: 1234}, c)

	require.NoError(t, m.Set("srv", map[string]any{"name": "x", "port": 80, "tags": []string{"a"}, "ratio": 0.5, "unknown": 1}))
	var s server
	require.NoError(t, m.Decode("srv", &s))
	assert.Equal(t, server{Name: "x", Port: 80, Tags: []string{"a"}, Ratio: 0.5}, s)

	var big struct {
		N int64 `json:"n"`
	}
	require.NoError(t, m.Set("big", map[string]any{"n": int64(math.MaxInt64)}))
	require.NoError(t, m.Decode("big", &big))
	assert.Equal(t, int64(math.MaxInt64), big.N, "int64 decodes without a float64 detour")

	err := m.Decode("mysql", c) // not a pointer
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"mysql"`)
	var wrong struct {
		Port string `json:"port"`
	}
	err = m.Decode("mysql", &wrong)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"mysql"`)
}

// TestManagerDecodeInvalidValue decodes configurations into types they do
// not fit: the error wraps ErrInvalidValue and encoding/json's error, and
// names the configuration.
func TestManagerDecodeInvalidValue(t *testing.T) {
	m, _ := newTestManager(t)
	require.NoError(t, m.Set("big", map[string]any{"port": 70000}))
	for name, tt := range map[string]struct {
		config string
		out    any
	}{
		"string into int": {config: "mysql", out: &struct {
			Host int `json:"host"`
		}{}},
		"number into string": {config: "mysql", out: &struct {
			Port string `json:"port"`
		}{}},
		"object into slice": {config: "mysql", out: &[]any{}},
		"overflow": {config: "big", out: &struct {
			Port uint16 `json:"port"`
		}{}},
	} {
		t.Run(name, func(t *testing.T) {
			err := m.Decode(tt.config, tt.out)
			require.ErrorIs(t, err, confo.ErrInvalidValue)
			var typeErr *json.UnmarshalTypeError
			require.ErrorAs(t, err, &typeErr, "encoding/json's error is kept")
			assert.Contains(t, err.Error(), strconv.Quote(tt.config))
		})
	}

	var c dbConfig
	err := m.Decode("mysql", c) // not a pointer: the caller's mistake, not the value's
	require.Error(t, err)
	assert.NotErrorIs(t, err, confo.ErrInvalidValue)
}

func TestManagerSetField(t *testing.T) {
	m, _ := newTestManager(t)
	require.NoError(t, m.SetField("mysql", "port", 3306))
	require.NoError(t, m.SetField("mysql", "options", map[string]any{"tls": true}))
	require.NoError(t, m.SetField("redis", "port", 6379), "creates the configuration")
	got, err := m.Get("mysql")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"driver": "mysql", "host": "localhost", "port": int64(3306), "options": map[string]any{"tls": true}}, got)
	got, err = m.Get("redis")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"port": int64(6379)}, got)
	require.NoError(t, m.SetField("mysql", "host", nil))
	host, err := m.GetField("mysql", "host")
	require.NoError(t, err, "a null field exists")
	assert.Nil(t, host)
	n, err := m.ConfigCount()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
