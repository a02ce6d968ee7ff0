#!/bin/bash
# Runs the blockio, runqlat and syscalls sensors on one of Debian's kernels under QEMU (the
# test/kernels/vmrun.sh), once per route (auto, then each forced with --route), under workloads with
# known counts, and checks every run's records with check-aggregates.mjs, which also prints
# each loaded program's BPF time per run (the route's added cost per event on that kernel).
#   blockio: directio.c, COUNT O_DIRECT writes then reads of 64 KiB on the scratch disk vdb
#   runqlat: ebpf/runqlat/pingpong.c, COUNT round trips in their own cgroup (per_cgroup=1)
#   syscalls: sysload.c, COUNT getppid and COUNT failing close(-1) (x86_64 numbers only)
# Usage: bench/routes/aggregates.sh 5.10|6.1|6.12|6.1-arm64 [COUNT]
# EXPECT_blockio / EXPECT_runqlat (optional): the routes that must load on this kernel, the
# first being the one auto must choose; any other must be refused.
# Verified (Debian cloud kernels): 5.10       EXPECT_blockio="tp_btf raw_tp" EXPECT_runqlat="pid_hash"
#                                  6.1, 6.12, 6.1-arm64  EXPECT_blockio="tp_btf raw_tp"
#                                                        EXPECT_runqlat="task_storage pid_hash"
# Needs: npm run build (the helper and dist/), a C compiler with static libc.
set -euo pipefail
KERNEL=${1:?kernel: 5.10, 6.1, 6.12 or 6.1-arm64}
COUNT=${2:-2000}
BLOCK=65536
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VMRUN=${VMRUN:-$ROOT/test/kernels/vmrun.sh}
# Cross builds: HELPER=ebpf/build/arm64/bpfwasm-helper CC=aarch64-linux-gnu-gcc for 6.1-arm64.
HELPER=${HELPER:-$ROOT/ebpf/build/bpfwasm-helper}
# Not under /tmp: the guest mounts a fresh tmpfs there.
WORK=$(mktemp -d /var/tmp/bpfwasm-routes2.XXXXXX)
OUT=$WORK/out
# KEEP=1 keeps the VM's output (frames, stderr) for a look afterwards.
[ -n "${KEEP:-}" ] && echo "output in $WORK/out" || trap 'rm -rf "$WORK"' EXIT

CC=${CC:-cc}
$CC -O2 -static -Wall -o "$WORK/directio" "$ROOT/bench/routes/directio.c"
$CC -O2 -static -Wall -o "$WORK/pingpong" "$ROOT/ebpf/runqlat/pingpong.c"
$CC -O2 -static -Wall -o "$WORK/sysload" "$ROOT/bench/routes/sysload.c"
SENSORS="blockio runqlat syscalls"
[ "$KERNEL" = 6.1-arm64 ] && SENSORS="blockio runqlat"
routes() {
	case $1 in
	blockio) echo auto tp_btf raw_tp ;;
	runqlat) echo auto task_storage pid_hash ;;
	syscalls) echo auto ;;
	esac
}

cat > "$WORK/guest.sh" <<GUEST
set -u
H=$HELPER
# Starts the helper in the background, its stdin a FIFO held open (EOF would stop it), and
# waits for READY; \$1 = run name.
mkfifo /run/helper-stdin
start() {
	name=\$1; shift
	\$H --aggregate-ms 100 --stats-ms 100 "\$@" </run/helper-stdin >/out/\$name.frames 2>/out/\$name.err &
	pid=\$!
	exec 3>/run/helper-stdin
	for i in \$(seq 1 300); do
		grep -q load_ms /out/\$name.frames 2>/dev/null && return 0
		kill -0 \$pid 2>/dev/null || { exec 3>&-; wait \$pid; echo "\$name: exit \$?" >/out/\$name.exit; return 1; }
		sleep 0.1
	done
	return 1
}
stop() { sleep 0.5; kill -TERM \$pid; wait \$pid; echo "\$name: exit \$?" >/out/\$name.exit; exec 3>&-; }

cat /sys/block/vdb/dev >/out/vdb-dev
mkdir -p /sys/fs/cgroup/rq
stat -c %i /sys/fs/cgroup/rq >/out/rq-cgroup-id
GUEST
# One helper run per sensor and route: start, workload, stop.
for sensor in $SENSORS; do
	for route in $(routes "$sensor"); do
		case $sensor in
		blockio) load="$WORK/directio /dev/vdb $BLOCK $COUNT" ;;
		runqlat)
			load="sh -c 'echo \$\$ >/sys/fs/cgroup/rq/cgroup.procs; exec $WORK/pingpong $COUNT' >/out/$sensor-$route.load"
			;;
		syscalls) load="$WORK/sysload $COUNT" ;;
		esac
		set_opt=""
		[ "$sensor" = runqlat ] && set_opt="--set runqlat.per_cgroup=1"
		[ "$sensor" = syscalls ] && set_opt="--set syscalls.filter_comm=sysload"
		route_opt=""
		[ "$sensor" != syscalls ] && route_opt="--route $sensor=$route"
		echo "start $sensor-$route --sensors $sensor $route_opt $set_opt && { $load; stop; }" >>"$WORK/guest.sh"
	done
done

mkdir -p "$OUT"
"$VMRUN" --out "$OUT" --kernel "$KERNEL" --mem 512 --timeout 400 --add "$HELPER" --add "$WORK" \
	-- "sh $WORK/guest.sh" >"$WORK/console" 2>&1 || { tail -20 "$WORK/console"; exit 1; }

status=0
for sensor in $SENSORS; do
	for route in $(routes "$sensor"); do
		run=$sensor-$route
		if [ ! -s "$OUT/$run.frames" ] || ! grep -q load_ms "$OUT/$run.frames"; then
			echo "$run: not loaded ($(cat "$OUT/$run.exit" 2>/dev/null)): $(tail -1 "$OUT/$run.err")"
			status=1
			continue
		fi
		result=$(node "$ROOT/bench/routes/check-aggregates.mjs" "$sensor" "$OUT/$run.frames" "$route" "$COUNT" \
			"$BLOCK" "$(cat "$OUT/vdb-dev")" "$(cat "$OUT/rq-cgroup-id")" \
			"$(cat "$OUT/$run.load" 2>/dev/null || true)") || status=1
		echo "$result"
		expected=EXPECT_$sensor
		expected=${!expected:-}
		[ -n "$expected" ] || continue
		if [ "$route" = auto ]; then
			chosen=$(echo "$result" | grep -o '"route":"[a-z_]*"' | cut -d'"' -f4)
			[ "$chosen" = "${expected%% *}" ] ||
				{ echo "$run: auto chose $chosen, expected ${expected%% *} (EXPECT_$sensor)"; status=1; }
		else
			case " $expected " in *" $route "*) must=yes ;; *) must=no ;; esac
			loaded=yes
			echo "$result" | grep -q '"unavailable"' && loaded=no
			[ "$loaded" = "$must" ] ||
				{ echo "$run: loaded $loaded, expected $must (EXPECT_$sensor)"; status=1; }
		fi
	done
done
exit $status
