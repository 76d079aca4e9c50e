// Package bench measures Confo beside the raw etcd client (the limit) and
// the peer libraries koanf and viper, on one etcd started by the suite (in
// process, on loopback) or the one named by CONFO_ETCD_ENDPOINTS.
//
// It is its own module so that koanf and viper never enter the library's
// go.mod. Run it with `make bench`; BENCHMARKS.md at the root of the
// repository explains the workloads and records the figures.
package bench
