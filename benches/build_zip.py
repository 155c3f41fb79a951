#!/usr/bin/env python3
"""Benchmark: warm-cache `lpack build --format zip` against the peer commands.

Peers, on the same pinned lock and target, in the same run:
  uv:  `uv pip install --target DIR -r LOCK --python-platform … --python-version …
        --only-binary :all: --no-deps` followed by `zip -qrX OUT.zip .` in DIR
Both caches are warmed first (one untimed run each); then each command runs --runs times and the
median wall time, the ratio and lpack's peak RSS (from wait4's ru_maxrss) are printed. This is a
benchmark, not a test: it reaches the package index and prints numbers; it asserts nothing.

Usage: python3 benches/build_zip.py [--lock requirements/datasci-py312.lock.txt] [--runs 5]
       [--lpack target/release/lpack]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd=None, env=None):
    """Run cmd; return (seconds, peak RSS in MB of the process tree's largest process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock", default=os.path.join(ROOT, "requirements/datasci-py312.lock.txt"))
    ap.add_argument("--runtime", default="python3.12")
    ap.add_argument("--platform", default="x86_64-manylinux_2_34", help="uv --python-platform")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lpack", default=os.path.join(ROOT, "target/release/lpack"))
    args = ap.parse_args()

    if not os.path.exists(args.lpack):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    uv = shutil.which("uv")
    if not uv:
        sys.exit("uv not found: pip install uv")
    pyver = args.runtime.removeprefix("python")

    work = tempfile.mkdtemp(prefix="lpack-bench-")
    cache = os.path.join(work, "lpack-cache")
    uv_cache = os.path.join(work, "uv-cache")
    env = dict(os.environ, UV_CACHE_DIR=uv_cache)

    def lpack_cmd(i):
        return [args.lpack, "build", "-r", args.lock, "--runtime", args.runtime, "--cache-dir", cache,
                "-o", os.path.join(work, f"lpack-{i}.zip"), "-q"]

    def uv_run(i):
        target = os.path.join(work, f"uv-target-{i}")
        shutil.rmtree(target, ignore_errors=True)
        t1, _ = timed([uv, "pip", "install", "--target", target, "-r", args.lock, "--python-platform",
                       args.platform, "--python-version", pyver, "--only-binary", ":all:", "--no-deps",
                       "--quiet"], env=env)
        out = os.path.join(work, f"uv-{i}.zip")
        if os.path.exists(out):
            os.remove(out)
        t2, _ = timed(["zip", "-qrX", out, "."], cwd=target)
        return t1 + t2

    print(f"lock: {os.path.relpath(args.lock, ROOT)}  runtime: {args.runtime}  runs: {args.runs}")
    print("warming caches …", flush=True)
    t_cold, rss_cold = timed(lpack_cmd("cold"))
    uv_run("warm")

    lp_times, lp_rss, uv_times = [], [], []
    for i in range(args.runs):
        t, rss = timed(lpack_cmd(i))
        lp_times.append(t)
        lp_rss.append(rss)
        uv_times.append(uv_run(i))

    digests = set()
    for i in range(args.runs):
        with open(os.path.join(work, f"lpack-{i}.zip"), "rb") as f:
            import hashlib
            digests.add(hashlib.sha256(f.read()).hexdigest())

    lp, pu = statistics.median(lp_times), statistics.median(uv_times)
    size = os.path.getsize(os.path.join(work, "lpack-0.zip")) / 1e6
    print(f"lpack cold build (download):     {t_cold:6.2f} s   peak RSS {rss_cold:6.1f} MB")
    print(f"lpack warm build (median):       {lp:6.2f} s   peak RSS {max(lp_rss):6.1f} MB   zip {size:.1f} MB")
    print(f"uv pip install --target + zip:   {pu:6.2f} s")
    print(f"ratio uv+zip / lpack:            {pu / lp:6.1f}x")
    print(f"lpack outputs identical across runs: {len(digests) == 1}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
