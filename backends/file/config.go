package file

import (
	"fmt"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/internal/credential"
)

// credentialKeys are the keys of the file backend's credentials.
var credentialKeys = []string{"config_path", "namespaces"}

// parseCredentials reads the file backend's credentials: config_path (the
// directory, required) and namespaces (to create at load). An unknown key (a
// typo names the nearest known key) or an ill-typed, missing or invalid value
// is an error wrapping [confo.ErrInvalidCredentials] (or
// [confo.ErrInvalidName] for a namespace) that names the key.
func parseCredentials(creds confo.Credentials) (dir string, namespaces []string, err error) {
	if err := credential.Known(creds, credentialKeys...); err != nil {
		return "", nil, fmt.Errorf("file: %w", err)
	}
	dir, ok, err := credential.String(creds, "config_path")
	if err != nil {
		return "", nil, fmt.Errorf("file: %w", err)
	}
	if !ok || dir == "" {
		return "", nil, fmt.Errorf("file: %w: %q is required", confo.ErrInvalidCredentials, "config_path")
	}
	namespaces, _, err = credential.Strings(creds, "namespaces")
	if err != nil {
		return "", nil, fmt.Errorf("file: %w", err)
	}
	for _, ns := range namespaces {
		if err := confo.ValidateName(ns); err != nil {
			return "", nil, fmt.Errorf("file: credential %q: %w", "namespaces", err)
		}
	}
	return dir, namespaces, nil
}
