package memory

import (
	"fmt"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

// parseCredentials reads the memory backend's only credential, namespaces
// (to create at load). Any other key (a typo names the nearest known key) or
// an ill-typed value is an error wrapping [confo.ErrInvalidCredentials] (or
// [confo.ErrInvalidName] for a namespace) that names the key.
func parseCredentials(creds confo.Credentials) (namespaces []string, err error) {
	namespaces, _, err = credential.Strings(creds, "namespaces")
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	if err := credential.Known(creds, "namespaces"); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	for _, ns := range namespaces {
		if err := confo.ValidateName(ns); err != nil {
			return nil, fmt.Errorf("memory: credential \"namespaces\": %w", err)
		}
	}
	return namespaces, nil
}
