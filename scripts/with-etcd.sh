#!/usr/bin/env bash
# with-etcd.sh CMD [ARG...]: start a throwaway etcd server on free loopback
# ports, run CMD with CONFO_ETCD_ENDPOINTS set to its client endpoint, then
# stop the server and remove its data directory, whether CMD passed or not.
# Exits with CMD's status.
#
# ETCD_BIN chooses the binary (default /usr/bin/etcd, Debian's etcd-server
# package). Needs only bash and coreutils: ports are probed and health is
# read through bash's /dev/tcp.
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi

etcd_bin=${ETCD_BIN:-/usr/bin/etcd}
if [[ ! -x $etcd_bin ]]; then
	echo "with-etcd: no etcd binary at $etcd_bin: install Debian's etcd-server (apt-get install etcd-server) or set ETCD_BIN" >&2
	exit 1
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/confo-etcd-XXXXXX")
etcd_pid=

stop_etcd() {
	if [[ -n $etcd_pid ]] && kill -0 "$etcd_pid" 2>/dev/null; then
		kill -TERM "$etcd_pid" 2>/dev/null || true
		for _ in $(seq 100); do # up to 10 s, then KILL
			kill -0 "$etcd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$etcd_pid" 2>/dev/null || true
		wait "$etcd_pid" 2>/dev/null || true
	fi
	etcd_pid=
}

cleanup() {
	stop_etcd
	rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_in_use PORT: true when something accepts connections on it.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a port nothing listens on now. etcd binds it a moment later;
# if someone else takes it first, etcd fails to start and we try again.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		port_in_use "$port" || { echo "$port"; return; }
	done
}

# healthy PORT: etcd's /health endpoint answers {"health":"true"}.
healthy() {
	timeout 2 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
		grep -q "\"health\":\"true\"" <&3
	' _ "$1" 2>/dev/null
}

# start_etcd: start etcd and wait until it is healthy; sets endpoint.
start_etcd() {
	local client peer log=$workdir/etcd.log
	client=$(free_port)
	peer=$(free_port)
	[[ $peer != "$client" ]] || peer=$(free_port)
	rm -rf "$workdir/data"
	"$etcd_bin" \
		--name confo-e2e \
		--data-dir "$workdir/data" \
		--listen-client-urls "http://127.0.0.1:$client" \
		--advertise-client-urls "http://127.0.0.1:$client" \
		--listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "confo-e2e=http://127.0.0.1:$peer" \
		--initial-cluster-state new \
		--logger zap --log-outputs stderr --log-level warn \
		>"$log" 2>&1 &
	etcd_pid=$!
	for _ in $(seq 300); do # up to 30 s
		if ! kill -0 "$etcd_pid" 2>/dev/null; then
			wait "$etcd_pid" 2>/dev/null || true
			etcd_pid=
			echo "with-etcd: etcd exited while starting; its log:" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
		if healthy "$client"; then
			endpoint=127.0.0.1:$client
			return 0
		fi
		sleep 0.1
	done
	echo "with-etcd: etcd not healthy on 127.0.0.1:$client after 30 s; its log:" >&2
	tail -n 20 "$log" >&2
	stop_etcd
	return 1
}

endpoint=
for attempt in 1 2 3; do
	start_etcd && break
	if [[ $attempt -eq 3 ]]; then
		echo "with-etcd: could not start $etcd_bin" >&2
		exit 1
	fi
done

version=$("$etcd_bin" --version)
echo "with-etcd: ${version%%$'\n'*} at $endpoint (pid $etcd_pid)" >&2
status=0
CONFO_ETCD_ENDPOINTS=$endpoint "$@" || status=$?
exit "$status"
