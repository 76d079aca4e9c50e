package console

import (
	"context"
	"fmt"
	"slices"

	"github.com/confo-go/confo"
)

// The console must read and write any namespace of any backend without
// moving the namespace in use of the Manager it is given (a service's own)
// and must show the store's state now, so every request works on a
// short-lived Manager of its own over the same Backend (the one the
// service's Manager registered, layers included, or the store's own
// wrapped in Options.Layers), through the Manager's calls on a namespace
// named explicitly (GetIn, GetAllIn, SetIfIn). That Manager is never
// closed: closing it would close the shared Backend; it holds no goroutine
// beyond the request's context (a Watch ends with it).

// access is one request's view of one backend: its own Manager over the
// shared Backend.
type access struct {
	backend string
	b       confo.Backend
	m       *confo.Manager
}

// open returns an access to backend name of the console's Manager.
func (h *Handler) open(name string) (*access, error) {
	b, err := h.m.Backend(name)
	if err != nil {
		return nil, err
	}
	if len(h.o.Layers) > 0 {
		for {
			u, ok := b.(confo.Unwrapper)
			if !ok || u.Unwrap() == nil {
				break
			}
			b = u.Unwrap()
		}
		for i := len(h.o.Layers) - 1; i >= 0; i-- {
			if b = h.o.Layers[i](b); b == nil {
				return nil, fmt.Errorf("backend %q: console layer %d returned a nil Backend", name, i)
			}
		}
	}
	m := confo.New()
	if err := m.AddBackend(name, b); err != nil {
		return nil, err
	}
	if err := m.ActivateBackend(name); err != nil {
		return nil, err
	}
	return &access{backend: name, b: b, m: m}, nil
}

// use makes ns the namespace in use of the access's own Manager.
func (a *access) use(ctx context.Context, ns string) error {
	return a.m.UseNamespace(ctx, ns)
}

// namespaces lists the backend's namespaces, sorted.
func (a *access) namespaces(ctx context.Context) ([]string, error) {
	nss, err := a.m.GetNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(slices.Values(nss.All)), nil
}
