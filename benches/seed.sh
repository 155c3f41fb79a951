#!/usr/bin/env bash
# The seed comparison in one command: build the python3.12 seed stack four ways and bench them.
#   (a) zip, --profile none --bytecode none (over the 250 MB limit: built anyway, to compare)
#   (b) zip, safe, bytecode for the handler's imports
#   (c) a dependency layer + a small function zip (d) an OCI image
#   (e) with SEED_LAYER=PATH.zip (a layer lpack did not build, e.g. the AWS SDK for pandas
#       layer's zip; absolute or relative to the repository): the function built
#       --with-layer it, the layer's versions winning (--prefer-layer)
# Usage: [SEED_LAYER=layer.zip] benches/seed.sh [lpack bench flags, e.g. --runs 50 --out results/]
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
plan=benches/seed.toml
if [ -n "${SEED_LAYER:-}" ]; then
    "$lpack" build "${common[@]}" --src benches/workload --bytecode-for-imports handler.handler \
        --with-layer "$SEED_LAYER" --prefer-layer -o "$out/fn-ext.zip"
    # The seed plan with a fifth deployment, beside the artifacts it names.
    plan="$out/seed-with-layer.toml"
    sed 's#\.\./dist/seed/##g' benches/seed.toml > "$plan"
    printf '\n[[deployment]]\nname = "e-extlayer+fn"         # the function on SEED_LAYER (--with-layer)\nartifacts = ["fn-ext.zip.lpack.json"]\n' >> "$plan"
fi
time "$lpack" bench --plan "$plan" --out "${OUT:-bench-results/seed}" "$@"
