package confo_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/backends/memory"
)

// twoManagers returns two managers sharing one memory store with namespace
// "database", as two services sharing an etcd cluster would: the first
// writes, the second watches.
func twoManagers(ctx context.Context) (writer, watcher *confo.Manager) {
	store := memory.New()
	if err := store.CreateNamespace(ctx, "database"); err != nil {
		log.Fatal(err)
	}
	for _, m := range []**confo.Manager{&writer, &watcher} {
		*m = confo.New()
		if err := (*m).AddBackend("shared", store); err != nil {
			log.Fatal(err)
		}
		if err := (*m).ActivateBackend("shared"); err != nil {
			log.Fatal(err)
		}
		if err := (*m).UseNamespace(ctx, "database"); err != nil {
			log.Fatal(err)
		}
	}
	return writer, watcher
}

// Watch reports what other managers persist, with the view already
// updated.
func ExampleManager_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the watch and closes the channel
	writer, watcher := twoManagers(ctx)
	defer writer.Close()
	defer watcher.Close()

	events, err := watcher.Watch(ctx, "database")
	if err != nil {
		log.Fatal(err)
	}

	if err := writer.Set("mysql", map[string]any{"host": "db1", "port": 3306}); err != nil {
		log.Fatal(err)
	}
	if err := writer.Persist(ctx); err != nil {
		log.Fatal(err)
	}
	ev := <-events
	fmt.Println(ev.Type, ev.Name, ev.Value["host"])
	port, err := watcher.GetField("mysql", "port") // no Reload needed
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("port", port)

	if err := writer.Delete("mysql"); err != nil {
		log.Fatal(err)
	}
	if err := writer.Persist(ctx); err != nil {
		log.Fatal(err)
	}
	ev = <-events
	fmt.Println(ev.Type, ev.Name, ev.Value == nil)
	// Output:
	// put mysql db1
	// port 3306
	// delete mysql true
}

// OnChange calls a function for each change, one call at a time.
func ExampleManager_OnChange() {
	ctx := context.Background()
	writer, watcher := twoManagers(ctx)
	defer writer.Close()
	defer watcher.Close()

	seen := make(chan string)
	stop, err := watcher.OnChange(ctx, "database", func(ev confo.Event) {
		seen <- fmt.Sprintf("%s %s port=%v", ev.Type, ev.Name, ev.Value["port"])
	})
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	if err := writer.SetField("postgres", "port", 5432); err != nil {
		log.Fatal(err)
	}
	if err := writer.Persist(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-seen)
	// Output:
	// put postgres port=5432
}

// Bind keeps a typed copy of one configuration current: Load is one atomic
// read, cheap enough for every request.
func ExampleBind() {
	type MySQL struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // the binding stops following the store
	writer, watcher := twoManagers(ctx)
	defer writer.Close()
	defer watcher.Close()

	if err := writer.Set("mysql", map[string]any{"host": "db1", "port": 3306}); err != nil {
		log.Fatal(err)
	}
	if err := writer.Persist(ctx); err != nil {
		log.Fatal(err)
	}
	if err := watcher.Reload(ctx); err != nil {
		log.Fatal(err)
	}

	mysql, err := confo.Bind[MySQL](ctx, watcher, "database", "mysql")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", mysql.Load())

	if err := writer.SetField("mysql", "host", "db2"); err != nil {
		log.Fatal(err)
	}
	if err := writer.Persist(ctx); err != nil {
		log.Fatal(err)
	}
	for mysql.Load().Host != "db2" { // the change arrives asynchronously
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("%+v\n", mysql.Load())
	// Output:
	// {Host:db1 Port:3306}
	// {Host:db2 Port:3306}
}
