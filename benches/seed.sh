#!/usr/bin/env bash
# The seed comparison in one command: build the python3.12 seed stack four ways and bench them.
#   (a) zip, --profile none --bytecode none (over the 250 MB limit: built anyway, to compare)
#   (b) zip, safe, bytecode for the handler's imports
#   (c) a dependency layer + a small function zip (d) an OCI image
# Usage: benches/seed.sh [lpack bench flags, e.g. --runs 50 --out results/]
# Needs PyPI (or a warm lpack cache) and a python3.12 interpreter (PATH or pyenv).
set -euo pipefail
cd "$(dirname "$0")/.."
lpack=${LPACK:-target/release/lpack}
[ -x "$lpack" ] || cargo build --release --features aws
lock=requirements/datasci-py312.lock.txt
out=dist/seed
mkdir -p "$out"
common=(-r "$lock" --runtime python3.12 -q)
"$lpack" build "${common[@]}" --src benches/workload --profile none --bytecode none --no-limit-check \
    -o "$out/zip-plain.zip"
"$lpack" build "${common[@]}" --src benches/workload --bytecode-for-imports handler.handler -o "$out/zip-safe.zip"
"$lpack" build "${common[@]}" --format layer --bytecode compile -o "$out/deps.zip"
"$lpack" build "${common[@]}" --src benches/workload --bytecode-for-imports handler.handler \
    --exclude-layer "$out/deps.zip.lpack.json" -o "$out/fn.zip"
# The image goes on a small stand-in base (the AWS base's layers are replaced by the local
# interpreter when benched anyway).
[ -d "$out/base" ] || python3 tests/helpers/make_base_image.py "$out/base" base amd64 >/dev/null
"$lpack" build "${common[@]}" --src benches/workload --bytecode-for-imports handler.handler \
    --format image --handler handler.handler --base "oci-layout:$out/base:base" \
    --image-out "oci-layout:$out/img:seed"
time "$lpack" bench --plan benches/seed.toml --out "${OUT:-bench-results/seed}" "$@"
