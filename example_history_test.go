package confo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/confo-go/confo"
)

// History lists the versions of a configuration the store still keeps,
// newest first.
func ExampleManager_History() {
	ctx := context.Background()
	m, _ := exampleManager(ctx) // memory backend, namespace "database" in use
	defer m.Close()
	for _, port := range []int{3306, 3307, 3308} {
		if err := m.Set("mysql", map[string]any{"host": "db.internal", "port": port}); err != nil {
			log.Fatal(err)
		}
		if err := m.Persist(ctx); err != nil {
			log.Fatal(err)
		}
	}

	versions, err := m.History(ctx, "database", "mysql")
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range versions {
		fmt.Println(v.Revision, v.Value["port"])
	}
	// Output:
	// 4 3308
	// 3 3307
	// 2 3306
}

// Rollback writes an earlier version back, as a new revision guarded like
// a Persist.
func ExampleManager_Rollback() {
	ctx := context.Background()
	m, _ := exampleManager(ctx)
	defer m.Close()
	for _, port := range []int{3306, 3307} {
		if err := m.Set("mysql", map[string]any{"host": "db.internal", "port": port}); err != nil {
			log.Fatal(err)
		}
		if err := m.Persist(ctx); err != nil {
			log.Fatal(err)
		}
	}
	versions, err := m.History(ctx, "database", "mysql")
	if err != nil {
		log.Fatal(err)
	}
	previous := versions[1]

	if err := m.Rollback(ctx, "database", "mysql", previous.Revision); err != nil {
		log.Fatal(err)
	}
	port, err := m.GetField("mysql", "port")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("port:", port)

	versions, err = m.History(ctx, "database", "mysql")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("versions:", len(versions), "newest at revision", versions[0].Revision)

	// A revision the store does not keep (compacted, or not one of this
	// configuration's) is ErrRevisionNotFound.
	err = m.Rollback(ctx, "database", "mysql", 99)
	fmt.Println(errors.Is(err, confo.ErrRevisionNotFound))
	// Output:
	// port: 3306
	// versions: 3 newest at revision 4
	// true
}

// WithMirror lets a service start while its etcd cluster is down: the
// namespaces it used last time are served read-only from the mirror, and
// the manager catches up once the cluster answers. (The program imports
// github.com/confo-go/confo/backends/etcd for confo.EtcdBackend.)
func ExampleWithMirror() {
	ctx := context.Background()
	dir := filepath.Join(os.Getenv("STATE_DIRECTORY"), "confo-mirror")
	m := confo.New(confo.WithMirror(dir))
	defer m.Close()

	err := m.LoadBackend(ctx, "prod", confo.EtcdBackend, confo.Credentials{"host": "127.0.0.1", "port": 2379})
	if err != nil && !errors.Is(err, confo.ErrStale) {
		log.Fatal(err) // bad credentials, say: the mirror does not help
	}
	if err := m.ActivateBackend("prod"); err != nil {
		log.Fatal(err)
	}
	err = m.UseNamespace(ctx, "database")
	var stale *confo.StaleError
	switch {
	case errors.As(err, &stale):
		log.Printf("serving the configuration of %s until etcd answers: %v", stale.Since, err)
	case err != nil:
		log.Fatal(err)
	}
	host, err := m.GetField("mysql", "host") // works either way
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(host)
}
