package testserver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/presence"
)

// WaitListed lists the instances of namespace ns in b until there are n
// (a gone instance's record takes a while to expire), failing t with what
// and the last listing after a minute. It returns that listing.
func WaitListed(ctx context.Context, t *testing.T, b confo.Backend, ns string, n int, what string) presence.Listing {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := presence.List(ctx, b, ns)
		require.NoError(t, err)
		if len(l.Instances) == n {
			return l
		}
		require.True(t, time.Now().Before(deadline), "%s: %+v", what, l)
		time.Sleep(50 * time.Millisecond)
	}
}
