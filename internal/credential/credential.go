// Package credential reads typed values out of confo.Credentials. Errors
// wrap confo.ErrInvalidCredentials and name the key, never the value.
package credential

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/confo-go/confo"
)

func invalid(key, want string, v any) error {
	return fmt.Errorf("%w: %q must be %s, not %T", confo.ErrInvalidCredentials, key, want, v)
}

// String returns creds[key] as a string; ok is false when the key is absent
// or nil.
func String(creds confo.Credentials, key string) (s string, ok bool, err error) {
	v, present := creds[key]
	if !present || v == nil {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", false, invalid(key, "a string", v)
	}
	return s, true, nil
}

// Int returns creds[key] as an int: any Go integer, a whole float64 (as JSON
// decodes numbers) or a decimal string.
func Int(creds confo.Credentials, key string) (n int, ok bool, err error) {
	v, present := creds[key]
	if !present || v == nil {
		return 0, false, nil
	}
	switch v := v.(type) {
	case int:
		return v, true, nil
	case int8:
		return int(v), true, nil
	case int16:
		return int(v), true, nil
	case int32:
		return int(v), true, nil
	case int64:
		return int(v), true, nil
	case uint:
		return int(v), true, nil
	case uint8:
		return int(v), true, nil
	case uint16:
		return int(v), true, nil
	case uint32:
		return int(v), true, nil
	case uint64:
		return int(v), true, nil
	case float64:
		if v == float64(int(v)) {
			return int(v), true, nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, true, nil
		}
		return 0, false, fmt.Errorf("%w: %q must be an integer", confo.ErrInvalidCredentials, key)
	}
	return 0, false, invalid(key, "an integer", v)
}

// Duration returns creds[key] as a time.Duration: a time.Duration, a string
// that time.ParseDuration accepts ("5s"), or a number of seconds.
func Duration(creds confo.Credentials, key string) (d time.Duration, ok bool, err error) {
	v, present := creds[key]
	if !present || v == nil {
		return 0, false, nil
	}
	switch v := v.(type) {
	case time.Duration:
		d = v
	case string:
		d, err = time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, false, fmt.Errorf("%w: %q must be a duration such as \"5s\"", confo.ErrInvalidCredentials, key)
		}
	case int, int64, float64:
		secs, _, err := Float(creds, key)
		if err != nil {
			return 0, false, err
		}
		d = time.Duration(secs * float64(time.Second))
	default:
		return 0, false, invalid(key, "a duration", v)
	}
	if d <= 0 {
		return 0, false, fmt.Errorf("%w: %q must be positive", confo.ErrInvalidCredentials, key)
	}
	return d, true, nil
}

// Float returns creds[key] as a float64 from any Go number.
func Float(creds confo.Credentials, key string) (f float64, ok bool, err error) {
	v, present := creds[key]
	if !present || v == nil {
		return 0, false, nil
	}
	switch v := v.(type) {
	case float64:
		return v, true, nil
	case float32:
		return float64(v), true, nil
	case int:
		return float64(v), true, nil
	case int64:
		return float64(v), true, nil
	}
	return 0, false, invalid(key, "a number", v)
}

// Bool returns creds[key] as a bool: a bool or a string strconv.ParseBool
// accepts.
func Bool(creds confo.Credentials, key string) (b bool, ok bool, err error) {
	v, present := creds[key]
	if !present || v == nil {
		return false, false, nil
	}
	switch v := v.(type) {
	case bool:
		return v, true, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, true, nil
		}
	}
	return false, false, invalid(key, "a boolean", v)
}

// Strings returns creds[key] as a list of strings: a []string, a []any of
// strings, or one string of comma-separated items.
func Strings(creds confo.Credentials, key string) (list []string, ok bool, err error) {
	v, present := creds[key]
	if !present || v == nil {
		return nil, false, nil
	}
	switch v := v.(type) {
	case []string:
		list = append(list, v...)
	case []any:
		for i, e := range v {
			s, isString := e.(string)
			if !isString {
				return nil, false, fmt.Errorf("%w: %q item %d must be a string, not %T", confo.ErrInvalidCredentials, key, i, e)
			}
			list = append(list, s)
		}
	case string:
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
	default:
		return nil, false, invalid(key, "a list of strings", v)
	}
	return list, true, nil
}
