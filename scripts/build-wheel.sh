#!/usr/bin/env bash
# Build the Python wheel(s) of the lpack binary: manylinux2014 (glibc 2.17), so that they install
# on Amazon Linux 2 build images (glibc 2.26) and everything newer.
#
#   scripts/build-wheel.sh [--arch x86_64|aarch64|all] [--out DIR] [--profile PROFILE]
#                          [--cargo-env FILE]
#
# Wheels land in DIR (default dist/wheels). --cargo-env writes the environment maturin gives
# cargo (zig's compiler wrappers, RUSTFLAGS) to FILE, so that another cargo command can build
# with the same compilers and reuse the compiled dependencies (scripts/test.sh does). maturin and ziglang (the cross linker that targets
# glibc 2.17 from any host) are installed from PyPI into target/wheel-venv at pinned versions.
# aarch64 cross-compiles with zig; it needs `rustup target add aarch64-unknown-linux-gnu`.
# The build is reproducible: no SBOM, paths remapped, so two builds give byte-identical wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=x86_64
out=dist/wheels
profile=release
cargo_env=
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --cargo-env) cargo_env="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# (Added once: a caller that already passes them, like scripts/test.sh, keeps its RUSTFLAGS as
# they are, so cargo sees the same flags and reuses what it compiled.)
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
remap="--remap-path-prefix=$PWD=lpack --remap-path-prefix=$cargo_home=cargo"
case " ${RUSTFLAGS:-} " in
  *" $remap "*) ;;
  *) export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$remap" ;;
esac

# A `cargo` ahead of the real one on PATH, through which maturin runs cargo:
# - cargo runs without SOURCE_DATE_EPOCH (set below for maturin's wheel timestamps): C build
#   scripts (ring's, through cc) rerun when it changes, so a build with it and a build without it
#   (the tests') would compile the dependencies above ring twice. Rust code does not read it.
# - with --cargo-env, it writes the environment cargo was started with (maturin puts zig's
#   wrappers there) to that file.
shim="$PWD/target/wheel-venv/cargo-shim"
mkdir -p "$shim"
real_cargo="$(PATH="${PATH//$shim:/}" command -v cargo)"
record=
if [ -n "$cargo_env" ]; then
  record="env > \"$(realpath -m "$cargo_env")\""
fi
cat > "$shim/cargo" <<SHIM
#!/bin/sh
unset SOURCE_DATE_EPOCH
case "\$1" in rustc|build) $record ;; esac
exec "$real_cargo" "\$@"
SHIM
chmod +x "$shim/cargo"
export PATH="$shim:$PATH"
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
