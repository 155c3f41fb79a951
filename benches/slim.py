#!/usr/bin/env python3
"""Benchmark: what slimming buys on the seed stack, and what it costs.

For one lock and runtime (default: requirements/datasci-py311.lock.txt on python3.11) it builds
  raw        --profile none --bytecode none
  safe       --profile safe --bytecode-for-imports handler.handler
  safe-nopyc --profile safe --bytecode none
  aggressive --profile aggressive --bytecode-for-imports handler.handler
and prints, from the manifests: unzipped/zipped sizes and bytes removed per rule; ELF bytes
after lpack's stripper vs GNU `strip --strip-unneeded` on the same files (and whether GNU's
output keeps every PT_LOAD congruent); warm build time (slim cache hot, artifact rewritten)
and no-change rebuild time (median of --runs); cold-import time of the handler module from a
read-only copy of `safe` vs `safe-nopyc` with the target Python (fresh process per run, median),
and that the workload runs. A benchmark, not a test: it prints numbers and asserts nothing.

Usage: python3 benches/slim.py [--lock FILE] [--runtime python3.11] [--runs 7]
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def find_python(minor):
    for c in [shutil.which(f"python3.{minor}")] + sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}*/bin/python3.{minor}"))):
        # pyenv's shims need pyenv's environment; the interpreters behind them do not.
        if c and os.path.exists(c) and "/shims/" not in c:
            return c
    sys.exit(f"python3.{minor} not found")


def mb(n):
    return f"{n / 1e6:7.1f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock", default=os.path.join(ROOT, "requirements/datasci-py311.lock.txt"))
    ap.add_argument("--runtime", default="python3.11")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--lpack", default=os.path.join(ROOT, "target/release/lpack"))
    args = ap.parse_args()
    if not os.path.exists(args.lpack):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    minor = int(args.runtime.split(".")[1])
    python = find_python(minor)
    work = tempfile.mkdtemp(prefix="lpack-slim-bench-")
    src = os.path.join(ROOT, "benches/workload")
    variants = {
        "raw": ["--profile", "none", "--bytecode", "none", "--no-limit-check"],
        "safe": ["--profile", "safe", "--bytecode-for-imports", "handler.handler"],
        "safe-nopyc": ["--profile", "safe", "--bytecode", "none"],
        "aggressive": ["--profile", "aggressive", "--bytecode-for-imports", "handler.handler"],
    }
    manifests = {}
    for name, extra in variants.items():
        out = os.path.join(work, f"{name}.zip")
        sh([args.lpack, "build", "-r", args.lock, "--runtime", args.runtime, "--src", src, "-o", out, "-q"] + extra)
        manifests[name] = json.load(open(out + ".lpack.json"))

    print(f"lock: {os.path.relpath(args.lock, ROOT)}  runtime: {args.runtime}  python: {python}")
    print("\nsizes (unzipped / zipped):")
    for name, m in manifests.items():
        a = m["artifact"]
        pyc = sum(f["size"] for f in m["files"] if f["action"] == "add")
        print(f"  {name:11s} {mb(a['unzipped_size'])} / {mb(a['size'])}   bytecode {mb(pyc)}")
    for name in ("safe", "aggressive"):
        removed = {}
        for f in manifests[name]["files"]:
            if f["action"] == "drop":
                removed[f["rule"]] = removed.get(f["rule"], 0) + f["original_size"]
            elif f["action"] == "strip":
                removed["strip.elf"] = removed.get("strip.elf", 0) + f["original_size"] - f["size"]
        top = sorted(removed.items(), key=lambda kv: -kv[1])
        print(f"  removed by {name}: " + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in top if v > 50_000))

    # Stripper vs GNU strip on the same ELF files (from the raw build).
    raw_dir = os.path.join(work, "raw")
    zipfile.ZipFile(os.path.join(work, "raw.zip")).extractall(raw_dir)
    safe = manifests["safe"]
    stripped = {f["path"]: f for f in safe["files"] if f["action"] == "strip"}
    ours = sum(f["size"] for f in stripped.values())
    before = sum(f["original_size"] for f in stripped.values())
    gnu_dir = os.path.join(work, "gnu")
    os.makedirs(gnu_dir)
    gnu, misaligned = 0, 0
    t0 = time.perf_counter()
    for p in stripped:
        dst = os.path.join(gnu_dir, p.replace("/", "__"))
        shutil.copy(os.path.join(raw_dir, p), dst)
        subprocess.run(["strip", "--strip-unneeded", dst], capture_output=True)
        gnu += os.path.getsize(dst)
        for line in sh(["readelf", "-lW", dst]).stdout.splitlines():
            parts = line.split()
            if parts and parts[0] == "LOAD":
                off, vaddr, align = int(parts[1], 16), int(parts[2], 16), int(parts[-1], 16)
                if align > 1 and off % align != vaddr % align:
                    misaligned += 1
    gnu_s = time.perf_counter() - t0
    print(f"\nELF stripping ({len(stripped)} files, {mb(before)} before):")
    print(f"  lpack  {mb(ours)}   (0 broken: every output re-parsed and checked)")
    print(f"  GNU    {mb(gnu)}   ({misaligned} PT_LOAD not congruent; {gnu_s:.2f} s sequential)")
    print(f"  lpack / GNU = {ours / gnu:.4f}")

    # Build timings.
    out = os.path.join(work, "timing.zip")
    base = [args.lpack, "build", "-r", args.lock, "--runtime", args.runtime, "--src", src, "-o", out, "-q",
            "--bytecode-for-imports", "handler.handler"]
    sh(base)
    warm, nochange = [], []
    for _ in range(args.runs):
        os.remove(out)
        t = time.perf_counter(); sh(base); warm.append(time.perf_counter() - t)
        t = time.perf_counter(); sh(base); nochange.append(time.perf_counter() - t)
    print(f"\nbuild times (median of {args.runs}):")
    print(f"  warm build, slim cache hot:  {statistics.median(warm):.3f} s")
    print(f"  no-change rebuild:           {statistics.median(nochange):.3f} s")

    # Cold import of the handler from read-only trees.
    def import_times(name):
        d = os.path.join(work, f"tree-{name}")
        zipfile.ZipFile(os.path.join(work, f"{name}.zip")).extractall(d)
        subprocess.run(["chmod", "-R", "a-w", d], check=True)
        code = f"import sys, time; sys.path.insert(0, {d!r}); t = time.perf_counter(); import handler; print(time.perf_counter() - t)"
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        ts = [float(sh([python, "-S", "-c", code], env=env).stdout.strip()) for _ in range(args.runs)]
        return d, statistics.median(ts)

    safe_dir, with_pyc = import_times("safe")
    _, without = import_times("safe-nopyc")
    print(f"\ncold import of the handler ({os.path.basename(python)}, read-only tree, median of {args.runs}):")
    print(f"  safe with bytecode:    {with_pyc:.3f} s")
    print(f"  safe without bytecode: {without:.3f} s")
    print(f"  ratio: {with_pyc / without:.2f}")
    r = sh([python, "-S", "-c", f"import sys; sys.path.insert(0, {safe_dir!r}); import handler, json; print(json.dumps(handler.simulate()))"],
           env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    print(f"  workload from the safe artifact: {r.stdout.strip()}")
    subprocess.run(["chmod", "-R", "u+w", work])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
