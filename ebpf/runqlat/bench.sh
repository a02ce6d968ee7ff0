#!/bin/bash
# The README's cost measurement: pipe ping-pong runs alternating without and with the runqlat
# sensor attached (a fresh helper each time), medians of wall and CPU ns per round trip.
#   ebpf/runqlat/bench.sh [extra helper args, e.g. --set runqlat.per_cgroup=1]
# Env: RUNS (11), N round trips per run (30000). Needs root and a built helper (make -C ebpf).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
helper="$here/../build/bpfwasm-helper"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -o "$work/pingpong" "$here/pingpong.c"
[ -x "$helper" ] || { echo "bench.sh: build the helper first (make -C ebpf)" >&2; exit 1; }

for _ in $(seq "${RUNS:-11}"); do
	"$work/pingpong" "${N:-30000}" 0 >> "$work/off"
	# The helper stops when its stdin closes: fd 3 is that pipe.
	exec 3> >("$helper" --sensors runqlat "$@" > /dev/null)
	sleep 0.6 # load and attach
	"$work/pingpong" "${N:-30000}" 0 >> "$work/on"
	exec 3>&-
	sleep 0.3
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for run in off on; do
	echo "$run: wall $(cut -d' ' -f1 "$work/$run" | median) ns, cpu $(cut -d' ' -f2 "$work/$run" | median) ns per round trip"
done
