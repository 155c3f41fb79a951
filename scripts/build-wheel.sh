#!/usr/bin/env bash
# Build the Python wheel(s) of the lpack binary: manylinux2014 (glibc 2.17), so that they install
# on Amazon Linux 2 build images (glibc 2.26) and everything newer.
#
#   scripts/build-wheel.sh [--arch x86_64|aarch64|all] [--out DIR] [--profile PROFILE]
#
# Wheels land in DIR (default dist/wheels). maturin and ziglang (the cross linker that targets
# glibc 2.17 from any host) are installed from PyPI into target/wheel-venv at pinned versions.
# aarch64 cross-compiles with zig; it needs `rustup target add aarch64-unknown-linux-gnu`.
# The build is reproducible: no SBOM, paths remapped, so two builds give byte-identical wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=x86_64
out=dist/wheels
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-wheel.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64|aarch64) arches=("$arch") ;;
  all) arches=(x86_64 aarch64) ;;
  *) echo "build-wheel.sh: --arch must be x86_64, aarch64 or all (got $arch)" >&2; exit 2 ;;
esac

venv=target/wheel-venv
if [ ! -x "$venv/bin/maturin" ] || [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin==1.16.0" "ziglang==0.17.1"
export PATH="$PWD/$venv/bin:$PATH"

# No host paths in the binary (panic locations, debug strings): remap the checkout and cargo home.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$PWD=lpack --remap-path-prefix=$cargo_home=cargo"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"

mkdir -p "$out"
for a in "${arches[@]}"; do
  triple="$a-unknown-linux-gnu"
  if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
    echo "build-wheel.sh: Rust target $triple is not installed: rustup target add $triple" >&2
    exit 2
  fi
  maturin build --profile "$profile" --zig --compatibility manylinux2014 \
    --target "$triple" --out "$out"
done
ls -l "$out"
