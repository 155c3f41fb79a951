//! Opt-in tests that reach the real package index (`LPACK_TEST_NETWORK=1`); skipped otherwise.

use std::process::Command;

use crate::harness::*;

fn enabled(name: &str) -> bool {
    let on = std::env::var("LPACK_TEST_NETWORK").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped {name}: set LPACK_TEST_NETWORK=1 to run tests that reach PyPI");
    }
    on
}

/// The README's first command: the seed stack lock → zip, then the workload runs on python3.12.
#[test]
fn seed_stack_zip_runs_the_workload() {
    if !enabled("seed_stack_zip_runs_the_workload") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = scratch("net-seed");
    let out = run(lpack()
        .current_dir(root)
        .args([
            "build",
            "-r",
            "requirements/datasci-py312.lock.txt",
            "--src",
            "benches/workload",
            "-o",
        ])
        .arg(dir.join("seed.zip"))
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(out.status.success());
    let Some(py) = python(12) else {
        eprintln!("skipped the import half: python3.12 not found");
        return;
    };
    let tree = dir.join("tree");
    unzip(&dir.join("seed.zip"), &tree);
    let out = Command::new(py)
        .args(["-S", "-c"])
        .arg(format!(
            "import sys; sys.path.insert(0, {:?})\nimport handler\nr = handler.simulate(rows=5000)\nassert r['sensors'] == 50, r\nprint(r)",
            tree.to_string_lossy()
        ))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3.12");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 4's scenario: the python3.11 seed stack, safe and aggressive, builds, verifies, and
/// runs the workload (aggressive with the runtime-provided packages behind it, as on Lambda).
#[test]
fn seed_stack_py311_profiles_verify_and_run() {
    if !enabled("seed_stack_py311_profiles_verify_and_run") {
        return;
    }
    let Some(py) = python(11) else {
        panic!("python3.11 is required");
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = scratch("net-seed311");
    for profile in ["safe", "aggressive"] {
        let zip = dir.join(format!("{profile}.zip"));
        let out = run(lpack()
            .current_dir(root)
            .args([
                "build",
                "-r",
                "requirements/datasci-py311.lock.txt",
                "--runtime",
                "python3.11",
                "--src",
                "benches/workload",
                "--profile",
                profile,
                "--bytecode-for-imports",
                "handler.handler",
                "--verify",
                "-o",
            ])
            .arg(&zip)
            .arg("--cache-dir")
            .arg(dir.join("cache")));
        assert!(out.status.success(), "{profile}");
        let tree = dir.join(format!("tree-{profile}"));
        unzip(&zip, &tree);
        let mut paths = vec![tree.to_string_lossy().into_owned()];
        if profile == "aggressive" {
            let rt = dir.join("runtime");
            let pip = Command::new(&py)
                .args(["-m", "pip", "install", "-q", "--no-deps", "--target"])
                .arg(&rt)
                .arg("-r")
                .arg(root.join("data/lambda-runtime-provided.txt"))
                .status()
                .expect("pip");
            assert!(pip.success());
            paths.push(rt.to_string_lossy().into_owned());
        }
        let out = Command::new(&py)
            .args(["-S", "-c"])
            .arg(format!(
                "import sys; sys.path[0:0] = {paths:?}\nimport handler\nr = handler.simulate(rows=5000)\nassert r['sensors'] == 50, r\nprint(r)"
            ))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("python3.11");
        assert!(
            out.status.success(),
            "{profile}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Issue 3's comparison: `lpack lock` on the seed stack for python3.12 picks the same versions as
/// `uv pip compile --python-platform x86_64-manylinux_2_34 --python-version 3.12 --only-binary
/// :all:`, and for python3.11 every chosen wheel carries a tag AL2 (glibc 2.26) can run.
#[test]
fn lock_matches_uv_and_respects_al2() {
    if !enabled("lock_matches_uv_and_respects_al2") {
        return;
    }
    if !have("uv") {
        eprintln!("skipped the uv half: uv not on PATH (pip install uv)");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = scratch("net-lock");
    let out = run(lpack()
        .current_dir(root)
        .args([
            "lock",
            "-r",
            "requirements/datasci.txt",
            "--runtime",
            "python3.12",
            "-q",
            "-o",
        ])
        .arg(dir.join("pylock312.toml"))
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(out.status.success());
    let uv = Command::new("uv")
        .current_dir(root)
        .args([
            "pip",
            "compile",
            "requirements/datasci.txt",
            "--python-platform",
            "x86_64-manylinux_2_34",
            "--python-version",
            "3.12",
            "--only-binary",
            ":all:",
            "--no-header",
            "--no-annotate",
            "-q",
        ])
        .output()
        .expect("uv");
    assert!(
        uv.status.success(),
        "{}",
        String::from_utf8_lossy(&uv.stderr)
    );
    let theirs: std::collections::BTreeSet<String> = String::from_utf8_lossy(&uv.stdout)
        .lines()
        .filter(|l| l.contains("=="))
        .map(|l| l.trim().to_string())
        .collect();
    let text = std::fs::read_to_string(dir.join("pylock312.toml")).expect("lock");
    let mut ours = std::collections::BTreeSet::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(v) = line
            .strip_prefix("name = \"")
            .filter(|v| !v.ends_with(".whl\""))
        {
            name = Some(v.trim_end_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = \"")
            && let Some(n) = name.take()
        {
            ours.insert(format!("{n}=={}", v.trim_end_matches('"')));
        }
    }
    assert_eq!(ours, theirs, "same versions as uv for python3.12");

    let out = run(lpack()
        .current_dir(root)
        .args([
            "lock",
            "-r",
            "requirements/datasci.txt",
            "--runtime",
            "python3.11",
            "-q",
            "-o",
        ])
        .arg(dir.join("pylock311.toml"))
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.join("pylock311.toml")).expect("lock");
    let target = lpack::target::Target::new(
        lpack::target::Runtime::Python311,
        lpack::target::Arch::X86_64,
    );
    for line in text.lines() {
        if let Some(f) = line
            .strip_prefix("name = \"")
            .filter(|v| v.ends_with(".whl\""))
        {
            let w =
                lpack::wheel::WheelFilename::parse(f.trim_end_matches('"')).expect("wheel name");
            assert!(
                w.priority(&target).is_some(),
                "{f} does not run on AL2 (glibc 2.26)"
            );
        }
    }
}
