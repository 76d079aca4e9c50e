package credential

import (
	"fmt"
	"net"
	"strconv"

	"github.com/confo-go/confo"
)

// This file reads the groups of keys that several backends share: an
// address, a user with a password, TLS files, limits, namespaces. Errors
// wrap confo.ErrInvalidCredentials and name the key, never the value; the
// backend adds its own prefix ("redis: ").

// Invalid returns an error wrapping confo.ErrInvalidCredentials that says
// why the value of key is refused:
//
//	confo: invalid credentials: "db" must not be negative
func Invalid(key, why string) error {
	return fmt.Errorf("%w: %q %s", confo.ErrInvalidCredentials, key, why)
}

// Address checks host (a host name or address, named what in errors, as
// [Host] does) and port (the value of portKey, as [Port] does) and returns
// them joined as host:port.
func Address(what, host, portKey string, port int) (string, error) {
	h, err := Host(what, host)
	if err != nil {
		return "", err
	}
	if err := Port(portKey, port); err != nil {
		return "", err
	}
	return net.JoinHostPort(h, strconv.Itoa(port)), nil
}

// UserPassword reads userKey and passKey as strings. A password without a
// user is refused, naming userKey; hint, when not empty, ends that message
// (` ("default" for a server's requirepass)`).
func UserPassword(creds confo.Credentials, userKey, passKey, hint string) (user, password string, err error) {
	if user, _, err = String(creds, userKey); err != nil {
		return "", "", err
	}
	if password, _, err = String(creds, passKey); err != nil {
		return "", "", err
	}
	if err := RequireUser(user, password, userKey, passKey, hint); err != nil {
		return "", "", err
	}
	return user, password, nil
}

// RequireUser refuses a password without a user, naming userKey and
// passKey (never the password); hint, when not empty, ends the message.
func RequireUser(user, password, userKey, passKey, hint string) error {
	if password != "" && user == "" {
		return Invalid(userKey, fmt.Sprintf("is required with %q%s", passKey, hint))
	}
	return nil
}

// TLSFiles reads "ca_file", "cert_file" and "key_file" as strings; the
// last two go together.
func TLSFiles(creds confo.Credentials) (caFile, certFile, keyFile string, err error) {
	for key, dst := range map[string]*string{"ca_file": &caFile, "cert_file": &certFile, "key_file": &keyFile} {
		if *dst, _, err = String(creds, key); err != nil {
			return "", "", "", err
		}
	}
	if (certFile == "") != (keyFile == "") {
		if certFile == "" {
			return "", "", "", Invalid("cert_file", "is required with \"key_file\"")
		}
		return "", "", "", Invalid("key_file", "is required with \"cert_file\"")
	}
	return caFile, certFile, keyFile, nil
}

// Positive reads each key of dst as an int into *dst (0 when absent); a
// value below 1 is refused.
func Positive(creds confo.Credentials, dst map[string]*int) error {
	for key, p := range dst {
		n, ok, err := Int(creds, key)
		if err != nil {
			return err
		}
		if ok && n < 1 {
			return Invalid(key, "must be positive")
		}
		*p = n
	}
	return nil
}

// Namespaces checks that every name of the "namespaces" key is a valid
// namespace name; the error wraps confo.ErrInvalidCredentials and
// confo.ErrInvalidName.
func Namespaces(names []string) error {
	for _, ns := range names {
		if err := confo.ValidateName(ns); err != nil {
			return fmt.Errorf("%w: \"namespaces\": %w", confo.ErrInvalidCredentials, err)
		}
	}
	return nil
}
