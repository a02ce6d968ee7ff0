#!/bin/bash
# Runs the tcp and oom sensors on one of Debian's kernels under QEMU (test/kernels/vmrun.sh), once
# per route (auto, then each forced with --route), under workloads with known counts, and
# checks every run's records with check.mjs. With COST_ROUNDS=N, then measures the added cost
# per send/receive call of each tcp route next to no sensor (sendload.c, N alternating rounds,
# medians). Usage: [COST_ROUNDS=N] bench/routes/run.sh 5.10|6.1|6.12|6.1-arm64 [CONNS]
# EXPECT_tcp / EXPECT_oom (optional, e.g. EXPECT_tcp="fentry kprobe"): the routes that must
# load on this kernel, the first being the one auto must choose; any other must be refused.
# Verified (Debian cloud kernels):  5.10  EXPECT_tcp="fentry kprobe"        EXPECT_oom="fentry kprobe"
#                                   6.1   EXPECT_tcp="fentry kprobe"        EXPECT_oom="tp_btf fentry kprobe"
#                                   6.12  EXPECT_tcp="tp_btf fentry kprobe" EXPECT_oom="tp_btf fentry kprobe"
#                             6.1-arm64   EXPECT_tcp="kprobe"               EXPECT_oom="tp_btf kprobe"
# Needs: npm run build (the helper and dist/), a C compiler with static libc. For another
# architecture, point HELPER at its helper and CC at its (static) cross compiler.
set -euo pipefail
KERNEL=${1:?kernel: 5.10, 6.1, 6.12 or 6.1-arm64}
CONNS=${2:-200}
SEND=3000
REPLY=70000
OOM_MAX_PAGES=4096 # memory.max of the victim's cgroup: 16 MiB
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VMRUN=${VMRUN:-$ROOT/test/kernels/vmrun.sh}
HELPER=${HELPER:-$ROOT/ebpf/build/bpfwasm-helper}
CC=${CC:-cc}
# Not under /tmp: the guest mounts a fresh tmpfs there.
WORK=$(mktemp -d /var/tmp/bpfwasm-routes.XXXXXX)
OUT=$WORK/out
# KEEP=1 keeps the VM's output (frames, stderr) for a look afterwards.
[ -n "${KEEP:-}" ] && echo "output in $WORK/out" || trap 'rm -rf "$WORK"' EXIT

"$CC" -O2 -static -Wall -o "$WORK/tcpload" "$ROOT/bench/routes/tcpload.c"
"$CC" -O2 -static -Wall -o "$WORK/oomload" "$ROOT/bench/routes/oomload.c"
"$CC" -O2 -static -Wall -o "$WORK/sendload" "$ROOT/bench/routes/sendload.c"
COST_ROUNDS=${COST_ROUNDS:-0}
COST_CALLS=${COST_CALLS:-20000}

cp "$HELPER" "$WORK/bpfwasm-helper" # wherever it is built: the guest hides the host's /tmp

cat > "$WORK/guest.sh" <<GUEST
set -u
H=$WORK/bpfwasm-helper
# Starts the helper in the background, its stdin a FIFO held open (EOF would stop it), and
# waits for READY; \$1 = run name.
mkfifo /run/helper-stdin
start() {
	name=\$1; shift
	\$H "\$@" </run/helper-stdin >/out/\$name.frames 2>/out/\$name.err &
	pid=\$!
	exec 3>/run/helper-stdin
	for i in \$(seq 1 300); do
		grep -q load_ms /out/\$name.frames 2>/dev/null && return 0
		kill -0 \$pid 2>/dev/null || { exec 3>&-; wait \$pid; echo "\$name: exit \$?" >/out/\$name.exit; return 1; }
		sleep 0.1
	done
	return 1
}
stop() { kill -TERM \$pid; wait \$pid; echo "\$name: exit \$?" >/out/\$name.exit; exec 3>&-; }

$WORK/tcpload $CONNS $SEND $REPLY >/out/tcp-none.load
for route in auto tp_btf fentry kprobe; do
	start tcp-\$route --sensors tcp --route tcp=\$route || continue
	$WORK/tcpload $CONNS $SEND $REPLY >/out/tcp-\$route.load
	sleep 0.5
	stop
done

mkdir -p /sys/fs/cgroup/rt
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
echo $((OOM_MAX_PAGES * 4096)) >/sys/fs/cgroup/rt/memory.max
stat -c %i /sys/fs/cgroup/rt >/out/oom-memcg-id
for route in auto tp_btf fentry kprobe; do
	start oom-\$route --sensors oom --route oom=\$route || continue
	sh -c "echo \\\$\\\$ >/sys/fs/cgroup/rt/cgroup.procs; exec $WORK/oomload 64"
	sleep 0.5
	stop
done
grep oom_kill /sys/fs/cgroup/rt/memory.events >/out/oom-memory-events

for round in \$(seq 1 $COST_ROUNDS); do
	$WORK/sendload $COST_CALLS >>/out/cost-none.load
	for route in tp_btf fentry kprobe; do
		start cost-\$route-\$round --sensors tcp --route tcp=\$route || continue
		$WORK/sendload $COST_CALLS >>/out/cost-\$route.load
		stop
	done
done
GUEST

mkdir -p "$OUT"
"$VMRUN" --out "$OUT" --kernel "$KERNEL" --mem 512 --timeout 300 --add "$WORK" \
	-- "sh $WORK/guest.sh" >"$WORK/console" 2>&1 || { tail -20 "$WORK/console"; exit 1; }

status=0
echo "kernel $KERNEL: no sensor: $(cat "$OUT/tcp-none.load")"
echo "kernel $KERNEL: memory.events after the oom runs: $(cat "$OUT/oom-memory-events")"
for sensor in tcp oom; do
	for route in auto tp_btf fentry kprobe; do
		run=$sensor-$route
		expected=EXPECT_$sensor
		expected=${!expected:-}
		loaded=yes
		[ -s "$OUT/$run.frames" ] && grep -q load_ms "$OUT/$run.frames" || loaded=no
		if [ -n "$expected" ] && [ "$route" != auto ]; then
			case " $expected " in *" $route "*) must=yes ;; *) must=no ;; esac
			[ "$loaded" = "$must" ] || { echo "$run: loaded $loaded, expected $must (EXPECT_$sensor)"; status=1; }
		fi
		if [ "$loaded" = no ]; then
			echo "$run: not loaded ($(cat "$OUT/$run.exit" 2>/dev/null)): $(tail -1 "$OUT/$run.err")"
			[ "$route" = auto ] && status=1
			continue
		fi
		if [ "$sensor" = tcp ]; then
			args=("$CONNS" "$SEND" "$REPLY")
			echo "$run workload: $(cat "$OUT/$run.load")"
		else
			args=(1 "$(cat "$OUT/oom-memcg-id")" "$OOM_MAX_PAGES")
		fi
		summary=$(node "$ROOT/bench/routes/check.mjs" "$sensor" "$OUT/$run.frames" "$route" "${args[@]}") || status=1
		echo "$summary"
		chosen=$(node -e 'console.log(JSON.parse(process.argv[1]).route)' "$summary")
		if [ "$route" = auto ] && [ -n "$expected" ] && [ "$chosen" != "${expected%% *}" ]; then
			echo "$run: auto chose $chosen, expected ${expected%% *} (EXPECT_$sensor)"
			status=1
		fi
	done
done
[ "$COST_ROUNDS" -gt 0 ] || exit $status
# ns per write+read pair: median over the rounds; BPF time per program run from the last round.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
none=$(awk '{ print $4 }' "$OUT/cost-none.load" | median)
echo "cost on $KERNEL, $COST_CALLS write+read pairs on one loopback connection, median of $COST_ROUNDS rounds:"
echo "  no sensor: $none ns per pair"
for route in tp_btf fentry kprobe; do
	[ -s "$OUT/cost-$route.load" ] || { echo "  $route: not available"; continue; }
	ns=$(awk '{ print $4 }' "$OUT/cost-$route.load" | median)
	echo "  $route: $ns ns per pair (+$((ns - none)) ns: two hook calls and their programs);" \
		"programs: $(node "$ROOT/bench/routes/check.mjs" tcp-cost "$OUT/cost-$route-$COST_ROUNDS.frames" "$route" |
			node -e 'const r = JSON.parse(require("fs").readFileSync(0)).runs; for (const [p, v] of Object.entries(r)) if (/send|recv/.test(p)) process.stdout.write(`${p} ${v.nsPerRun} ns/run (${v.runs} runs) `)')"
done
exit $status
