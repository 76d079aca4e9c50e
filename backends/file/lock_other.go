//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package file

import (
	"context"
	"os"
)

// lockExclusive takes no cross-process lock on this system: Commit relies
// on its in-process lock alone. See the package documentation.
func lockExclusive(context.Context, *os.Root, string) (func(), error) { return func() {}, nil }

// lockShared takes no cross-process lock on this system.
func lockShared(context.Context, *os.Root, string) (func(), error) { return func() {}, nil }
