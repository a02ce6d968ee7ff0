#!/usr/bin/env bash
# Runs a shell command as root inside one of the matrix's Debian kernels under QEMU (TCG, 1 vCPU).
#   vmrun.sh --kernel ID [--mem MB] [--add PATH]... [--out DIR] [--timeout S] -- CMD
# ID is a kernel id of packages.tsv (fetched on first use). Debian's cloud kernels have no 9p, so
# nothing is shared with the host: the initramfs holds busybox and every --add PATH at the same
# absolute path (x86_64 ELF executables and native addons with their ldd libraries; arm64 payloads
# must be static).
# Inside: /proc /sys tracefs debugfs bpffs cgroup2, the initramfs itself (RAM, so a payload
# under /tmp or /run stays where it is) for /tmp, lo up, /dev/vdb a blank 256 MiB disk for
# block I/O, and /out, which comes back to --out DIR as a tar on a second disk. The exit code is
# CMD's (125 when the VM did not finish); the console goes to stdout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${BPFWASM_KERNEL_CACHE:-$HERE/../../.cache/kernels}
KERNEL=6.1 MEM=1024 TIMEOUT=600 OUT=./vmrun-out ADDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) KERNEL=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --add) ADDS+=("$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "vmrun: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "vmrun: no command" >&2; exit 2; }
case "$KERNEL" in *-arm64) ARCH=aarch64; "$HERE/fetch.sh" "$KERNEL" busybox-arm64 ;; *) ARCH=x86_64; "$HERE/fetch.sh" "$KERNEL" ;; esac
KDIR=$CACHE/x/$KERNEL
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
MODROOT=$(ls -d "$KDIR"/lib/modules/* "$KDIR"/usr/lib/modules/* 2>/dev/null | head -1 || true)

WORK=$(mktemp -d /tmp/bpfwasm-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,proc,sys,dev,tmp,run,out,mnt,etc,lib/modules,usr/bin,usr/sbin,root}

if [ "$ARCH" = x86_64 ]; then BUSYBOX=/bin/busybox; else BUSYBOX=$CACHE/x/busybox-arm64/usr/bin/busybox; fi
cp "$BUSYBOX" "$ROOT/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$ROOT/bin/$a" ] || ln -s busybox "$ROOT/bin/$a"; done

# virtio modules in dependency order (no depmod in the VM; those built in are simply absent),
# decompressed because busybox insmod reads plain .ko files
for name in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio virtio_blk; do
  path=$(find "$MODROOT/kernel/drivers" -name "$name.ko*" | head -1)
  [ -n "$path" ] || continue
  case "$path" in
    *.xz) xz -dc "$path" > "$ROOT/lib/modules/$name.ko" ;;
    *.zst) zstd -qdc "$path" > "$ROOT/lib/modules/$name.ko" ;;
    *) cp "$path" "$ROOT/lib/modules/$name.ko" ;;
  esac
  echo "$name" >> "$ROOT/etc/modules.order"
done

add() {
  local p=$1
  mkdir -p "$ROOT$(dirname "$p")"
  cp -a "$p" "$ROOT$(dirname "$p")/"
  [ "$ARCH" = x86_64 ] || return 0
  find "$p" -type f \( -perm -u+x -o -name '*.node' -o -name '*.so*' \) | while read -r f; do
    file -b "$f" | grep -q 'ELF.*dynamic' || continue
    ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
      [ -e "$ROOT$lib" ] && continue
      mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"
    done
  done
}
for p in "${ADDS[@]}"; do
  p=$(readlink -f "$p")
  case "$p" in /proc/*|/sys/*|/dev/*|/out/*) echo "vmrun: --add $p: the VM mounts over that directory; use another path" >&2; exit 2 ;; esac
  add "$p"
done
ln -sf ../../bin/busybox "$ROOT/usr/bin/env"

printf '%s\n' "$*" > "$ROOT/etc/vmrun.cmd"
cat > "$ROOT/init" <<'INIT'
#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
for m in $(cat /etc/modules.order); do insmod /lib/modules/$m.ko; done
ip link set lo up 2>/dev/null
echo "vmrun: kernel $(uname -r) $(uname -m)"
sh -c "$(cat /etc/vmrun.cmd)"
rc=$?
(cd /out && tar cf /tmp/out.tar .) && dd if=/tmp/out.tar of=/dev/vda bs=1M conv=fsync 2>/dev/null
echo "vmrun-exit=$rc"
poweroff -f
INIT
chmod +x "$ROOT/init"
# Uncompressed: under TCG the guest would spend seconds inflating a large payload.
(cd "$ROOT" && find . | cpio -o -H newc --quiet) > "$WORK/initrd.cpio"
echo "vmrun: initramfs of $(du -sm "$WORK/initrd.cpio" | cut -f1) MiB built in ${SECONDS} s" >&2
truncate -s 256M "$WORK/scratch.img"
truncate -s "$(( $(du -sm "$ROOT/out" | cut -f1) + 256 ))M" "$WORK/out.img"

if [ "$ARCH" = x86_64 ]; then
  QEMU=(qemu-system-x86_64 -cpu max -machine q35 -append "console=ttyS0 panic=-1 quiet")
else
  QEMU=(qemu-system-aarch64 -M virt -cpu max -append "console=ttyAMA0 panic=-1 quiet")
fi
set +e
timeout "$TIMEOUT" "${QEMU[@]}" -m "$MEM" -smp 1 -kernel "$VMLINUZ" -initrd "$WORK/initrd.cpio" \
  -drive file="$WORK/out.img",format=raw,if=virtio \
  -drive file="$WORK/scratch.img",format=raw,if=virtio \
  -nographic -no-reboot -nodefaults -serial stdio 2>&1 | tee "$WORK/console.log"
set -e
mkdir -p "$OUT"
tar xf "$WORK/out.img" -C "$OUT" 2>/dev/null || true
rc=$(grep -ao 'vmrun-exit=[0-9]*' "$WORK/console.log" | tail -1 | cut -d= -f2)
echo "vmrun: done after ${SECONDS} s" >&2
[ -n "$rc" ] || { echo "vmrun: the VM did not finish (timeout or crash)" >&2; exit 125; }
exit "$rc"
