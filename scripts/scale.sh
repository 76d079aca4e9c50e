#!/usr/bin/env bash
# scale.sh: the fan-out runs that SCALE.md records, one after the other,
# each against a fresh Debian etcd that go run ./scale starts and stops.
# Every result line is appended, with its command line, to $OUT
# (default tmp/scale.txt). SIZES, PROCS and CHANGES override the set:
#   SIZES="1000 5000" scripts/scale.sh
# Takes tens of minutes on a 2-core machine at the default sizes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT=${OUT:-tmp/scale.txt}
SIZES=${SIZES:-1000 5000 10000}
PROCS=${PROCS:-4}
CHANGES=${CHANGES:-20}
mkdir -p "$(dirname "$OUT")"
bin=$(mktemp -d "${TMPDIR:-/tmp}/confo-scale-bin-XXXXXX")
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/scale" ./scale

scale() {
	echo "==> scale $*" >&2
	"$bin/scale" -out "$OUT" "$@"
}

# Memory per manager, a client each and sharing one client per process.
scale -managers 1000 -procs "$PROCS" -changes "$CHANGES"
# Fan-out, directly and through the gRPC proxy, sharing a client per process.
for n in $SIZES; do
	scale -managers "$n" -procs "$PROCS" -changes "$CHANGES" -shared
	scale -managers "$n" -procs "$PROCS" -changes "$CHANGES" -shared -proxy
done
# The write load of presence: a Reporter per manager, 5 s interval.
for n in 1000 ${PRESENCE_SIZES:-10000}; do
	scale -managers "$n" -procs "$PROCS" -changes "$CHANGES" -shared -presence 5s -pause 1s
done
echo "results appended to $OUT" >&2
