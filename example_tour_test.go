package confo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/confo-go/confo"
	_ "github.com/confo-go/confo/backends/file"
)

// Example_tour is the tour of the API that README.md quotes, line for line
// (TestReadmeQuotesTheTour holds the two equal). It runs the original's
// walk-through on the file backend in a temporary directory, so that it
// needs no server; on etcd, load the backend with confo.EtcdBackend and
// confo.Credentials{"endpoints": []string{"127.0.0.1:2379"}}.
func Example_tour() {
	ctx := context.Background()
	check := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}

	// confo.Default() is the process-wide manager, the port of the
	// original's Confo() singleton; confo.New() makes an independent one,
	// as here. Closing Default closes it for the whole process.
	config := confo.New()
	defer config.Close()

	dir, err := os.MkdirTemp("", "confo-tour")
	check(err)
	defer os.RemoveAll(dir)
	creds := confo.Credentials{"config_path": dir}
	check(config.LoadBackend(ctx, "FILE_backend", confo.FileBackend, creds))
	fmt.Printf("%+v\n", config.GetBackends())
	check(config.ActivateBackend("FILE_backend"))
	fmt.Printf("%+v\n", config.GetBackends())

	check(config.CreateNamespace(ctx, "database")) // an existing one is no error
	check(config.UseNamespace(ctx, "database"))    // loads it: one read
	ns, err := config.GetNamespaces(ctx)
	check(err)
	fmt.Printf("%+v\n", ns)

	// Set takes a map, or a struct that encodes to a JSON object.
	type server struct {
		Driver string `json:"driver"`
		Host   string `json:"host"`
		Port   int    `json:"port"`
	}
	check(config.Set("postgress", server{Driver: "postgress", Host: "127.0.0.1", Port: 5678}))
	check(config.Set("mysql", map[string]any{"driver": "mysql", "host": "localhost", "port": 1234}))
	check(config.SetField("mysql", "port", 3306)) // one field

	host, err := config.GetField("mysql", "host")
	check(err)
	fmt.Println(host)
	var db server
	check(config.Decode("mysql", &db)) // into a struct, through its json tags
	fmt.Printf("%+v\n", db)

	check(config.Persist(ctx)) // writes what changed, each write guarded
	check(config.Reload(ctx))  // reads the store again: the store wins

	// A read-modify-write that cannot lose another writer's update.
	check(config.Update("mysql", func(old map[string]any) (map[string]any, error) {
		old["pool"] = 10
		return old, nil
	}))
	check(config.Persist(ctx))

	// Another manager, as another process would, reads what was persisted.
	other := confo.New()
	defer other.Close()
	check(other.LoadBackend(ctx, "FILE_backend", confo.FileBackend, creds))
	check(other.ActivateBackend("FILE_backend"))
	check(other.UseNamespace(ctx, "database"))
	all, err := other.GetAll()
	check(err)
	out, err := json.Marshal(all)
	check(err)
	fmt.Println(string(out))

	check(other.Delete("postgress")) // removed from the store by the next Persist
	check(other.Persist(ctx))
	n, err := other.ConfigCount()
	check(err)
	fmt.Println(n, config.Problems("database"))

	// Output:
	// {All:[FILE_backend] Active:}
	// {All:[FILE_backend] Active:FILE_backend}
	// {All:[database] Current:database}
	// localhost
	// {Driver:mysql Host:localhost Port:3306}
	// {"mysql":{"driver":"mysql","host":"localhost","pool":10,"port":3306},"postgress":{"driver":"postgress","host":"127.0.0.1","port":5678}}
	// 1 []
}
