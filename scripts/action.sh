#!/usr/bin/env bash
# The shell half of action.yml: install or build lpack, run one command with GitHub's outputs
# on, keep the cache small. Reads only environment variables, as GitHub sets them:
#   GITHUB_ACTION_PATH  this action's checkout      RUNNER_TEMP   a per-job scratch directory
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH  files lpack and this script append to
#   INPUT_VERSION INPUT_CARGO_PROFILE INPUT_CARGO_FEATURES INPUT_COMMAND INPUT_ARGS INPUT_CONFIG
#   INPUT_WORKING_DIRECTORY INPUT_CACHE              the action's inputs (see action.yml)
#   LPACK_CACHE_DIR                                  the cache actions/cache restores and saves
set -euo pipefail

: "${GITHUB_ACTION_PATH:?set by GitHub: the checkout of this action}"
: "${RUNNER_TEMP:?set by GitHub: a per-job temp directory}"
command="${INPUT_COMMAND:-build}"
cache="${INPUT_CACHE:-true}"

# 1. lpack itself: a release from PyPI, or built from this checkout.
if [ -n "${INPUT_VERSION:-}" ]; then
  venv="$RUNNER_TEMP/lpack-venv"
  if [ ! -x "$venv/bin/lpack" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "lpack-lambda==$INPUT_VERSION"
  fi
  bin_dir="$venv/bin"
else
  profile="${INPUT_CARGO_PROFILE:-release}"
  target_dir="${CARGO_TARGET_DIR:-$GITHUB_ACTION_PATH/target}"
  case "$profile" in
    dev) out_dir=debug ;;
    *) out_dir="$profile" ;;
  esac
  echo "::group::Build lpack from $GITHUB_ACTION_PATH (cargo, profile $profile)"
  cargo build --locked --quiet --profile "$profile" --bin lpack \
    --features "${INPUT_CARGO_FEATURES:-}" \
    --manifest-path "$GITHUB_ACTION_PATH/Cargo.toml" --target-dir "$target_dir"
  echo "::endgroup::"
  # (cargo puts a build for a named target, CARGO_BUILD_TARGET, under target/TRIPLE/.)
  bin_dir="$target_dir/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}$out_dir"
fi
lpack="$bin_dir/lpack"
"$lpack" --version
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bin_dir" >> "$GITHUB_PATH"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "lpack=$lpack" >> "$GITHUB_OUTPUT"
fi

# 2. The arguments: split like a shell (quotes group words), but nothing is expanded or run.
extra=()
if [ -n "${INPUT_ARGS:-}" ]; then
  if ! printf '%s\n' "$INPUT_ARGS" | xargs -n1 printf '%s\n' >/dev/null; then
    echo "::error title=lpack action::the args input does not split into words (an unmatched quote?)"
    exit 2
  fi
  mapfile -t extra < <(printf '%s\n' "$INPUT_ARGS" | xargs -n1 printf '%s\n')
fi
global=()
if [ -n "${INPUT_CONFIG:-}" ]; then
  global+=(--config "$INPUT_CONFIG")
fi

cd "${INPUT_WORKING_DIRECTORY:-.}"

# 3. The cache: a plain prune once per job right after the restore (other lpack versions'
# entries, what went unused for 30 days), `--ci` after each command (only what this job used
# stays for actions/cache to save).
if [ "$cache" = true ] && [ -n "${LPACK_CACHE_DIR:-}" ] && [ ! -e "$RUNNER_TEMP/lpack-cache-pruned" ]; then
  if [ -d "$LPACK_CACHE_DIR" ]; then
    "$lpack" cache prune >&2 || true
  fi
  touch "$RUNNER_TEMP/lpack-cache-pruned"
fi

# 4. The command, with GitHub's outputs on (GITHUB_ACTIONS=true turns --ci on by default).
export GITHUB_ACTIONS="${GITHUB_ACTIONS:-true}"
rc=0
"$lpack" "${global[@]}" "$command" "${extra[@]}" || rc=$?

if [ "$cache" = true ] && [ -d "${LPACK_CACHE_DIR:-/nonexistent}" ]; then
  "$lpack" cache prune --ci >&2 || true
fi
exit "$rc"
