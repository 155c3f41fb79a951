#!/usr/bin/env python3
"""Benchmark: warm-cache `lpack build --format image` (to an OCI layout) vs `--format zip`.

Same lock, same cache, same run. The base image is the small OCI layout the tests use
(tests/helpers/make_base_image.py), so the figures measure lpack's work, not a base download.
Prints median wall time and peak RSS (wait4) of each over --runs. Asserts nothing.

Usage: python3 benches/image.py [--lock requirements/datasci-py312.lock.txt] [--runs 5]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr.read().decode()}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock", default=os.path.join(ROOT, "requirements/datasci-py312.lock.txt"))
    ap.add_argument("--runtime", default="python3.12")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lpack", default=os.path.join(ROOT, "target/release/lpack"))
    a = ap.parse_args()
    if not os.path.exists(a.lpack):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="lpack-image-bench-")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests/helpers/make_base_image.py"), "base", "base", "amd64"],
                   cwd=work, check=True, capture_output=True)
    common = [a.lpack, "build", "-r", a.lock, "--runtime", a.runtime, "--src", os.path.join(ROOT, "benches/workload"),
              "--cache-dir", os.path.join(work, "cache"), "-q"]
    zip_cmd = common + ["-o", "fn.zip"]
    img_cmd = common + ["--format", "image", "--handler", "handler.handler", "--base", "oci-layout:base:base",
                        "--image-out", "oci-layout:img:latest"]
    t_cold, rss_cold = timed(img_cmd, work)  # fills wheel, slim and layer caches
    timed(zip_cmd, work)
    zs, zr, is_, ir = [], [], [], []
    for _ in range(a.runs):
        os.remove(os.path.join(work, "fn.zip"))  # force a real zip write, not "up to date"
        t, r = timed(zip_cmd, work); zs.append(t); zr.append(r)
        shutil.rmtree(os.path.join(work, "img"))
        t, r = timed(img_cmd, work); is_.append(t); ir.append(r)
    print(f"lock: {os.path.relpath(a.lock, ROOT)}  runtime: {a.runtime}  runs: {a.runs}")
    print(f"image, cold layer cache:  {t_cold:6.2f} s   peak RSS {rss_cold:6.1f} MB")
    print(f"zip build, warm:          {statistics.median(zs):6.2f} s   peak RSS {max(zr):6.1f} MB")
    print(f"image build, warm:        {statistics.median(is_):6.2f} s   peak RSS {max(ir):6.1f} MB")
    print(f"image / zip:              {statistics.median(is_) / statistics.median(zs):6.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
