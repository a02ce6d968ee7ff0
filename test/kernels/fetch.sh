#!/usr/bin/env bash
# Downloads and unpacks the pinned Debian packages of packages.tsv for the given ids (kernel ids,
# busybox-arm64, sysroot-arm64) into $BPFWASM_KERNEL_CACHE/x/<id>/, doing only what is missing.
# apt runs with a private sources list and state directory in the cache: the machine's own apt
# configuration and dpkg architectures are never touched.
#   fetch.sh 6.1 5.10 ...      prints nothing on success; the unpacked trees are in the cache
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${BPFWASM_KERNEL_CACHE:-$HERE/../../.cache/kernels}
APTDIR=$CACHE/apt
mkdir -p "$APTDIR"/{etc,lists/partial,cache/archives/partial,parts} "$CACHE"/{debs,x}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
{
  for suite in $(awk '!/^#/ && NF {print $2}' "$HERE/packages.tsv" | sort -u); do
    echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $suite main"
  done
} > "$APTDIR/etc/sources.list"
: > "$APTDIR/status"
APT=(-o Dir::Etc::sourcelist="$APTDIR/etc/sources.list" -o Dir::Etc::sourceparts="$APTDIR/parts"
  -o Dir::Etc::preferencesparts="$APTDIR/parts" -o Dir::State="$APTDIR" -o Dir::State::lists="$APTDIR/lists"
  -o Dir::State::status="$APTDIR/status" -o Dir::Cache="$APTDIR/cache"
  -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)

updated=
for id in "$@"; do
  rows=$(awk -F'\t' -v id="$id" '!/^#/ && $1 == id' "$HERE/packages.tsv")
  [ -n "$rows" ] || { echo "fetch: no package for '$id' in $HERE/packages.tsv" >&2; exit 2; }
  out=$CACHE/x/$id
  stamp=$(printf '%s\n' "$rows" | md5sum | cut -c1-12)
  [ -f "$out/.fetched-$stamp" ] && continue
  rm -rf "$out"; mkdir -p "$out"
  while IFS=$'\t' read -r _ suite arch pkg version; do
    deb=$CACHE/debs/${pkg}_${version/:/%3a}_$arch.deb
    if [ ! -s "$deb" ]; then
      if [ -z "$updated" ]; then apt-get "${APT[@]}" update -qq >&2; updated=1; fi
      if ! (cd "$CACHE/debs" && apt-get "${APT[@]}" download -qq "$pkg:$arch=$version" >&2); then
        have=$(apt-cache "${APT[@]}" madison "$pkg:$arch" 2>/dev/null | awk -F'|' -v s="$suite" '$3 ~ s {gsub(/ /,"",$2); print $2}' | paste -sd' ')
        echo "fetch: $pkg $version ($suite, $arch) is no longer in the Debian archive (it has: ${have:-nothing by that name});" \
          "pin the current one in test/kernels/packages.tsv" >&2
        exit 1
      fi
    fi
    dpkg-deb -x "$deb" "$out"
  done <<< "$rows"
  touch "$out/.fetched-$stamp"
done
