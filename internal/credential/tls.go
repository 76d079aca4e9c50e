package credential

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/confo-go/confo"
)

// TLSConfig returns TLS settings (TLS 1.2 at least) that trust the
// certificate authorities of the PEM file caFile (the system pool when
// empty) and present the client certificate of certFile and keyFile (none
// when both are empty). Errors wrap confo.ErrInvalidCredentials and name
// the key of the file, never its content.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: \"ca_file\": %w", confo.ErrInvalidCredentials, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: \"ca_file\" holds no PEM certificate", confo.ErrInvalidCredentials)
		}
		tc.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("%w: \"cert_file\" and \"key_file\" go together", confo.ErrInvalidCredentials)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			// The error of tls.LoadX509KeyPair can quote PEM content:
			// keep only a file's error.
			var pathErr *os.PathError
			if errors.As(err, &pathErr) {
				return nil, fmt.Errorf("%w: \"cert_file\"/\"key_file\": %w", confo.ErrInvalidCredentials, pathErr)
			}
			return nil, fmt.Errorf("%w: \"cert_file\"/\"key_file\" do not hold a valid certificate and key", confo.ErrInvalidCredentials)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
