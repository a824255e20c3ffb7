#!/usr/bin/env bash
# Debian's arm64 Node.js (bookworm: nodejs 18) run under qemu-user, to load
# the linux-arm64 prebuild on an x86-64 host.
#
#   scripts/arm64-node.sh --setup    download the arm64 .debs with apt-get and
#                                    extract them into the cache (root: adds the
#                                    arm64 dpkg architecture and updates apt once)
#   scripts/arm64-node.sh --check    exit 0 when the arm64 node runs
#   scripts/arm64-node.sh ARGS...    run: node ARGS (under qemu-aarch64)
#
# Cache: $FLOW_ARM64_NODE_CACHE, default ~/.cache/flow-collector/arm64-node.
# Needs: qemu-user (qemu-aarch64), apt-get and dpkg.
set -euo pipefail

CACHE="${FLOW_ARM64_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flow-collector/arm64-node}"
ROOT="$CACHE/root"
# Shared libraries the arm64 node binary needs (libnode is added below).
ARCH_PKGS=(nodejs libc6 libgcc-s1 libstdc++6 libbrotli1 libc-ares2 libicu72 libnghttp2-14 libssl3 libuv1 zlib1g)
# Debian's node loads some builtins from /usr/share/nodejs (architecture: all).
ALL_PKGS=(node-cjs-module-lexer node-undici node-acorn node-busboy node-xtend)

die() { echo "arm64-node: $*" >&2; exit 1; }

run_node() {
  command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 not found (apt-get install qemu-user)"
  [ -f "$ROOT/.complete" ] || die "no arm64 node in $CACHE (run: $0 --setup)"
  # -L: qemu maps the ELF interpreter and absolute file paths into ROOT.
  exec qemu-aarch64 -L "$ROOT" \
    -E "LD_LIBRARY_PATH=$ROOT/usr/lib/aarch64-linux-gnu:$ROOT/lib/aarch64-linux-gnu" \
    "$ROOT/usr/bin/node" "$@"
}

setup() {
  command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 not found (apt-get install qemu-user)"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [ "$(id -u)" = 0 ] || die "as root: dpkg --add-architecture arm64 && apt-get update"
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
  if ! apt-cache show nodejs:arm64 >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "as root: apt-get update (no arm64 package lists)"
    apt-get update -qq
  fi
  local libnode
  libnode=$(apt-cache depends nodejs:arm64 | sed -n 's/^ *Depends: \(libnode[0-9]*\)\(:arm64\)\{0,1\}$/\1/p' | head -1)
  [ -n "$libnode" ] || die "cannot find the libnode package nodejs:arm64 depends on"
  rm -rf "$CACHE.tmp"
  mkdir -p "$CACHE.tmp/debs" "$CACHE.tmp/root"
  local pkgs=()
  for p in "${ARCH_PKGS[@]}" "$libnode"; do pkgs+=("$p:arm64"); done
  pkgs+=("${ALL_PKGS[@]}")
  # apt-get download drops privileges to _apt when it can; a root-owned temp
  # dir only produces a warning.
  (cd "$CACHE.tmp/debs" && apt-get download -qq "${pkgs[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  local n=0
  for d in "$CACHE.tmp/debs"/*.deb; do
    dpkg -x "$d" "$CACHE.tmp/root"
    n=$((n + 1))
  done
  [ "$n" -ge "${#pkgs[@]}" ] || die "downloaded $n of ${#pkgs[@]} packages"
  touch "$CACHE.tmp/root/.complete"
  rm -rf "$CACHE"
  mv "$CACHE.tmp" "$CACHE"
  echo "arm64-node: ready in $CACHE" >&2
}

case "${1:-}" in
  --setup) setup ;;
  --check)
    [ -f "$ROOT/.complete" ] || die "no arm64 node in $CACHE (run: $0 --setup)"
    command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 not found (apt-get install qemu-user)"
    out=$("$0" -p 'process.arch' 2>&1) || die "arm64 node does not run: $out"
    [ "$out" = arm64 ] || die "unexpected arch: $out"
    ;;
  *) run_node "$@" ;;
esac
