package credential

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/confo-go/confo"
)

// Known checks that every key of creds is one of known. The first unknown
// key, in sorted order, is an error wrapping confo.ErrInvalidCredentials
// that names it and, when one is close, the nearest known key:
//
//	confo: invalid credentials: unknown credential "endpoint" (did you mean "endpoints"?)
//
// The value is never shown.
func Known(creds confo.Credentials, known ...string) error {
	for _, key := range slices.Sorted(maps.Keys(creds)) {
		if slices.Contains(known, key) {
			continue
		}
		msg := fmt.Sprintf("unknown credential %q", key)
		if near := Nearest(key, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		} else {
			sorted := slices.Sorted(slices.Values(known))
			msg += fmt.Sprintf(" (known: %s)", strings.Join(sorted, ", "))
		}
		return fmt.Errorf("%w: %s", confo.ErrInvalidCredentials, msg)
	}
	return nil
}

// Nearest returns the candidate closest to key: within an edit distance of
// 2 (3 for keys longer than 8 bytes), one of which the other is a prefix
// ("user" for "username"), or one that ends in "_" and key
// ("zookeeper_host" for "host"), or one with the same first word before
// "_" ("config_path" for "config_dir"). It returns "" when none is close.
func Nearest(key string, candidates []string) string {
	k := strings.ToLower(key)
	best, bestDist := "", -1
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		d := distance(k, c)
		limit := 2
		if len(c) > 8 {
			limit = 3
		}
		kw, _, _ := strings.Cut(k, "_")
		cw, _, _ := strings.Cut(c, "_")
		related := len(k) >= 3 && (strings.HasPrefix(k, c) || strings.HasPrefix(c, k) || strings.HasSuffix(c, "_"+k)) ||
			len(kw) >= 4 && kw == cw && strings.Contains(k, "_") && strings.Contains(c, "_")
		if d > limit && !related {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Host checks that s is a host name or an IP address without a port: not
// empty, no spaces, no scheme, and no ":" except in an IPv6 address. It
// returns s without surrounding spaces or the brackets of an IPv6 literal.
// what names s in the error (`"host"`), which wraps
// confo.ErrInvalidCredentials and never quotes s.
func Host(what, s string) (string, error) {
	h := strings.TrimSpace(s)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %s %s", confo.ErrInvalidCredentials, what, why)
	}
	switch {
	case h == "":
		return bad("must not be empty")
	case strings.Contains(h, "://"):
		return bad("must be a host name or address, not a URL")
	case strings.ContainsAny(h, " \t\r\n/?#@,"):
		return bad("must be a host name or address")
	}
	if strings.Contains(h, ":") {
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil && ip.To4() == nil {
			return strings.Trim(h, "[]"), nil
		}
		return bad("must be a host without a port (give the port in its own key)")
	}
	return h, nil
}

// Port checks that n is a TCP port, 1 to 65535.
func Port(key string, n int) error {
	if n < 1 || n > 65535 {
		return fmt.Errorf("%w: %q must be between 1 and 65535", confo.ErrInvalidCredentials, key)
	}
	return nil
}

// HostPort checks that s is "host:port" (an IPv6 host in brackets) with a
// port from 1 to 65535. what names s in the error ("\"endpoints\" item 2"),
// which wraps confo.ErrInvalidCredentials and never quotes s.
func HostPort(what, s string) error {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%w: %s must be host:port", confo.ErrInvalidCredentials, what)
	}
	if host == "" || strings.ContainsAny(host, " \t\r\n/?#@,") {
		return fmt.Errorf("%w: %s must be host:port, with a host", confo.ErrInvalidCredentials, what)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: %s must be host:port, with a port from 1 to 65535", confo.ErrInvalidCredentials, what)
	}
	return nil
}

// Endpoint checks that s is "host:port" or a URL of one of schemes whose
// host part is host:port ("http://10.0.0.1:2379"). For the schemes "unix"
// and "unixs" the URL needs only a path. what names s in the error, which
// wraps confo.ErrInvalidCredentials and never quotes s.
func Endpoint(what, s string, schemes ...string) error {
	s = strings.TrimSpace(s)
	scheme, _, isURL := strings.Cut(s, "://")
	if !isURL {
		return HostPort(what, s)
	}
	if !slices.Contains(schemes, scheme) {
		return fmt.Errorf("%w: %s must be host:port or a URL with a scheme of %s", confo.ErrInvalidCredentials,
			what, strings.Join(schemes, ", "))
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: %s is not a valid URL", confo.ErrInvalidCredentials, what)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s must not hold a user or password (use the \"user\" and \"password\" keys)", confo.ErrInvalidCredentials, what)
	}
	if scheme == "unix" || scheme == "unixs" {
		if u.Host == "" && u.Path == "" {
			return fmt.Errorf("%w: %s must name a socket", confo.ErrInvalidCredentials, what)
		}
		return nil
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: %s must be scheme://host:port, without a path", confo.ErrInvalidCredentials, what)
	}
	return HostPort(what, u.Host)
}
