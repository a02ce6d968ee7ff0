#!/bin/sh
# Runs inside a matrix VM (busybox sh): for each line "SENSOR<TAB>WORKLOAD" of PLAN, starts the
# helper with that one sensor, waits for its READY frame, runs WORKLOAD (with $W the workload
# binary), then closes the helper's stdin so it flushes and exits. Leaves in /out, per sensor:
# SENSOR.frames (stdout), SENSOR.err (stderr), SENSOR.rc (exit code), SENSOR.workload (output + rc).
# Then profile mode for 2 s at 999 Hz over a busy shell loop: profile.frames, profile.err, profile.rc.
#   guest.sh HELPER W PLAN
HELPER=$1 W=$2 PLAN=$3
export W
tab=$(printf '\t')
while IFS="$tab" read -r s cmd; do
  mkfifo /tmp/stdin-$s
  "$HELPER" --sensors "$s" --poll-ms 5 --stats-ms 200 </tmp/stdin-$s >/out/$s.frames 2>/out/$s.err &
  pid=$!
  exec 3>/tmp/stdin-$s
  start=$(date +%s)
  # READY is the only frame whose JSON has load_ms; a helper that exits first failed to start.
  until grep -q load_ms /out/$s.frames; do
    kill -0 $pid 2>/dev/null || break
    [ $(( $(date +%s) - start )) -lt 120 ] || { echo "guest: no READY after 120 s" >>/out/$s.err; kill $pid; break; }
    sleep 0.1
  done
  if grep -q load_ms /out/$s.frames; then
    sh -c "$cmd" >/out/$s.workload 2>&1 </dev/null
    echo "rc=$?" >>/out/$s.workload
    sleep 1 # the last records reach the ring, and TCP sockets finish closing
  fi
  exec 3>&-
  wait $pid
  echo $? >/out/$s.rc
  echo "guest: $s exit $(cat /out/$s.rc)"
done <"$PLAN"
# stdin stays open (sleep) so the helper samples its full 2 s; a shell loop keeps the CPU busy.
sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done' &
sleep 4 | "$HELPER" --profile --seconds 2 --hz 999 >/out/profile.frames 2>/out/profile.err
echo $? >/out/profile.rc
echo "guest: profile exit $(cat /out/profile.rc)"
