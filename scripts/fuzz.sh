#!/usr/bin/env bash
# Run every fuzz target (fuzz/fuzz_targets/*.rs) for SECONDS each (default 20), one at a time.
#
#   scripts/fuzz.sh            # 20 s per target (what CI runs)
#   scripts/fuzz.sh 600        # the 10-minute runs
#   FUZZ_TARGETS="elf_strip wheel_zip" scripts/fuzz.sh 60
#
# Needs a nightly toolchain (`rustup toolchain install nightly`). cargo-fuzz is not needed: the
# targets are built with the same sanitizer-coverage flags `cargo fuzz build` uses (plus debug
# assertions and overflow checks, so arithmetic overflow is a finding), without ASan unless
# FUZZ_ASAN=1. Seeds come from fuzz/corpus/<target>/ (committed, small); what a run discovers
# goes to fuzz/target/corpus/<target>/ (not committed). A crash, hang (>10 s) or allocation over
# 512 MB is written to fuzz/artifacts/<target>/ and makes this script exit 1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-20}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
if [ "${FUZZ_ASAN:-0}" = 1 ]; then flags+=" -Zsanitizer=address"; fi
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in fuzz_targets/*.rs; do
    t="$(basename "$f" .rs)"
    [ "$t" = common ] || targets+=("$t")
  done
fi
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
RUSTFLAGS="$flags" cargo +nightly build --release --target "$triple" "${bins[@]}"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t" "artifacts/$t" "corpus/$t"
  echo "== $t: ${secs}s"
  if ! "target/$triple/release/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=512 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" "target/corpus/$t" "corpus/$t" 2>"target/$t.log"; then
    failed+=("$t")
    tail -30 "target/$t.log"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "target/$t.log" | tr '\n' ' '
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz findings in: ${failed[*]} (see fuzz/artifacts/)"
  exit 1
fi
echo "no findings in ${#targets[@]} targets (${secs}s each)"
