#!/usr/bin/env bash
# Run every test lpack has: unit tests, integration tests against real local services, clippy.
# Installs the Python test helpers (tests/requirements.txt, moto's server among them) into
# target/test-venv first.
# Needs: cargo, gcc, python3.11 (with headers; pyenv's or the system's), network access to PyPI
# the first time (for the helpers, maturin and ziglang only — the tests themselves stay on
# 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase's wall time, printed at the end (and as it finishes), so a slow CI says where.
phases=()
phase_start=$SECONDS
phase() {
  local now=$SECONDS
  phases+=("$(printf '%-44s %5d s' "$1" $((now - phase_start)))")
  echo "== $1: $((now - phase_start)) s" >&2
  phase_start=$now
}

find_python() {
  for c in python3.11 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11*/bin/python3.11 python3; do
    if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 11)' >/dev/null 2>&1; then
      command -v "$c"; return
    fi
  done
  echo "python3.11 not found: install it (the tests import built artifacts with it)" >&2
  exit 2
}

venv=target/test-venv
if [ ! -x "$venv/bin/python" ]; then
  "$(find_python)" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export LPACK_TEST_PYTHON="$PWD/$venv/bin/python"
# packse (the resolver scenarios uv is tested with; tests/it/packse.rs) needs Python 3.12+.
packse_venv=target/packse-venv
if [ ! -x "$packse_venv/bin/python" ]; then
  # (A pyenv shim answers `command -v` even when that version is not selected: run each.)
  for c in python3.12 python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[23]*/bin/python3.1[23]; do
    if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      "$c" -m venv "$packse_venv"; break
    fi
  done
  if [ ! -x "$packse_venv/bin/python" ]; then
    echo "python3.12 or newer not found: install it (packse, the resolver scenarios, needs it)" >&2
    exit 2
  fi
fi
"$packse_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/packse/requirements.txt

phase "test helpers (venvs)"
cargo fmt --all -- --check
# The reference site (mkdocs.yml → target/site): a link to a page or anchor that does not exist
# fails the build.
"$venv/bin/python" -m mkdocs build --strict --quiet
phase "fmt, docs site"
# Lint while building: clippy's driver compiles lpack's own targets (lib, bin, tests, benches:
# what `cargo clippy --all-targets --features aws -- -D warnings` checks) as part of the build, so
# the dependencies are compiled once instead of once more in check mode. The `aws` feature
# (lpack bench --backend aws) is built, linted and tested here: its tests run against moto's
# server (tests/requirements.txt).
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
if [ ! -x "$clippy_driver" ]; then
  echo "clippy-driver not found beside rustc: rustup component add clippy" >&2
  exit 2
fi
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# The Python wheel of lpack (manylinux2014 via zig): tests/it/wheel.rs installs it offline into a
# fresh venv, runs it, checks its glibc needs and rebuilds it byte-identically.
# One dependency build serves the wheel and the tests: the wheel is built first, at the tests'
# profile (dev), and build-wheel.sh records the compilers and flags maturin gave cargo (zig's
# wrappers for glibc 2.17); the tests are then built for the same target with the same
# environment, so cargo reuses every compiled dependency instead of compiling them twice. (The
# release wheel is the same script with its default profile.)
# LPACK_TEST_WHEEL=0 skips the wheel (saying so) when iterating: the tests build for the host.
if [ "${LPACK_TEST_WHEEL:-1}" != 0 ]; then
  rm -rf target/wheels/test
  mkdir -p target/wheels
  ./scripts/build-wheel.sh --profile dev --out target/wheels/test --cargo-env target/wheels/cargo-env
  # Built again (cargo has nothing to do; maturin packs again): tests/it/wheel.rs checks the
  # two are byte-identical. (Not from inside the test: cargo would relink the lpack binary the
  # other tests are running.)
  rm -rf target/wheels/test-again
  ./scripts/build-wheel.sh --profile dev --out target/wheels/test-again
  export LPACK_TEST_WHEEL_DIR="$PWD/target/wheels/test"
  export LPACK_TEST_WHEEL_AGAIN_DIR="$PWD/target/wheels/test-again"
  export LPACK_TEST_WHEEL_PROFILE=dev
  # The variables maturin set for zig (compilers, linker, target-applies-to-host) and RUSTFLAGS.
  while IFS= read -r line; do
    case "$line" in
      AR_*=* | CC_*=* | CXX_*=* | RANLIB_*=* | CMAKE_TOOLCHAIN_FILE_*=* | BINDGEN_EXTRA_CLANG_ARGS_*=* \
      | CARGO_TARGET_*=* | CARGO_UNSTABLE_*=* | CARGO_ZIGBUILD_*=* | ZIG_COMMAND=* \
      | __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS=* | RUSTFLAGS=*)
        export "${line?}" ;;
    esac
  done < target/wheels/cargo-env
  # zig's `ar` (maturin's binary under another name) finds zig through these, as the cc
  # wrappers maturin wrote tell it themselves.
  export CARGO_ZIGBUILD_ZIG_COMMAND="$PWD/target/wheel-venv/bin/python3"
  export CARGO_ZIGBUILD_ZIG_COMMAND_ARGS="-m ziglang"
  # Every cargo command from here on (this script's and the ones tests start) builds for the
  # wheel's target: the action test's `cargo build` is then a no-op, as it is on the host.
  export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
  phase "wheel (zig): every dependency, linted"
fi
cargo test --all-targets --features aws --no-run
phase "test build, linted (aws)"
cargo test --all-targets --features aws
phase "tests"
# The default build stays warning-free too (a plain `cargo build`), sharing the test build's
# compiled dependencies where their features agree.
cargo build --lib
phase "default-features library, linted"
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
# Every service a test starts (index servers, registries, moto, http.server) must die with it:
# they carry LPACK_TEST_SERVICE=1 in their environment (tests/it/harness.rs); any left running
# now is a leak.
# (A watchdog whose test process exited needs a moment to stop its server: wait up to 20 s.)
for _ in $(seq 40); do
  left=$(grep -lsaz '^LPACK_TEST_SERVICE=1$' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true)
  [ -z "$left" ] && break
  sleep 0.5
done
if [ -n "$left" ]; then
  echo "test services still running after the tests:" >&2
  for pid in $left; do ps -o pid=,args= -p "$pid" >&2 || true; done
  exit 1
fi
echo "no test service left running"
phase "leak check"
printf '%s\n' "${phases[@]}" >&2
