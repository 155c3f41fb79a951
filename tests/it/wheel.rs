//! The Python wheel of lpack (`scripts/build-wheel.sh`): it installs offline into a fresh venv
//! with pip, `lpack` and `python -m lpack` run, it builds a real artifact, its binary needs no
//! glibc newer than 2.17, and a rebuild gives the same bytes.
//!
//! `scripts/test.sh` builds the wheel (at the tests' profile, sharing their dependency build;
//! `LPACK_TEST_WHEEL_DIR` names where, `LPACK_TEST_WHEEL_AGAIN_DIR` a second build of it,
//! `LPACK_TEST_WHEEL_PROFILE` the profile, release if unset);
//! without `LPACK_TEST_WHEEL_DIR` this test says so and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn wheel_in(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("wheel dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lpack_lambda-") && n.ends_with(".whl"))
        })
        .collect();
    assert_eq!(found.len(), 1, "one wheel in {}: {found:?}", dir.display());
    found[0].clone()
}

/// The newest `GLIBC_x.y` version an ELF file needs (readelf's version-needs section).
fn newest_glibc(binary: &Path) -> (u32, u32) {
    let out = run(Command::new("readelf").arg("-V").arg(binary));
    assert!(out.status.success());
    stdout(&out)
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut it = v.split('.').map(|x| x.parse::<u32>().ok());
            Some((it.next()??, it.next().flatten().unwrap_or(0)))
        })
        .max()
        .unwrap_or((0, 0))
}

#[test]
fn the_wheel_installs_offline_runs_builds_and_is_reproducible() {
    let Some(built) = std::env::var_os("LPACK_TEST_WHEEL_DIR") else {
        eprintln!("skipped: LPACK_TEST_WHEEL_DIR is not set (scripts/test.sh builds the wheel)");
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wheel = wheel_in(&repo.join(built));
    let name = wheel
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    assert!(
        name.starts_with(&format!(
            "lpack_lambda-{}-py3-none-",
            env!("CARGO_PKG_VERSION")
        )) && name.contains("manylinux_2_17_x86_64"),
        "{name}"
    );
    let dir = scratch("wheel");

    // A second build (cargo has nothing to do, maturin packs again) gives the same bytes.
    // scripts/test.sh makes it before the tests run (LPACK_TEST_WHEEL_AGAIN_DIR): started from
    // here, cargo would relink the lpack binary the other tests are running (maturin strips it,
    // the test build does not) under their feet. Without that variable this test builds it.
    let again = match std::env::var_os("LPACK_TEST_WHEEL_AGAIN_DIR") {
        Some(d) => repo.join(d),
        None => {
            let again = dir.join("again");
            let profile =
                std::env::var("LPACK_TEST_WHEEL_PROFILE").unwrap_or_else(|_| "release".into());
            let mut again_cmd = Command::new(repo.join("scripts/build-wheel.sh"));
            without_test_env(&mut again_cmd);
            let out = run(again_cmd
                .arg("--out")
                .arg(&again)
                .args(["--profile", &profile]));
            assert!(out.status.success(), "{}", stderr(&out));
            again
        }
    };
    let sha = |p: &Path| lpack::digest::sha256_file(p).expect("hash");
    assert_eq!(
        sha(&wheel_in(&again)),
        sha(&wheel),
        "two wheel builds differ"
    );

    // auditwheel agrees with the tag: nothing newer than glibc 2.17 is needed.
    let out = run(Command::new(helper_python())
        .args(["-m", "auditwheel", "show"])
        .arg(&wheel));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("manylinux_2_17_x86_64"),
        "{}",
        stdout(&out)
    );

    // A fresh venv installs it without an index and runs it.
    let venv = dir.join("venv");
    assert!(
        run(Command::new(helper_python())
            .arg("-m")
            .arg("venv")
            .arg(&venv))
        .status
        .success()
    );
    let out = run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--no-index",
            "--disable-pip-version-check",
            "--find-links",
        ])
        .arg(wheel.parent().expect("dir"))
        .arg("lpack-lambda"));
    assert!(out.status.success(), "{}", stderr(&out));
    let bin = venv.join("bin/lpack");
    let glibc = newest_glibc(&bin);
    assert!(
        glibc <= (2, 17),
        "the binary needs GLIBC_{}.{}",
        glibc.0,
        glibc.1
    );
    let out = run(Command::new(&bin).arg("--version"));
    assert_eq!(
        stdout(&out).trim(),
        format!("lpack {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(Command::new(venv.join("bin/python")).args(["-m", "lpack", "--help"]));
    assert!(out.status.success());
    assert!(stdout(&out).contains("Examples:"), "{}", stdout(&out));
    let out = run(Command::new(venv.join("bin/python")).args(["-m", "lpack", "nonsense"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "python -m lpack passes the exit code on"
    );

    // A real build with the installed binary, from the tests' local index.
    std::fs::write(dir.join("requirements.txt"), "purelib==2.0\n").expect("write");
    let out = run(Command::new(&bin)
        .current_dir(&dir)
        .env_remove("GITHUB_ACTIONS")
        .args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
        .args(["--index-url", index(IndexKind::Html)])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["-o", "out/fn.zip", "--no-verify", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["packages"], 1);
    assert!(
        zip_names(&dir.join("out/fn.zip"))
            .iter()
            .any(|n| n == "purelib/__init__.py")
    );
}
