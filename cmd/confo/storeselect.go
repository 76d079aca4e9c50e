package main

import (
	"fmt"
	"strings"

	"github.com/confo-go/confo"
)

// The environment variables that choose a store, one family for every
// store. A flag always wins over its variable.
const (
	// envBackend names the backend type.
	envBackend = "CONFO_BACKEND"
	// envEndpoints lists the store's host:port addresses, comma-separated:
	// etcd, ZooKeeper, Redis or PostgreSQL.
	envEndpoints = "CONFO_ENDPOINTS"
	// envEndpointsAlias is the former name of envEndpoints, still read
	// when envEndpoints is not set.
	envEndpointsAlias = "CONFO_ETCD_ENDPOINTS"
	// envUser and envPassword authenticate.
	envUser     = "CONFO_USER"
	envPassword = "CONFO_PASSWORD"
	// envConfigPath is the file backend's directory.
	envConfigPath = "CONFO_CONFIG_PATH"
	// envDSN is the database backend's connection string.
	envDSN = "CONFO_DSN"
)

// storeFlags is what a command line set; a nil field was not given.
type storeFlags struct {
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
// the store chosen is a usage error naming them. The password
// is left to the caller.
func chooseStore(g storeFlags, getenv func(string) string) (storeOptions, error) {
	var o storeOptions
	epsFromEnv, endpointsVar := getenv(envEndpoints), envEndpoints
	if epsFromEnv == "" {
		epsFromEnv, endpointsVar = getenv(envEndpointsAlias), envEndpointsAlias
	}
	kindFromEnv := getenv(envBackend)
	switch {
	case g.Backend != nil:
		o.Backend = *g.Backend
	case g.ConfigPath != nil && g.Endpoints != nil:
		return storeOptions{}, usagef("--config-path and --endpoints choose different stores: give one of them, or --backend")
	case g.ConfigPath != nil:
		o.Backend = string(confo.FileBackend)
	case g.Endpoints != nil:
		o.Backend = string(confo.EtcdBackend)
		if network(kindFromEnv) {
			o.Backend = kindFromEnv
		}
	case kindFromEnv != "":
		o.Backend = kindFromEnv
	case getenv(envConfigPath) != "" && epsFromEnv != "":
		return storeOptions{}, usagef("%s and %s are both set: choose the store with --backend or %s", envConfigPath, endpointsVar, envBackend)
	case getenv(envConfigPath) != "":
		o.Backend = string(confo.FileBackend)
	case epsFromEnv != "":
		o.Backend = string(confo.EtcdBackend)
	default:
		return storeOptions{}, usagef("no store chosen: set --endpoints (or %s) for etcd, --config-path (or %s) for files, or --backend (or %s)",
			envEndpoints, envConfigPath, envBackend)
	}
	if !validKind(o.Backend) {
		return storeOptions{}, usagef("unknown backend %q (want one of %s)", o.Backend, strings.Join(storeKinds(), ", "))
	}

	switch {
	case g.Endpoints != nil && !network(o.Backend):
		return storeOptions{}, usagef("--endpoints does not apply to the %s backend", o.Backend)
	case g.ConfigPath != nil && o.Backend != string(confo.FileBackend):
		return storeOptions{}, usagef("--config-path does not apply to the %s backend", o.Backend)
	}
	if network(o.Backend) {
		var from, list string
		switch {
		case g.Endpoints != nil:
			from, list = "--endpoints", strings.Join(*g.Endpoints, ",")
		case epsFromEnv != "" && !(o.Backend == string(confo.DatabaseBackend) && getenv(envDSN) != ""):
			from, list = endpointsVar, epsFromEnv
		}
		for ep := range strings.SplitSeq(list, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				if err := checkEndpoint(confo.BackendType(o.Backend), ep); err != nil {
					return storeOptions{}, fmt.Errorf("%s: %w", from, err)
				}
				o.Endpoints = append(o.Endpoints, ep)
			}
		}
		if from != "" && len(o.Endpoints) == 0 {
			return storeOptions{}, usagef("%s names no endpoint", from)
		}
		if o.Backend == string(confo.DatabaseBackend) && g.Endpoints == nil {
			o.DSN = getenv(envDSN)
		}
	}
	if o.Backend == string(confo.FileBackend) {
		o.ConfigPath = getenv(envConfigPath)
		if g.ConfigPath != nil {
			o.ConfigPath = *g.ConfigPath
		}
	}
	o.User = getenv(envUser)
	if g.User != nil {
		o.User = *g.User
	}
	return o, nil
}

// validKind reports whether kind is one of Kinds.
func validKind(kind string) bool {
	for _, k := range storeKinds() {
		if k == kind {
			return true
		}
	}
	return false
}
