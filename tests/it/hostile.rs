//! Hostile and broken wheels from a `--find-links` directory: each is refused with a message that
//! names the wheel and what is wrong (exit 2, no artifact), or shipped with a warning.
//!
//! The wheels are written at test time by `tests/helpers/make_broken_wheels.py` (Python's
//! zipfile, an independent writer), including a 2 MB wheel whose one `.so` inflates to 2 GiB.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::*;

/// The directory of broken wheels, written once per test run.
pub fn broken_wheels() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("broken-wheels")
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/make_broken_wheels.py");
        let status = Command::new(helper_python())
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("run make_broken_wheels.py");
        assert!(status.success(), "make_broken_wheels.py failed");
        dir
    })
}

fn build(name: &str, requirement: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let dir = scratch(name);
    let r = dir.join("requirements.txt");
    std::fs::write(&r, requirement).expect("write requirements");
    let out = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&r)
        .args(["--no-index", "--find-links"])
        .arg(broken_wheels())
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("-o")
        .arg(dir.join("out/fn.zip"))
        .args(["--bytecode", "none"])
        .args(extra));
    (out, dir)
}

/// Exit 2, every needle in stderr, nothing in the output directory or the cache's tmp/.
fn refused(name: &str, requirement: &str, needles: &[&str]) {
    let (out, dir) = build(name, requirement, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code 2 for a refused wheel"
    );
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "stderr should contain {n:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "no panic:\n{err}");
    assert!(
        leftovers(&dir.join("out")).is_empty(),
        "no artifact: {:?}",
        leftovers(&dir.join("out"))
    );
    assert!(leftovers(&dir.join("cache/tmp")).is_empty());
}

#[test]
fn zip_bomb_is_refused_from_declared_sizes() {
    refused(
        "hostile-bomb",
        "bomb==1.0\n",
        &[
            "bomb-1.0-py3-none-any.whl",
            "`bomb/_huge.so`",
            "2147483648 bytes",
            "262144000 bytes",
            "refused before inflating",
        ],
    );
}

#[test]
fn zip_bomb_is_held_to_the_image_cap_too() {
    // With --no-limit-check the wheel is held to --max-image-size instead.
    let (out, dir) = build(
        "hostile-bomb-cap",
        "bomb==1.0\n",
        &["--no-limit-check", "--max-image-size", "1GB"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("the image size cap (--max-image-size)"),
        "{err}"
    );
    assert!(err.contains("1000000000 bytes"), "{err}");
    assert!(leftovers(&dir.join("out")).is_empty());
}

#[test]
fn duplicate_entry_names_are_refused() {
    refused(
        "hostile-dup",
        "dup==1.0\n",
        &[
            "dup-1.0-py3-none-any.whl",
            "two entries named `dup/__init__.py`",
        ],
    );
}

#[test]
fn missing_metadata_is_refused() {
    refused(
        "hostile-nometa",
        "nometa==1.0\n",
        &[
            "nometa-1.0-py3-none-any.whl is malformed",
            "`nometa-1.0.dist-info/METADATA` is missing",
            "hint:",
        ],
    );
}

#[test]
fn missing_wheel_file_is_refused() {
    refused(
        "hostile-nowheel",
        "nowheelfile==1.0\n",
        &["`nowheelfile-1.0.dist-info/WHEEL` is missing"],
    );
}

#[test]
fn newer_wheel_version_is_refused() {
    refused(
        "hostile-future",
        "future==1.0\n",
        &["future-1.0-py3-none-any.whl", "Wheel-Version 2.0 (major 2)"],
    );
}

#[test]
fn two_dist_info_directories_are_refused() {
    refused(
        "hostile-twodist",
        "twodist==1.0\n",
        &["2 `.dist-info` directories", "other-1.0.dist-info"],
    );
}

#[test]
fn metadata_version_mismatch_is_refused() {
    refused(
        "hostile-misnamed",
        "misnamed==1.0\n",
        &["METADATA says version 1.1, the file name 1.0"],
    );
}

#[test]
fn record_hash_mismatch_is_refused() {
    refused(
        "hostile-tampered",
        "tampered==1.0\n",
        &[
            "tampered-1.0-py3-none-any.whl: RECORD check failed",
            "`tampered/__init__.py` does not match its RECORD hash",
            "--no-verify-record",
        ],
    );
}

#[test]
fn entries_missing_from_record_are_refused() {
    refused(
        "hostile-unlisted",
        "unlisted==1.0\n",
        &["`unlisted/extra.py` is not listed in RECORD"],
    );
    refused(
        "hostile-norecord",
        "norecord==1.0\n",
        &["`norecord-1.0.dist-info/RECORD` is missing"],
    );
}

#[test]
fn symlink_entries_are_refused() {
    refused(
        "hostile-symlink",
        "symlink==1.0\n",
        &[
            "symlink-1.0-py3-none-any.whl",
            "symlink/link.py",
            "symbolic link",
        ],
    );
}

#[test]
fn no_verify_record_ships_with_a_loud_warning_and_the_check_is_cached() {
    let (out, dir) = build(
        "hostile-noverify",
        "tampered==1.0\n",
        &["--no-verify-record"],
    );
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("warning: --no-verify-record"), "{err}");
    assert!(
        err.contains("shipping tampered-1.0-py3-none-any.whl although its RECORD check failed"),
        "{err}"
    );
    assert!(dir.join("out/fn.zip").is_file());
    // Checked once: the findings are in the cache under the wheel's sha256.
    let checks: Vec<_> = std::fs::read_dir(dir.join("cache/checks-v1"))
        .expect("checks dir")
        .flatten()
        .collect();
    assert_eq!(checks.len(), 1);
    let body = std::fs::read_to_string(checks[0].path()).expect("read");
    assert!(body.contains("does not match its RECORD hash"), "{body}");
}

#[test]
fn corrupt_elf_header_is_kept_with_a_warning() {
    let (out, dir) = build("hostile-badelf", "badelf==1.0\n", &[]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("badelf/_x.so kept unstripped"), "{err}");
    assert!(zip_names(&dir.join("out/fn.zip")).contains(&"badelf/_x.so".to_string()));
}
