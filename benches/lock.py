#!/usr/bin/env python3
"""Benchmark: `lpack lock` vs `uv pip compile` for the same Lambda target, cold and warm cache.

Target: python3.12 on x86_64 (uv: --python-platform x86_64-manylinux_2_34 --python-version 3.12
--only-binary :all:). Cold = empty cache for both; warm = the same command again. Median of
--runs for warm. Prints the ratio. Reaches the package index; asserts nothing.

Usage: python3 benches/lock.py [--requirements requirements/datasci.txt] [--runs 3]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, env=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requirements", default=os.path.join(ROOT, "requirements/datasci.txt"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lpack", default=os.path.join(ROOT, "target/release/lpack"))
    a = ap.parse_args()
    if not os.path.exists(a.lpack):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    uv = shutil.which("uv") or sys.exit("uv not found: pip install uv")
    work = tempfile.mkdtemp(prefix="lpack-lock-bench-")
    lp = [a.lpack, "lock", "-r", a.requirements, "--runtime", "python3.12", "-q", "-o", os.path.join(work, "pylock.toml"),
          "--cache-dir", os.path.join(work, "lpack-cache")]
    uvc = [uv, "pip", "compile", a.requirements, "--python-platform", "x86_64-manylinux_2_34", "--python-version", "3.12",
           "--only-binary", ":all:", "-q", "-o", os.path.join(work, "uv.txt")]
    env = dict(os.environ, UV_CACHE_DIR=os.path.join(work, "uv-cache"))
    lc, uc = timed(lp), timed(uvc, env)
    lw = statistics.median(timed(lp) for _ in range(a.runs))
    uw = statistics.median(timed(uvc, env) for _ in range(a.runs))
    print(f"requirements: {os.path.relpath(a.requirements, ROOT)}  target: python3.12 x86_64")
    print(f"cold:  lpack {lc:6.2f} s   uv {uc:6.2f} s   lpack/uv {lc / uc:5.2f}")
    print(f"warm:  lpack {lw:6.2f} s   uv {uw:6.2f} s   lpack/uv {lw / uw:5.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
