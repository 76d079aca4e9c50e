#!/usr/bin/env bash
# Usage: scripts/fuzz.sh FUZZTIME TARGET...
# Runs each fuzz target for FUZZTIME: TARGET is a fuzz function of the root
# package, or PKG:NAME for one of package PKG (./schema:FuzzX). A target fails when
# go test finds an input that breaks it (it writes the input under
# testdata/fuzz/TARGET/, and make test replays it from then on).
#
# Go's fuzz coordinator can also end a duration-bounded run with a bare
# "context deadline exceeded" when -fuzztime expires while a worker is busy
# (minimizing a new input, say) — a race in the toolchain, not a finding
# (go.dev/issue/75804). Such a run wrote no input; it counts as a pass once
# the target's whole corpus replays cleanly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
fuzztime=$1
shift
for spec in "$@"; do
	pkg=.
	target=$spec
	if [[ $spec == *:* ]]; then
		pkg=${spec%%:*}
		target=${spec#*:}
	fi
	dir=$pkg/testdata/fuzz/$target
	before=$(ls "$dir" 2>/dev/null | sort || true)
	echo "$GO test -run '^\$' -fuzz '^$target\$' -fuzztime $fuzztime $pkg"
	log=$(mktemp)
	if "$GO" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
		rm -f "$log"
		continue
	fi
	after=$(ls "$dir" 2>/dev/null | sort || true)
	if [[ $before != "$after" ]] || ! grep -q '^    context deadline exceeded$' "$log"; then
		rm -f "$log"
		echo "fuzz: $target failed; a failing input, if any, is in $dir" >&2
		exit 1
	fi
	rm -f "$log"
	echo "fuzz: $target hit Go's fuzztime deadline race (no failing input written); replaying its corpus"
	"$GO" test -count=1 -run "^$target\$" "$pkg"
done
