package console_test

import (
	"log"
	"net/http"
	"os"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/console"
	"github.com/confo-go/confo/schema"
	"github.com/confo-go/confo/seal"
)

// A service mounts the console in its admin mux, beside its own Manager
// (which may open sealed fields): the console's own Managers use a seal
// layer without identities, so its pages show sealed fields masked.
func ExampleNew() {
	m := confo.Default()
	h, err := console.New(m, console.Options{
		User:     "ops",
		Password: os.Getenv("CONSOLE_PASSWORD"),
		BasePath: "/confo/",
		Layers:   []confo.Layer{schema.Layer(), seal.Layer()},
	})
	if err != nil {
		log.Fatal(err)
	}
	admin := http.NewServeMux()
	admin.Handle("/confo/", h)
	log.Fatal(http.ListenAndServe("127.0.0.1:6060", admin))
}
