package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnce runs the example against its in-process etcd and checks that
// Prometheus gets the confo metrics.
func TestOnce(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, "127.0.0.1:0", true, ""))
	text := out.String()
	for _, want := range []string{
		`confo_commit_duration_seconds_count{confo_namespace="demo",confo_outcome="ok"`,
		`confo_load_duration_seconds_count{confo_namespace="demo",confo_outcome="ok"`,
		`confo_written_bytes_total{confo_namespace="demo"`,
		`confo_watch_lag{confo_namespace="demo",instance="example"`,
		`confo_quarantined{confo_namespace="demo",instance="example"`,
		`confo_namespaces_stale{instance="example"`,
	} {
		assert.True(t, strings.Contains(text, want), "no %s in the scrape", want)
	}
}
