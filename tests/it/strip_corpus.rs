//! The stripper over outside test material: every 64-bit little-endian ELF file of pyelftools'
//! test files (PyPI sdist, public domain), compared with GNU `strip --strip-unneeded`.
//!
//! Opt-in: `LPACK_PYELFTOOLS_DIR=<unpacked sdist>` or `LPACK_TEST_NETWORK=1` (downloads the sdist
//! with pip). Two of its files are vendored in `tests/elf/` and always tested (`slim::strip`).

use std::path::{Path, PathBuf};
use std::process::Command;

use lpack::slim::strip::{KeepReason, Stripped, strip};

use crate::harness::*;

/// The unpacked pyelftools sdist, or why not.
fn pyelftools() -> Result<PathBuf, String> {
    if let Ok(d) = std::env::var("LPACK_PYELFTOOLS_DIR") {
        return Ok(PathBuf::from(d));
    }
    if std::env::var("LPACK_TEST_NETWORK").as_deref() != Ok("1") {
        return Err(
            "set LPACK_TEST_NETWORK=1 (or LPACK_PYELFTOOLS_DIR=<unpacked pyelftools sdist>)".into(),
        );
    }
    let dir = scratch("pyelftools");
    let o = Command::new(helper_python())
        .args([
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "pyelftools==0.33",
            "-d",
        ])
        .arg(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let o = Command::new("tar")
        .args(["xzf", "pyelftools-0.33.tar.gz"])
        .current_dir(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(dir.join("pyelftools-0.33"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `readelf -a` errors (lines with `Error`) and whether it exited 0.
fn readelf_errors(path: &Path) -> (bool, usize) {
    let o = Command::new("readelf")
        .args(["-a", "-W"])
        .arg(path)
        .output()
        .expect("readelf");
    let errors = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains("Error"))
        .count();
    (o.status.success(), errors)
}

#[test]
fn strips_pyelftools_test_files_like_gnu_strip() {
    if !have("strip") || !have("readelf") {
        eprintln!("skipped: GNU binutils (strip, readelf) are needed");
        return;
    }
    let root = match pyelftools() {
        Ok(r) => r,
        Err(why) => {
            eprintln!("skipped: pyelftools' test files: {why}");
            return;
        }
    };
    let work = scratch("pyelftools-strip");
    let mut all = Vec::new();
    files(&root.join("test"), &mut all);
    let mut problems = Vec::new();
    let mut compared = 0;
    let mut table = String::new();
    for (i, path) in all.iter().enumerate() {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        if !bytes.starts_with(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
            continue;
        }
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let gnu_out = work.join(format!("{i}.gnu"));
        let gnu = Command::new("strip")
            .arg("--strip-unneeded")
            .arg("-o")
            .arg(&gnu_out)
            .arg(path)
            .output()
            .expect("strip");
        let gnu_size = gnu
            .status
            .success()
            .then(|| std::fs::metadata(&gnu_out).map(|m| m.len()).unwrap_or(0));
        let ours = strip(&bytes);
        let (ours_size, note) = match &ours {
            Stripped::Done { data, .. } => {
                let out = work.join(format!("{i}.lpack"));
                std::fs::write(&out, data).expect("write");
                let (ok, errors) = readelf_errors(&out);
                let (was_ok, before) = readelf_errors(path);
                if (was_ok && !ok) || errors > before {
                    problems.push(format!(
                        "{name}: readelf -a finds {errors} error(s) in lpack's output ({before} in the original)"
                    ));
                }
                (Some(data.len() as u64), String::new())
            }
            Stripped::Kept(r) => {
                if matches!(r, KeepReason::Unsupported(_)) && gnu_size.is_some() {
                    problems.push(format!("{name}: refused ({r}) but GNU strip handles it"));
                }
                (None, r.to_string())
            }
        };
        if let (Some(a), Some(b)) = (ours_size, gnu_size) {
            compared += 1;
            if a > b + 64 {
                problems.push(format!(
                    "{name}: lpack {a} B, GNU strip {b} B: more than 64 B larger"
                ));
            }
        }
        table.push_str(&format!(
            "{name}: original {} · lpack {} · GNU {} {note}\n",
            bytes.len(),
            ours_size.map_or("kept".into(), |s| s.to_string()),
            gnu_size.map_or("failed".into(), |s| s.to_string()),
        ));
    }
    eprintln!("{table}");
    assert!(compared > 10, "too few files compared:\n{table}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
