#!/usr/bin/env bash
# Builds the collector's OCI image for amd64 and arm64 from Debian 13 packages, offline from any
# container registry: mmdebstrap unpacks Node.js and the helper's libraries (no package scripts run,
# so no emulator is needed for arm64), the built tree and production node_modules are added, and
# one layer per arch goes into an OCI image layout with a multi-arch index.
#   scripts/image.sh [--arch amd64|arm64]...   default both; out: .cache/image/oci (tag = version)
# Push it: skopeo copy --all oci:.cache/image/oci:0.1.0 docker://REGISTRY/bpfwasm/bpfwasm:0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${BPFWASM_IMAGE_CACHE:-$ROOT/.cache/image}
OUT=$CACHE/oci
VERSION=$(node -p 'require("./package.json").version')
# Layers carry this mtime, so the same inputs give the same digests.
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
MIRROR="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main"
# Runtime only: Node 20 (Debian 13's is 20.19), the amd64 helper's shared libraries (the arm64
# helper is static), busybox for sh and readlink (bin/bpfwasm), env (cli.js's #!) and a shell for `kubectl exec`.
DEBS=nodejs,libbpf1,libelf1t64,zlib1g,busybox

ARCHES=()
while [ $# -gt 0 ]; do
  case $1 in
    --arch) ARCHES+=("$2"); shift 2 ;;
    *) echo "image: unknown argument $1 (use --arch amd64|arm64)" >&2; exit 2 ;;
  esac
done
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(amd64 arm64)
for tool in mmdebstrap cpio; do
  command -v "$tool" >/dev/null || { echo "image: $tool is missing (bash scripts/setup.sh --test installs it)" >&2; exit 1; }
done
[ -x ebpf/build/bpfwasm-helper ] && [ -f dist/src/cli.js ] && [ -f dist/bundle/exporter-worker.cjs ] || { echo "image: build the tree first (npm run build)" >&2; exit 1; }

helper_for() { # the strip tool and helper binary of one Debian arch
  case $1 in
    amd64) echo "strip ebpf/build/bpfwasm-helper" ;;
    arm64) echo "aarch64-linux-gnu-strip ebpf/build/arm64/bpfwasm-helper" ;;
  esac
}

blob() { # moves file $1 into the layout's blobs; prints "digest size"
  local d; d=$(sha256sum "$1" | cut -d' ' -f1)
  mv "$1" "$OUT/blobs/sha256/$d"
  echo "sha256:$d $(stat -c %s "$OUT/blobs/sha256/$d")"
}

# The arm64 helper is cross-built (make does only what changed).
if printf '%s\n' "${ARCHES[@]}" | grep -qx arm64; then make -s -C ebpf ARCH=arm64 >&2; fi
rm -rf "$OUT"; mkdir -p "$OUT/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
build_arch() { # one arch's image into the layout; its manifest descriptor into $CACHE/descriptor-ARCH
  local arch=$1 npm_cpu start strip helper W R A deps diff_id usize layer lsize created config csize manifest msize
  case $arch in amd64) npm_cpu=x64 ;; arm64) npm_cpu=arm64 ;; *) echo "image: no arch $arch" >&2; return 2 ;; esac
  start=$SECONDS
  read -r strip helper < <(helper_for "$arch")
  W=$CACHE/work-$arch; rm -rf "$W"; mkdir -p "$W"
  R=$W/root

  # 1. Debian's packages, unpacked; downloaded .debs are kept in $CACHE/debs-ARCH for the next run.
  mkdir -p "$CACHE/debs-$arch"
  mmdebstrap --quiet --variant=extract --architectures="$arch" --include="$DEBS" --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook="sync-in $CACHE/debs-$arch /var/cache/apt/archives" \
    --customize-hook="sync-out /var/cache/apt/archives $CACHE/debs-$arch" \
    trixie "$R" "$MIRROR"
  # What extract leaves undone: the merged-/usr links, users, env, sh and readlink from busybox; then drop
  # what a runtime never reads (docs, locales, Debian's other Node modules, iconv modules, apt state).
  for d in bin sbin lib; do ln -sfn usr/$d "$R/$d"; done
  [ -d "$R/usr/lib64" ] && ln -sfn usr/lib64 "$R/lib64"
  ln -sf busybox "$R/usr/bin/env"; ln -sf busybox "$R/usr/bin/sh"; ln -sf busybox "$R/usr/bin/readlink"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$R/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
  # Debian's libnode loads a few builtins from /usr/share/nodejs (its build's NODE_SHARED_BUILTIN_*): keep those.
  find "$R/usr/share/nodejs" -mindepth 1 -maxdepth 1 \
    -not \( -name cjs-module-lexer -o -name undici -o -name acorn -o -name acorn-walk -o -name minimatch \) -exec rm -rf {} +
  rm -rf "$R"/usr/share/{doc,man,locale,lintian,info,bash-completion,gdb} "$R"/usr/lib/*-linux-gnu/gconv \
    "$R"/var/cache/apt "$R"/var/lib/apt "$R"/var/log/* "$R"/dev/*
  mkdir -p "$R"/{root,run/bpfwasm,etc/bpfwasm,usr/local/bin} && chmod 1777 "$R/tmp"

  # 2. The collector: built JS (dist/src/cli.js is the bundle scripts/bundle.mjs made, its chunks in dist/bundle), protos, built-in exporters, the stripped helper, production deps.
  A=$R/opt/bpfwasm
  mkdir -p "$A/ebpf/build" "$A/exporters" "$A/src/metrics" "$A/src/api"
  cp package.json package-lock.json "$A/"
  (cd dist && find src bundle \( -name '*.js' -o -name '*.cjs' \) -print0 | cpio -0pdm --quiet "$A/dist")
  cp -r src/metrics/proto "$A/src/metrics/"; cp -r src/api/proto "$A/src/api/"
  cp -r exporters/build "$A/exporters/"
  "$strip" --strip-debug -o "$A/ebpf/build/bpfwasm-helper" "$helper"
  # Production node_modules for the target's cpu (snappy's native part), kept per lockfile for reruns.
  deps=$CACHE/node_modules-$arch-$(sha256sum < package-lock.json | cut -c1-16)
  if [ ! -d "$deps" ]; then
    rm -rf "$CACHE"/node_modules-"$arch"-* "$deps.tmp"; mkdir -p "$deps.tmp"
    cp package.json package-lock.json "$deps.tmp/"
    (cd "$deps.tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error --os=linux --cpu="$npm_cpu" >&2)
    find "$deps.tmp/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' \) -delete
    rm -rf "$deps.tmp/node_modules/@types" "$deps.tmp/node_modules/.package-lock.json"
    mv "$deps.tmp/node_modules" "$deps" && rm -rf "$deps.tmp"
  fi
  cp -a "$deps" "$A/node_modules"
  # The bpfwasm launcher (bin/bpfwasm: glibc malloc's tunable, then node dist/src/cli.js) resolves its link with readlink.
  cp -r bin "$A/"; chmod 755 "$A/bin/bpfwasm"; ln -sfn /opt/bpfwasm/bin/bpfwasm "$R/usr/local/bin/bpfwasm"

  # 3. One reproducible layer, its config, its manifest.
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$EPOCH" --clamp-mtime \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$R" -cf "$W/layer.tar" .
  diff_id=sha256:$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
  usize=$(stat -c %s "$W/layer.tar")
  gzip -n -6 "$W/layer.tar"
  read -r layer lsize < <(blob "$W/layer.tar.gz")
  created=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  cat > "$W/config.json" <<EOF
{"created":"$created","architecture":"$arch","os":"linux","config":{"User":"0","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_ENV=production"],"Entrypoint":["bpfwasm"],"Cmd":["run"],"WorkingDir":"/opt/bpfwasm","ExposedPorts":{"9745/tcp":{}},"Labels":{"org.opencontainers.image.title":"bpfwasm","org.opencontainers.image.version":"$VERSION"}},"rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created":"$created","created_by":"scripts/image.sh: Debian 13 $DEBS + bpfwasm $VERSION"}]}
EOF
  read -r config csize < <(blob "$W/config.json")
  cat > "$W/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config","size":$csize},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$layer","size":$lsize}],"annotations":{"org.opencontainers.image.version":"$VERSION"}}
EOF
  read -r manifest msize < <(blob "$W/manifest.json")
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}' \
    "$manifest" "$msize" "$arch" > "$CACHE/descriptor-$arch"
  echo "image: linux/$arch $manifest: $((usize / 1000000)) MB uncompressed, $((lsize / 1000000)) MB compressed, $((SECONDS - start)) s" >&2
  rm -rf "$W"
}

# The arches build side by side (most of the time is waiting on downloads and gzip on one core).
pids=()
for arch in "${ARCHES[@]}"; do build_arch "$arch" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done

# The multi-arch index, tagged with the version in the layout's own index.
list=$(for arch in "${ARCHES[@]}"; do cat "$CACHE/descriptor-$arch"; echo; done | paste -sd,)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$list" > "$CACHE/index.json"
read -r index isize < <(blob "$CACHE/index.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$index" "$isize" "$VERSION" > "$OUT/index.json"
echo "image: $OUT:$VERSION ($index)" >&2
