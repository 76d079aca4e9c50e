package main

import (
	"fmt"
	"slices"
	"time"
)

// result is what one run measured.
type result struct {
	opts options

	loaded, failed            int
	retries                   int64
	storm                     time.Duration // first worker started to last manager watching
	loadP50, loadP99, loadMax int64         // ms, per manager: start to watching
	heap, rss                 int64         // bytes, all workers, after start minus before
	delivered, missed         int
	p50, p99, max             int64 // µs, every delivery
	lastP50, lastP99          int64 // µs, per change: to the last manager
	changePhase               time.Duration
	clientCPU, etcdCPU        time.Duration
	proxyCPU                  time.Duration
	etcdRSS, proxyRSS         int64
	presenceWrites            int64 // store revisions beyond the changes during the change phase
	reporterWrites            int   // records the Reporters say they wrote, whole run
	presenceErrors            int64 // presence writes refused (retried), whole run
}

// percentiles returns the 50th and 99th percentiles and the maximum of v
// (nearest rank), sorting v.
func percentiles(v []int64) (p50, p99, maxv int64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	rank := func(p float64) int64 {
		i := int(p*float64(len(v))+0.999999) - 1
		return v[min(max(i, 0), len(v)-1)]
	}
	return rank(0.50), rank(0.99), v[len(v)-1]
}

func ms(us int64) string { return fmt.Sprintf("%.1f", float64(us)/1000) }

// String returns the run's figures on one line.
func (r *result) String() string {
	o := r.opts
	mode := "own-client"
	if o.Shared {
		mode = "shared-client"
	}
	path := "direct"
	if o.Proxy {
		path = "proxy"
	}
	perMgr := func(b int64) string {
		if r.loaded == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f kB", float64(b)/float64(r.loaded)/1000)
	}
	perEvent := func(d time.Duration) string {
		if r.delivered == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f µs", float64(d.Microseconds())/float64(r.delivered))
	}
	s := fmt.Sprintf("managers=%d procs=%d %s %s changes=%d | delivered=%d missed=%d | p50=%sms p99=%sms max=%sms | last-instance p50=%sms p99=%sms"+
		" | storm=%s load p50=%dms p99=%dms max=%dms failed=%d retries=%d | heap+stacks/manager=%s rss/manager=%s"+
		" | client CPU/event=%s etcd CPU/event=%s etcd RSS=%.0f MB",
		o.Managers, o.Procs, mode, path, o.Changes, r.delivered, r.missed, ms(r.p50), ms(r.p99), ms(r.max), ms(r.lastP50), ms(r.lastP99),
		r.storm.Round(time.Millisecond), r.loadP50, r.loadP99, r.loadMax, r.failed, r.retries, perMgr(r.heap), perMgr(r.rss),
		perEvent(r.clientCPU), perEvent(r.etcdCPU), float64(r.etcdRSS)/1e6)
	if o.Proxy {
		s += fmt.Sprintf(" proxy CPU/event=%s proxy RSS=%.0f MB", perEvent(r.proxyCPU), float64(r.proxyRSS)/1e6)
	}
	if o.Presence > 0 {
		s += fmt.Sprintf(" | presence interval=%s: %d store writes in the change phase (%s), %.2f per manager per change; reporters wrote %d, %d writes refused and retried",
			o.Presence, r.presenceWrites, r.changePhase.Round(time.Millisecond),
			float64(r.presenceWrites)/float64(max(1, r.loaded))/float64(max(1, o.Changes)), r.reporterWrites, r.presenceErrors)
	}
	return s
}
