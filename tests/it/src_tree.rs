//! Handler code from a working tree (`src = "."`, what `lpack init` writes for a handler at the
//! project root): only the code is packed, whatever else the tree holds.

use std::path::{Path, PathBuf};

use crate::harness::*;

/// A user's project after a while: the handler, an earlier build, a virtual environment, bench
/// results, a git-ignored log, a lock file, bytecode, then `lpack init`.
fn project(name: &str) -> PathBuf {
    let dir = scratch(name);
    let w = |rel: &str, bytes: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    };
    w(".git/HEAD", b"ref: refs/heads/main\n");
    w("requirements.txt", b"purelib==1.0\n");
    w(
        "app.py",
        b"import purelib\n\ndef handler(event, context):\n    return purelib.VERSION\n",
    );
    let out = run(lpack().arg("init").current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cfg = std::fs::read_to_string(dir.join("lpack.toml")).expect("lpack.toml");
    assert!(cfg.contains("src = \".\""), "{cfg}");
    // What init's comment promises about `src`.
    assert!(cfg.contains("files git ignores"), "{cfg}");
    w("dist/old.zip", &vec![7u8; 200_000]);
    w("dist/old.zip.lpack.json", b"{}");
    w(".venv/pyvenv.cfg", b"home = /usr/bin\n");
    w(".venv/lib/python3.12/site-packages/junk.py", b"X = 1\n");
    w("bench-results/summary.json", b"{}");
    w("bench-results/report.html", b"<html></html>");
    w(".gitignore", b"*.log\n/data/\n");
    w("debug.log", b"secret\n");
    w("data/model.bin", &vec![1u8; 6_000_000]);
    w(
        "pylock.toml",
        b"lock-version = \"1.0\"\ncreated-by = \"lpack\"\n",
    );
    w("__pycache__/app.cpython-312.pyc", b"\0");
    w("app_test.py", b"def test(): pass\n");
    dir
}

fn build(dir: &Path, extra: &[&str]) -> std::process::Output {
    run(lpack()
        .arg("build")
        .args(extra)
        .env("LPACK_FIND_LINKS", &fixtures().flat)
        .env("LPACK_NO_INDEX", "1")
        .env("LPACK_CACHE_DIR", dir.join("cache"))
        .env("LPACK_NO_VERIFY", "true")
        .env("LPACK_BYTECODE", "none")
        .current_dir(dir))
}

/// (artifact path, sha256) from `--json`.
fn built(dir: &Path, out: &std::process::Output) -> (PathBuf, String) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let v = if v.is_array() { v[0].clone() } else { v };
    let artifact = dir.join(v["artifact"].as_str().expect("artifact"));
    (artifact, v["sha256"].as_str().expect("sha256").to_string())
}

/// The files of the zip that are not the packages'.
fn own_files(zip: &Path) -> Vec<String> {
    zip_names(zip)
        .into_iter()
        .filter(|n| !n.ends_with('/') && !n.starts_with("purelib"))
        .collect()
}

#[test]
fn a_working_tree_packs_only_the_handler_code() {
    let dir = project("src-tree");
    let out = build(&dir, &["--json"]);
    let (zip, sha) = built(&dir, &out);
    assert_eq!(own_files(&zip), ["app.py", "app_test.py"]);

    // Bench results, another build's output and a venv change between two builds: same bytes.
    std::fs::write(dir.join("bench-results/samples.csv"), "a,b\n").expect("write");
    std::fs::create_dir_all(dir.join("results-2")).expect("mkdir");
    std::fs::write(dir.join("results-2/summary.json"), "{}").expect("write");
    std::fs::write(dir.join("results-2/samples.json"), "[]").expect("write");
    std::fs::write(dir.join("dist/other.zip"), "PK").expect("write");
    std::fs::write(dir.join("dist/other.zip.lpack.json"), "{}").expect("write");
    std::fs::write(dir.join(".venv/lib/python3.12/site-packages/more.py"), "").expect("write");
    std::fs::write(dir.join("second.log"), "x").expect("write");
    let out = build(&dir, &["--json"]);
    let (zip2, sha2) = built(&dir, &out);
    assert_eq!(zip2, zip);
    assert_eq!(sha2, sha, "leftovers changed the artifact");
    assert!(
        stdout(&out).contains("\"unchanged\": true"),
        "not even rewritten"
    );

    // --exclude drops a file; --include brings back a git-ignored one (and the size warning
    // names it as the largest file).
    let out = build(
        &dir,
        &["--exclude", "*_test.py", "--include", "data/model.bin"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(own_files(&zip), ["app.py", "data/model.bin"]);
    let err = stderr(&out);
    assert!(
        err.contains("handler code (--src .) is 6.0 MB in 2 files; largest: data/model.bin"),
        "{err}"
    );
}

#[test]
fn exclude_and_include_keys_and_the_summary_line() {
    let dir = project("src-tree-keys");
    let mut cfg = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    // Top-level keys go before the (commented) tables init writes at the end.
    cfg = format!("exclude = [\"app_test.py\"]\ninclude = [\"debug.log\"]\n{cfg}");
    std::fs::write(dir.join("lpack.toml"), cfg).expect("write");
    let out = build(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("<src> (handler code): 2 files, 79 B"),
        "{text}"
    );
    let zips: Vec<PathBuf> = std::fs::read_dir(dir.join("dist"))
        .expect("dist")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip") && !p.ends_with("old.zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    assert_eq!(own_files(&zips[0]), ["app.py", "debug.log"]);
}
