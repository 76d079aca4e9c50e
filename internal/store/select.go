package store

import (
	"fmt"
	"strings"

	"github.com/confo-go/confo"
)

// The environment variables that choose a store, one family for every
// store. A flag always wins over its variable.
const (
	// EnvBackend names the backend type.
	EnvBackend = "CONFO_BACKEND"
	// EnvEndpoints lists the store's host:port addresses, comma-separated:
	// etcd, ZooKeeper, Redis or PostgreSQL.
	EnvEndpoints = "CONFO_ENDPOINTS"
	// EnvEndpointsAlias is the former name of EnvEndpoints, still read
	// when EnvEndpoints is not set.
	EnvEndpointsAlias = "CONFO_ETCD_ENDPOINTS"
	// EnvUser and EnvPassword authenticate.
	EnvUser     = "CONFO_USER"
	EnvPassword = "CONFO_PASSWORD"
	// EnvConfigPath is the file backend's directory.
	EnvConfigPath = "CONFO_CONFIG_PATH"
	// EnvDSN is the database backend's connection string.
	EnvDSN = "CONFO_DSN"
)

// Given is what a command line set; a nil field was not given.
type Given struct {
	Backend    *string
	Endpoints  *[]string
	ConfigPath *string
	User       *string
}

// network reports whether kind is a store reached at an address.
func network(kind string) bool {
	switch confo.BackendType(kind) {
	case confo.EtcdBackend, confo.ZookeeperBackend, confo.RedisBackend, confo.DatabaseBackend:
		return true
	}
	return false
}

// Select chooses the store from the flags given and, for what they leave
// open, the environment (read through getenv). A flag always wins over the
// environment, also when it implies another kind of store: --endpoints
// picks a network store (CONFO_BACKEND's if it names one, else etcd) and
// --config-path the file backend, whatever CONFO_CONFIG_PATH or
// CONFO_ENDPOINTS say. With neither flags nor CONFO_BACKEND, the one of
// CONFO_CONFIG_PATH and CONFO_ENDPOINTS that is set decides. Nothing
// chosen, two choices at the same level, or a flag that does not apply to
// the store chosen is an error wrapping [ErrUsage] naming them. The password
// is left to the caller.
func Select(g Given, getenv func(string) string) (Options, error) {
	var o Options
	envEndpoints, endpointsVar := getenv(EnvEndpoints), EnvEndpoints
	if envEndpoints == "" {
		envEndpoints, endpointsVar = getenv(EnvEndpointsAlias), EnvEndpointsAlias
	}
	envBackend := getenv(EnvBackend)
	switch {
	case g.Backend != nil:
		o.Backend = *g.Backend
	case g.ConfigPath != nil && g.Endpoints != nil:
		return Options{}, usagef("--config-path and --endpoints choose different stores: give one of them, or --backend")
	case g.ConfigPath != nil:
		o.Backend = string(confo.FileBackend)
	case g.Endpoints != nil:
		o.Backend = string(confo.EtcdBackend)
		if network(envBackend) {
			o.Backend = envBackend
		}
	case envBackend != "":
		o.Backend = envBackend
	case getenv(EnvConfigPath) != "" && envEndpoints != "":
		return Options{}, usagef("%s and %s are both set: choose the store with --backend or %s", EnvConfigPath, endpointsVar, EnvBackend)
	case getenv(EnvConfigPath) != "":
		o.Backend = string(confo.FileBackend)
	case envEndpoints != "":
		o.Backend = string(confo.EtcdBackend)
	default:
		return Options{}, usagef("no store chosen: set --endpoints (or %s) for etcd, --config-path (or %s) for files, or --backend (or %s)",
			EnvEndpoints, EnvConfigPath, EnvBackend)
	}
	if !validKind(o.Backend) {
		return Options{}, usagef("unknown backend %q (want one of %s)", o.Backend, strings.Join(Kinds(), ", "))
	}

	switch {
	case g.Endpoints != nil && !network(o.Backend):
		return Options{}, usagef("--endpoints does not apply to the %s backend", o.Backend)
	case g.ConfigPath != nil && o.Backend != string(confo.FileBackend):
		return Options{}, usagef("--config-path does not apply to the %s backend", o.Backend)
	}
	if network(o.Backend) {
		var from, list string
		switch {
		case g.Endpoints != nil:
			from, list = "--endpoints", strings.Join(*g.Endpoints, ",")
		case envEndpoints != "" && !(o.Backend == string(confo.DatabaseBackend) && getenv(EnvDSN) != ""):
			from, list = endpointsVar, envEndpoints
		}
		for ep := range strings.SplitSeq(list, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				if err := checkEndpoint(confo.BackendType(o.Backend), ep); err != nil {
					return Options{}, fmt.Errorf("%s: %w", from, err)
				}
				o.Endpoints = append(o.Endpoints, ep)
			}
		}
		if from != "" && len(o.Endpoints) == 0 {
			return Options{}, usagef("%s names no endpoint", from)
		}
		if o.Backend == string(confo.DatabaseBackend) && g.Endpoints == nil {
			o.DSN = getenv(EnvDSN)
		}
	}
	if o.Backend == string(confo.FileBackend) {
		o.ConfigPath = getenv(EnvConfigPath)
		if g.ConfigPath != nil {
			o.ConfigPath = *g.ConfigPath
		}
	}
	o.User = getenv(EnvUser)
	if g.User != nil {
		o.User = *g.User
	}
	return o, nil
}

// validKind reports whether kind is one of Kinds.
func validKind(kind string) bool {
	for _, k := range Kinds() {
		if k == kind {
			return true
		}
	}
	return false
}
