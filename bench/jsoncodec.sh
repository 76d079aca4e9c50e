#!/usr/bin/env bash
# The JSON codec comparison of BENCHMARKS.md ("JSON codecs: internal/jsonvalue
# beside the libraries"), in one run: internal/jsonvalue, encoding/json,
# goccy/go-json and bytedance/sonic from a default build, encoding/json/v2
# and encoding/json running on it from a GOEXPERIMENT=jsonv2 build (Go 1.26
# has v2 only behind the experiment), the two binaries taking turns for each
# of the COUNT counts so that the machine's load falls on all alike; with the
# end-to-end Reload and Persist of Confo and the raw client beside them.
# Writes OUT (jsoncodec.txt) and prints benchstat's tables.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

count=${COUNT:-6}
out=${OUT:-jsoncodec.txt}
benchtime=${BENCHTIME:-1s}
benchstat=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -mod=mod -c -o "$tmp/default.test" .
GOEXPERIMENT=jsonv2 go test -mod=mod -c -o "$tmp/jsonv2.test" .

default='^Benchmark(CodecDecode|CodecEncode|Reload|Persist)$/^N=(1000|10000)$/^lib=(jsonvalue|std|std-float|goccy|goccy-float|sonic|sonic-int64|confo|raw|raw-nodecode)$'
jsonv2='^BenchmarkCodec(Decode|Encode)$/^N=(1000|10000)$/^lib=(std|v2)'

: >"$out"
for i in $(seq "$count"); do
	echo "# count $i of $count, $(date -u +%FT%TZ), load:$(uptime | sed 's/.*load average://')" | tee -a "$out"
	"$tmp/default.test" -test.run '^$' -test.bench "$default" -test.benchmem -test.benchtime "$benchtime" -test.count 1 | tee -a "$out"
	"$tmp/jsonv2.test" -test.run '^$' -test.bench "$jsonv2" -test.benchmem -test.benchtime "$benchtime" -test.count 1 | tee -a "$out"
done

$benchstat -filter '.name:CodecDecode' -col /lib "$out"
$benchstat -filter '.name:CodecEncode' -col /lib "$out"
$benchstat -filter '.name:(Reload OR Persist)' -col /lib "$out"
