//go:build !goexperiment.jsonv2

package bench

// build is empty in a default build: see jsoncodec_v2_test.go.
const build = ""
