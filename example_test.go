package confo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"slices"
	"strings"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// The seed's walk-through, on the memory backend: load and activate a
// backend, create and use a namespace, set configurations, persist them,
// and read them back in a second manager.
func ExampleManager() {
	ctx := context.Background()

	m := confo.New()
	defer m.Close()
	if err := m.LoadBackend(ctx, "memory_backend", confo.MemoryBackend, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", m.GetBackends())
	if err := m.ActivateBackend("memory_backend"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", m.GetBackends())

	if err := m.CreateNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	if err := m.UseNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	namespaces, err := m.GetNamespaces(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", namespaces)
	count, err := m.GetCount(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(count)

	if err := m.Set("postgres", map[string]any{"driver": "postgres", "host": "127.0.0.1", "port": 5678}); err != nil {
		log.Fatal(err)
	}
	if err := m.Set("mysql", map[string]any{"driver": "mysql", "host": "localhost", "port": 1234}); err != nil {
		log.Fatal(err)
	}
	host, err := m.GetField("mysql", "host")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(host)
	if err := m.Persist(ctx); err != nil {
		log.Fatal(err)
	}

	// A second manager on the same store reads what the first persisted.
	store, err := m.Backend("memory_backend")
	if err != nil {
		log.Fatal(err)
	}
	m2 := confo.New()
	defer m2.Close()
	if err := m2.AddBackend("memory_backend2", store); err != nil {
		log.Fatal(err)
	}
	if err := m2.ActivateBackend("memory_backend2"); err != nil {
		log.Fatal(err)
	}
	if err := m2.UseNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	all, err := m2.GetAll()
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		fmt.Println(name, all[name])
	}
	// Output:
	// {All:[memory_backend] Active:}
	// {All:[memory_backend] Active:memory_backend}
	// {All:[database] Current:database}
	// 1
	// localhost
	// mysql map[driver:mysql host:localhost port:1234]
	// postgres map[driver:postgres host:127.0.0.1 port:5678]
}

// exampleManager returns a manager on a new memory store with namespace
// "database" in use, and the store.
func exampleManager(ctx context.Context) (*confo.Manager, *memory.Backend) {
	store := memory.New()
	m := confo.New()
	if err := m.AddBackend("local", store); err != nil {
		log.Fatal(err)
	}
	if err := m.ActivateBackend("local"); err != nil {
		log.Fatal(err)
	}
	if err := m.CreateNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	if err := m.UseNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	return m, store
}

func ExampleManager_Persist() {
	ctx := context.Background()
	m, store := exampleManager(ctx)
	defer m.Close()

	if err := m.Set("mysql", map[string]any{"host": "localhost", "port": 1234}); err != nil {
		log.Fatal(err)
	}
	if err := m.Set("redis", map[string]any{"host": "localhost", "port": 6379}); err != nil {
		log.Fatal(err)
	}
	if err := m.Persist(ctx); err != nil {
		log.Fatal(err)
	}

	// The store holds one JSON object per configuration.
	snap, err := store.Load(ctx, "database")
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Entries)) {
		fmt.Printf("%s: %s\n", name, snap.Entries[name].Value)
	}

	// A configuration changed by someone else since it was read is not
	// overwritten.
	store.Put("database", "mysql", []byte(`{"host":"db.internal","port":3306}`))
	if err := m.SetField("mysql", "port", 3307); err != nil {
		log.Fatal(err)
	}
	err = m.Persist(ctx)
	fmt.Println(errors.Is(err, confo.ErrConflict))
	// Output:
	// mysql: {"host":"localhost","port":1234}
	// redis: {"host":"localhost","port":6379}
	// true
}

func ExampleManager_Reload() {
	ctx := context.Background()
	m, store := exampleManager(ctx)
	defer m.Close()
	if err := m.Set("mysql", map[string]any{"host": "localhost"}); err != nil {
		log.Fatal(err)
	}
	if err := m.Persist(ctx); err != nil {
		log.Fatal(err)
	}

	// An unsaved local change, and a change made in the store by another
	// writer.
	if err := m.Set("draft", map[string]any{"unsaved": true}); err != nil {
		log.Fatal(err)
	}
	store.Put("database", "mysql", []byte(`{"host":"db.internal"}`))

	if err := m.Reload(ctx); err != nil {
		log.Fatal(err)
	}
	host, err := m.GetField("mysql", "host")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(host)
	_, err = m.Get("draft")
	fmt.Println(errors.Is(err, confo.ErrConfigNotFound))
	// Output:
	// db.internal
	// true
}

func ExampleManager_Get_missing() {
	ctx := context.Background()
	m, _ := exampleManager(ctx)
	defer m.Close()

	_, err := m.Get("redis")
	fmt.Println(errors.Is(err, confo.ErrConfigNotFound))
	fmt.Println(err)
	// Output:
	// true
	// get "redis" in namespace "database": confo: configuration not found
}

func ExampleManager_Decode() {
	ctx := context.Background()
	m, _ := exampleManager(ctx)
	defer m.Close()
	if err := m.Set("postgres", map[string]any{"driver": "postgres", "host": "127.0.0.1", "port": 5678}); err != nil {
		log.Fatal(err)
	}

	var db struct {
		Driver string `json:"driver"`
		Host   string `json:"host"`
		Port   int    `json:"port"`
	}
	if err := m.Decode("postgres", &db); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", db)
	// Output:
	// {Driver:postgres Host:127.0.0.1 Port:5678}
}

func ExampleManager_SetField() {
	ctx := context.Background()
	m, _ := exampleManager(ctx)
	defer m.Close()
	if err := m.Set("mysql", map[string]any{"host": "localhost", "port": 1234}); err != nil {
		log.Fatal(err)
	}

	if err := m.SetField("mysql", "port", 3306); err != nil {
		log.Fatal(err)
	}
	if err := m.SetField("mysql", "options", map[string]any{"tls": true}); err != nil {
		log.Fatal(err)
	}
	port, err := m.GetField("mysql", "port")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v (%T)\n", port, port)
	mysql, err := m.Get("mysql")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(mysql)
	// Output:
	// 3306 (int64)
	// map[host:localhost options:map[tls:true] port:3306]
}

func ExampleManager_GetNamespaces() {
	ctx := context.Background()
	m := confo.New()
	defer m.Close()
	// The memory backend creates the namespaces listed in its credentials.
	creds := confo.Credentials{"namespaces": []string{"sales", "analytics"}}
	if err := m.LoadBackend(ctx, "local", confo.MemoryBackend, creds); err != nil {
		log.Fatal(err)
	}
	if err := m.ActivateBackend("local"); err != nil {
		log.Fatal(err)
	}
	if err := m.CreateNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	if err := m.UseNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}

	namespaces, err := m.GetNamespaces(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(namespaces.All)
	fmt.Println(namespaces.Current)
	// Output:
	// [analytics database sales]
	// database
}

func ExampleCredentials() {
	creds := confo.Credentials{"host": "127.0.0.1", "port": 2379, "user": "root", "password": "s3cret"}
	fmt.Println(creds)
	fmt.Printf("%#v\n", creds)
	// Output:
	// confo.Credentials{host:<redacted>, password:<redacted>, port:<redacted>, user:<redacted>}
	// confo.Credentials{host:<redacted>, password:<redacted>, port:<redacted>, user:<redacted>}
}

func ExampleValidateName() {
	for _, name := range []string{"mysql", "", "a/b", "..", "tab\there"} {
		fmt.Println(confo.ValidateName(name))
	}
	err := confo.ValidateName(strings.Repeat("x", 256))
	fmt.Println(errors.Is(err, confo.ErrInvalidName))
	// Output:
	// <nil>
	// confo: invalid name "": empty
	// confo: invalid name "a/b": contains "/"
	// confo: invalid name "..": reserved
	// confo: invalid name "tab\there": contains a control character
	// true
}
