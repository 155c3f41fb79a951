#!/usr/bin/env python3
"""Benchmark: lpack's build speed against peer commands run in the same process, as ratios.

Issue 20's goals, each measured here (a benchmark, not a test: it prints numbers and asserts
nothing; the machine's load moves them, the ratios less so):

  cold       empty caches: `lpack build` vs `uv pip install --target DIR` of the same lock
             (uv's own cache emptied too; both download). Goal: lpack <= 1.5x uv. A second
             row times the same work by hand: uv's install, `strip --strip-unneeded` of every
             shared library, `python -m compileall -j 0`, `zip -r`, one import of the
             top-level packages (needs pythonX.Y of the runtime, strip and zip on PATH).
  warm       warm cache, a fresh output path (a new directory, the same inputs: the artifact
             the cold build kept in the cache is copied): `lpack build -o NEW/cold.zip` vs
             `cp` of the finished artifact. Goal: <= 3x cp.
  edited     warm cache, a handler edited before each build (a new content key: assembled
             again from the cached slim fragments, and verified), against the same `cp`.
  no-change  the same build again, nothing changed. Goal: <= 50 ms.
  rss        peak resident memory in the cold build: lpack's own (--json timings.peak_rss) and
             the largest process of the tree (wait4's ru_maxrss). Goal: <= 300 MB.
  many       a config with one layer (the lock) and N functions (a few files each) against it,
             warm cache, fresh outputs: `lpack build` vs `cp` of every artifact it wrote.
             Goal: <= 3x cp.

Each lpack build also runs with `--json`, whose `timings` object (wall and CPU seconds per
stage) is printed for the cold and warm builds, so the report says where the time went.

Usage: python3 benches/speed.py [--lock requirements/datasci-py312.lock.txt] [--runs 5]
       [--functions 50] [--lpack target/release/lpack] [--skip cold,many]
Needs the package index (the cold build downloads) and, for the cold ratio, uv on PATH
(`pip install uv`); without uv the cold row shows lpack alone.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd=None, env=None, capture=False):
    """Run cmd; return (seconds, peak RSS in MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    out = proc.stdout.read() if capture else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"command failed ({code}): {' '.join(cmd)}\n{err.decode()}")
    return elapsed, usage.ru_maxrss / 1024.0, out.decode()


def median_of(runs, fn):
    return statistics.median(fn(i) for i in range(runs))


def stages(summary_json):
    """One line per stage from a --json summary's `timings`."""
    try:
        t = json.loads(summary_json)["timings"]
    except (ValueError, KeyError, TypeError):
        return "    (no timings)"
    rows = [f"    {s['stage']:<10} wall {s['wall']:7.3f} s  cpu {s['cpu']:7.3f} s" for s in t["stages"]]
    if not rows:
        rows = ["    (no stage ran)"]
    path = " -> ".join(
        f"{p['stage']}{' ' + p['item'] if p.get('item') else ''} {p['seconds']:.2f}s" for p in t["critical_path"])
    return "\n".join(rows + [f"    critical path: {path}"] if path else rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock", default=os.path.join(ROOT, "requirements/datasci-py312.lock.txt"))
    ap.add_argument("--src", default=os.path.join(ROOT, "benches/workload"))
    ap.add_argument("--runtime", default="python3.12")
    ap.add_argument("--platform", default="x86_64-manylinux_2_34", help="uv --python-platform")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--functions", type=int, default=50)
    ap.add_argument("--lpack", default=os.path.join(ROOT, "target/release/lpack"))
    ap.add_argument("--skip", default="", help="comma-separated: cold, warm (and edited), nochange, many")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    lpack = os.path.abspath(args.lpack)
    if not os.path.exists(lpack):
        sys.exit(f"{lpack} not found: cargo build --release --features aws")
    lock, src = os.path.abspath(args.lock), os.path.abspath(args.src)
    work = tempfile.mkdtemp(prefix="lpack-speed-")
    cache = os.path.join(work, "cache")

    def build(out, extra=(), cwd=None):
        return [lpack, "build", "-r", lock, "--runtime", args.runtime, "--src", src, "--cache-dir", cache,
                "-o", out, "--json", *extra]

    print(f"lock {os.path.relpath(lock, ROOT)} · runtime {args.runtime} · runs {args.runs} · {lpack}")
    rows = []

    # Cold: empty caches on both sides.
    t_cold, rss_cold, out = timed(build(os.path.join(work, "cold.zip")), capture=True)
    artifact = os.path.join(work, "cold.zip")
    size = os.path.getsize(artifact)
    print(f"cold lpack build: {t_cold:.2f} s, peak RSS {rss_cold:.0f} MB, artifact {size / 1e6:.1f} MB")
    print(stages(out))
    uv = shutil.which("uv")
    if "cold" not in skip and uv:
        pyver = args.runtime.removeprefix("python")
        uv_cache = os.path.join(work, "uv-cache")
        target = os.path.join(work, "uv-target")
        t_uv, _, _ = timed([uv, "pip", "install", "--target", target, "-r", lock, "--python-platform", args.platform,
                            "--python-version", pyver, "--only-binary", ":all:", "--no-deps", "--quiet"],
                           env=dict(os.environ, UV_CACHE_DIR=uv_cache))
        rows.append(("cold vs uv pip install --target", t_cold, t_uv, 1.5))
        # The same work by hand: uv's install, then what lpack does after it (strip the shared
        # libraries, compile bytecode with the target Python on every core, zip, import the
        # top-level packages once). uv alone does none of that, so the row above compares a
        # download-and-unpack with a whole build; this one compares like with like.
        # pyenv's own interpreter before PATH (a pyenv shim answers for versions not selected).
        python = next(iter(sorted(__import__("glob").glob(
            os.path.expanduser(f"~/.pyenv/versions/{pyver}*/bin/python{pyver}")))), None) or shutil.which(f"python{pyver}")
        if python and shutil.which("strip") and shutil.which("zip"):
            by_hand = os.path.join(work, "by-hand")
            script = (
                f'set -e; "{uv}" pip install --target "{by_hand}" -r "{lock}" --python-platform {args.platform} '
                f'--python-version {pyver} --only-binary :all: --no-deps --quiet; '
                f'find "{by_hand}" -type f \\( -name "*.so" -o -name "*.so.[0-9]*" \\) '
                f'-exec sh -c \'strip --strip-unneeded "$@" 2>/dev/null || true\' _ {{}} +; '
                f'"{python}" -m compileall -q -j 0 "{by_hand}" >/dev/null; '
                f'cp -r "{src}/." "{by_hand}/"; '
                f'(cd "{by_hand}" && zip -qr -X "{work}/by-hand.zip" .); '
                f'PYTHONPATH="{by_hand}" "{python}" -c "import numpy, pandas, pyarrow"; echo by-hand-done'
            )
            t_hand, _, said = timed(["bash", "-c", script], capture=True,
                                    env=dict(os.environ, UV_CACHE_DIR=os.path.join(work, "uv-cache-2")))
            if "by-hand-done" not in said:
                sys.exit(f"the by-hand build stopped early: {script}")
            rows.append(("cold vs uv + strip + compileall + zip + import", t_cold, t_hand, 1.5))
    elif "cold" not in skip:
        print("  (uv not on PATH: no cold ratio; pip install uv)")
    try:
        own = json.loads(out)["timings"]["peak_rss"] / 1e6
    except (ValueError, KeyError, TypeError):
        own = float("nan")
    # wait4's ru_maxrss is the largest process of the tree (the verify interpreter importing
    # numpy, pandas and pyarrow may be it); --json's timings.peak_rss is lpack's own.
    rows.append(("peak RSS cold, lpack (MB, goal 300)", own, 300.0, 1.0))
    rows.append(("peak RSS cold, any process (MB)", rss_cold, 300.0, 1.0))

    if "warm" not in skip:
        # A fresh output path: a new directory, as a fresh checkout or CI runner has (the same
        # inputs: the artifact the cold build kept in the cache is copied).
        def warm(i):
            out = os.path.join(work, f"warm-{i}", "cold.zip")
            t, _, _ = timed(build(out))
            return t

        def cp(i):
            os.makedirs(os.path.join(work, f"cp-{i}"), exist_ok=True)
            t, _, _ = timed(["cp", artifact, os.path.join(work, f"cp-{i}", "cold.zip")])
            return t
        t_w, t_cp = median_of(args.runs, warm), median_of(args.runs, cp)
        rows.append(("warm (fresh output) vs cp", t_w, t_cp, 3.0))

        # A handler edited before each build: a new content key, so the artifact is assembled
        # again from the cached slim fragments (no wheel is slimmed again), and verified.
        edited = os.path.join(work, "edited-src")
        shutil.copytree(src, edited)
        handler = next(os.path.join(r, f) for r, _, fs in sorted(os.walk(edited)) for f in sorted(fs) if f.endswith(".py"))

        def edit(i):
            with open(handler, "a") as f:
                f.write(f"\n# edit {i}\n")
            out = os.path.join(work, "edited", "cold.zip")
            cmd = build(out)
            cmd[cmd.index(src)] = edited
            t, _, _ = timed(cmd)
            return t
        t_e = median_of(args.runs, edit)
        cmd = build(os.path.join(work, "edited", "cold.zip"))
        cmd[cmd.index(src)] = edited
        with open(handler, "a") as f:
            f.write("\n# shown\n")
        _, _, out = timed(cmd, capture=True)
        print("warm build, a handler edited (assembled from cached fragments):")
        print(stages(out))
        # No goal: an edited handler is a new artifact, so its import check runs again.
        rows.append(("warm, handler edited, vs cp", t_e, t_cp, None))

    if "nochange" not in skip:
        same = os.path.join(work, "same.zip")
        timed(build(same))

        def again(i):
            t, _, _ = timed(build(same))
            return t
        t_nc = median_of(max(args.runs, 5), again)
        rows.append(("no-change rebuild (s, goal 0.050)", t_nc, 0.050, 1.0))

    if "many" not in skip:
        proj = os.path.join(work, "many")
        os.makedirs(proj)
        shutil.copy(lock, os.path.join(proj, "requirements.txt"))
        cfg = [f'runtime = "{args.runtime}"', f'cache-dir = "{cache}"', "", "[layers.deps]", ""]
        for n in range(args.functions):
            d = os.path.join(proj, f"fn{n:02}")
            os.makedirs(os.path.join(d, "lib"))
            with open(os.path.join(d, "handler.py"), "w") as f:
                f.write(f"import lib.util\n\ndef handler(event, context):\n    return lib.util.answer({n})\n")
            with open(os.path.join(d, "lib", "__init__.py"), "w") as f:
                f.write("")
            with open(os.path.join(d, "lib", "util.py"), "w") as f:
                f.write("def answer(n):\n    return {'n': n}\n" * 20)
            cfg += [f"[functions.fn{n:02}]", f'src = "fn{n:02}"', 'layers = ["deps"]', ""]
        with open(os.path.join(proj, "lpack.toml"), "w") as f:
            f.write("\n".join(cfg))
        dist = os.path.join(proj, "dist")
        timed([lpack, "build", "-q"], cwd=proj)  # warm every fragment and verify record

        def many(i):
            shutil.rmtree(dist, ignore_errors=True)
            t, _, _ = timed([lpack, "build", "-q"], cwd=proj)
            return t
        t_many = median_of(args.runs, many)
        files = [os.path.join(dist, f) for f in sorted(os.listdir(dist)) if f.endswith(".zip")]
        total = sum(os.path.getsize(f) for f in files)
        copy_to = os.path.join(work, "many-cp")

        def cp_all(i):
            shutil.rmtree(copy_to, ignore_errors=True)
            os.makedirs(copy_to)
            t, _, _ = timed(["cp", *files, copy_to])
            return t
        t_cpall = median_of(args.runs, cp_all)
        print(f"many: {len(files)} artifacts, {total / 1e6:.1f} MB")
        rows.append((f"{args.functions} functions + 1 layer, warm, vs cp", t_many, t_cpall, 3.0))

    print()
    print(f"{'measure':<40} {'lpack':>10} {'peer':>10} {'ratio':>8} {'goal':>6}")
    for name, mine, peer, goal in rows:
        shown = "     —" if goal is None else f"{goal:5.1f}x"
        print(f"{name:<40} {mine:10.3f} {peer:10.3f} {mine / peer:7.2f}x {shown}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
