package credential

import (
	"context"

	"github.com/confo-go/confo"
)

// Opener returns the [confo.OpenFunc] a backend registers: it reads the
// credentials with parse, once, at the edge, then connects with open, which
// sees only the typed config. Either error is returned as is; on error the
// Backend is nil (not a typed nil pointer).
//
//	confo.Register(confo.RedisBackend, credential.Opener(ParseCredentials, New))
func Opener[C any, B confo.Backend](parse func(confo.Credentials) (C, error), open func(context.Context, C) (B, error)) confo.OpenFunc {
	return func(ctx context.Context, creds confo.Credentials) (confo.Backend, error) {
		cfg, err := parse(creds)
		if err != nil {
			return nil, err
		}
		b, err := open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}
