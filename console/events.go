package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/confo-go/confo"
)

// heartbeat is how often an idle event stream sends a comment, so that
// proxies and the browser keep it open.
const heartbeat = 15 * time.Second

// change is what a page receives of an event.
type change struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Revision string `json:"revision"` // a string: JavaScript numbers lose int64 digits
	Preview  string `json:"preview,omitempty"`
	Fields   int    `json:"fields"`
	URL      string `json:"url"`
}

// events streams the changes of a namespace as server-sent events, from
// [confo.Manager.Watch] on the request's own Manager. Each event is a
// "change" with a JSON change; the stream ends with the request.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	backend, ns := r.PathValue("backend"), r.PathValue("ns")
	flusher, ok := w.(http.Flusher)
	if !ok {
		h.fail(w, r, http.StatusInternalServerError, fmt.Errorf("events: the response cannot be flushed"))
		return
	}
	a, err := h.open(backend)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	ctx := r.Context()
	ch, err := a.m.Watch(ctx, ns)
	if err != nil {
		h.fail(w, r, status(err), err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": watching\n\n")
	flusher.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case ev, ok := <-ch:
			if !ok {
				return
			}
			c := change{Name: ev.Name, Type: ev.Type.String(), Revision: strconv.FormatInt(ev.Revision, 10),
				URL: h.configLink(backend, ns, ev.Name)}
			if ev.Type == confo.EventPut {
				c.Preview, c.Fields = preview(ev.Value, previewLen), len(ev.Value)
			}
			data, err := json.Marshal(c)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: change\ndata: %s\n\n", data); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
