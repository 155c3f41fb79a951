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
