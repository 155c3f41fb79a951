//! `lpack build --format zip` end to end against real local indexes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn req(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("requirements.txt");
    std::fs::write(&p, body).expect("write requirements");
    p
}

fn build(dir: &Path, requirements: &Path, index: &str, extra: &[&str]) -> Command {
    let mut c = lpack();
    c.current_dir(dir)
        .arg("build")
        .arg("-r")
        .arg(requirements)
        .args(["--runtime", "python3.11", "--index-url", index])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("-o")
        .arg(dir.join("out/fn.zip"))
        .args(extra);
    c
}

fn import_with_python311(root: &Path, code: &str) {
    let Some(py) = python(11) else {
        panic!("python3.11 is required for import checks (see .ci/run)");
    };
    let out = Command::new(py)
        .args(["-S", "-c"])
        .arg(format!(
            "import sys; sys.path.insert(0, {:?})\n{code}",
            root.to_string_lossy()
        ))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "import failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn end_to_end(kind: IndexKind, name: &str) {
    let dir = scratch(name);
    let url = index(kind);
    let src = dir.join("app");
    std::fs::create_dir_all(src.join("__pycache__")).expect("mkdir");
    std::fs::write(
        src.join("app.py"),
        "import fastmath, purelib\ndef handler(e, c):\n    return fastmath.add(2, 3)\n",
    )
    .expect("write");
    std::fs::write(src.join("__pycache__/app.cpython-311.pyc"), b"junk").expect("write");
    let r = req(
        &dir,
        "# test set\nfastmath==1.0\npurelib==2.0 ; python_version >= '3.10'\npurelib==1.0 ; python_version < '3.10'\nnsa==1.0\nnsb==1.0\n",
    );
    let out = run(build(&dir, &r, url, &["--src", "app", "--json"]).current_dir(&dir));
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(summary["packages"], 4);
    assert_eq!(summary["target"]["runtime"], "python3.11");
    let zip = dir.join("out/fn.zip");
    let names = zip_names(&zip);
    let arch = std::env::consts::ARCH;
    for expected in [
        "app.py",
        "fastmath/",
        "fastmath/__init__.py",
        &format!("fastmath/_core.cpython-311-{arch}-linux-gnu.so"),
        "fastmath-1.0.dist-info/METADATA",
        "fastmath-1.0.dist-info/RECORD",
        "purelib/__init__.py",
        "purelib_extra.py",
        "nspkg/__init__.py",
        "nspkg/a.py",
        "nspkg/b.py",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
    for absent in [
        "purelib/__pycache__/__init__.cpython-39.pyc",
        "purelib-2.0.data/scripts/purelib-cli",
        "__pycache__/app.cpython-311.pyc",
    ] {
        assert!(
            !names.iter().any(|n| n == absent),
            "{absent} should be dropped"
        );
    }
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| a.trim_end_matches('/').cmp(b.trim_end_matches('/')));
    assert_eq!(names, sorted, "entries are sorted");

    // Modes and times are canonical.
    let f = std::fs::File::open(&zip).expect("open");
    let mut z = zip::ZipArchive::new(f).expect("zip");
    for i in 0..z.len() {
        let e = z.by_index(i).expect("entry");
        let name = e.name().expect("utf-8 name").to_string();
        let mode = e.unix_mode().expect("unix mode");
        let t = e.last_modified().expect("time");
        assert_eq!((t.year(), t.month(), t.day()), (1980, 1, 1), "{name}");
        if e.is_dir() || name.ends_with("run.sh") {
            assert_eq!(mode & 0o777, 0o755, "{name}");
        } else {
            assert_eq!(mode & 0o777, 0o644, "{name}");
        }
    }

    // The manifest describes it.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("out/fn.zip.lpack.json")).expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(manifest["schema_version"], 1);
    assert_eq!(manifest["artifact"]["sha256"], summary["sha256"]);
    let pkgs = manifest["packages"].as_array().expect("packages");
    assert!(pkgs.iter().any(|p| p["name"] == "fastmath" && p["sha256"].as_str().is_some_and(|s| s.len() == 64)));
    let files = manifest["files"].as_array().expect("files");
    assert!(files.iter().any(|f| f["rule"] == "bytecode.other-python"));
    assert!(files.iter().any(|f| f["rule"] == "duplicate.identical"));

    // Unzip with an independent reader, import with python3.11 from a read-only tree.
    let root = dir.join("unzipped");
    unzip(&zip, &root);
    import_with_python311(
        &root,
        "import fastmath, purelib, purelib_extra, nspkg.a, nspkg.b, app\n\
         assert fastmath.add(2, 3) == 5\nassert app.handler(None, None) == 5\n\
         assert purelib.VERSION == '2.0'\n\
         import importlib.metadata as m\nassert m.version('fastmath') == '1.0'\n\
         assert fastmath._core.__file__.endswith('.so')\n",
    );
}

#[test]
fn zip_from_html_index_imports_with_python311() {
    end_to_end(IndexKind::Html, "e2e-html");
}

#[test]
fn zip_from_json_index_imports_with_python311() {
    end_to_end(IndexKind::Json, "e2e-json");
}

#[test]
fn find_links_without_index() {
    let dir = scratch("find-links");
    let r = req(&dir, "purelib==1.0\n");
    let out = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&r)
        .args(["--no-index", "--find-links"])
        .arg(&fixtures().flat)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("-q"));
    assert!(out.status.success());
    assert!(stdout(&out).is_empty(), "--quiet prints nothing");
    // Default output name: `requirements.txt` names no project, so its directory does.
    let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
    let zip = dir.join(format!("dist/{name}.zip"));
    assert!(zip.is_file(), "{:?}", leftovers(&dir.join("dist")));
    assert!(dir.join(format!("dist/{name}.zip.lpack.json")).is_file());
}

#[test]
fn reproducible_across_dirs_mtimes_and_umask() {
    let url = index(IndexKind::Html);
    let mut digests = Vec::new();
    for (i, (umask, mtime)) in [("022", "2001-01-01"), ("077", "2024-06-30")]
        .iter()
        .enumerate()
    {
        let dir = scratch(&format!("repro-{i}"));
        let src = dir.join("app");
        std::fs::create_dir_all(src.join("pkg")).expect("mkdir");
        std::fs::write(src.join("app.py"), "X = 1\n").expect("write");
        std::fs::write(src.join("pkg/mod.py"), "Y = 2\n").expect("write");
        let touch = Command::new("touch")
            .args(["-d", mtime])
            .arg(src.join("app.py"))
            .arg(src.join("pkg/mod.py"))
            .status()
            .expect("touch");
        assert!(touch.success());
        let r = req(&dir, "fastmath==1.0\npurelib==2.0\nnsa==1.0\nnsb==1.0\n");
        let cmd = build(&dir, &r, url, &["--src", "app", "-q"]);
        let script = format!("umask {umask} && exec \"$@\"",);
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(script)
            .arg("sh")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.current_dir(&dir);
        let out = run(&mut sh);
        assert!(out.status.success());
        let bytes = std::fs::read(dir.join("out/fn.zip")).expect("zip");
        digests.push(lpack::digest::sha256_hex(&bytes));
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("out/fn.zip.lpack.json")).expect("manifest"),
        )
        .expect("json");
        assert_eq!(manifest["artifact"]["sha256"], digests[i].as_str());
    }
    assert_eq!(
        digests[0], digests[1],
        "same inputs must give the same bytes"
    );

    // SOURCE_DATE_EPOCH changes the single timestamp, and with it the bytes.
    let dir = scratch("repro-epoch");
    let r = req(&dir, "purelib==2.0\n");
    let out = run(build(&dir, &r, url, &["-q"]).env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(out.status.success());
    let f = std::fs::File::open(dir.join("out/fn.zip")).expect("open");
    let mut z = zip::ZipArchive::new(f).expect("zip");
    let t = z.by_index(0).expect("entry").last_modified().expect("time");
    assert_eq!((t.year(), t.month(), t.day()), (2023, 11, 14));
}

#[test]
fn offline_rebuild_uses_the_cache() {
    let dir = scratch("offline");
    // A server of our own, so it can be stopped: the offline build must not need it.
    let server = Index::start(IndexKind::Html);
    let r = req(&dir, "purelib==2.0\nfastmath==1.0\n");
    let out = run(&mut build(&dir, &r, &server.url, &["-q"]));
    assert!(out.status.success());
    let first = std::fs::read(dir.join("out/fn.zip")).expect("zip");
    std::fs::remove_file(dir.join("out/fn.zip")).expect("rm");
    let url = server.url.clone();
    drop(server);
    let out = run(&mut build(&dir, &r, &url, &["--offline", "-q"]));
    assert!(out.status.success());
    assert_eq!(std::fs::read(dir.join("out/fn.zip")).expect("zip"), first);

    // A hashed lock needs no cached index page at all: wheels are found by digest.
    let sha = |name: &str| {
        lpack::digest::sha256_hex(&std::fs::read(fixtures().flat.join(name)).expect("wheel"))
    };
    let arch = std::env::consts::ARCH;
    let locked = req(
        &dir,
        &format!(
            "purelib==2.0 --hash=sha256:{}\nfastmath==1.0 \\\n    --hash=sha256:{}\n",
            sha("purelib-2.0-py3-none-any.whl"),
            sha(&format!(
                "fastmath-1.0-cp311-cp311-manylinux_2_17_{arch}.manylinux2014_{arch}.whl"
            ))
        ),
    );
    std::fs::remove_dir_all(dir.join("cache/index-v1")).expect("rm index pages");
    let out = run(&mut build(
        &dir,
        &locked,
        "http://127.0.0.1:9/simple",
        &["--offline", "-q"],
    ));
    assert!(out.status.success());
    assert_eq!(std::fs::read(dir.join("out/fn.zip")).expect("zip"), first);
}

#[test]
fn concurrent_builds_share_one_cache() {
    let url = index(IndexKind::Html);
    let base = scratch("concurrent");
    let r = req(&base, "purelib==2.0\nfastmath==1.0\nnsa==1.0\nnsb==1.0\n");
    let children: Vec<_> = (0..2)
        .map(|i| {
            let mut c = lpack();
            c.args(["build", "-r"])
                .arg(&r)
                .args(["--runtime", "python3.11", "--index-url", url, "-q"])
                .arg("--cache-dir")
                .arg(base.join("cache"))
                .arg("-o")
                .arg(base.join(format!("out{i}.zip")));
            c.spawn().expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let a = std::fs::read(base.join("out0.zip")).expect("zip");
    let b = std::fs::read(base.join("out1.zip")).expect("zip");
    assert_eq!(a, b);
    assert!(
        leftovers(&base.join("cache/tmp")).is_empty(),
        "no temp files left in the cache"
    );
}

/// Run a build expected to fail: exit 2, message contains all `needles`, no artifact.
fn fails(name: &str, body: &str, index_url: &str, extra: &[&str], needles: &[&str]) {
    let dir = scratch(name);
    let r = req(&dir, body);
    let out = run(&mut build(&dir, &r, index_url, extra));
    assert_eq!(out.status.code(), Some(2), "exit code 2 for errors");
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "stderr should contain {n:?}:\n{err}");
    }
    let out_dir = dir.join("out");
    assert!(
        leftovers(&out_dir).is_empty(),
        "nothing may be left behind: {:?}",
        leftovers(&out_dir)
    );
    let tmp = leftovers(&dir.join("cache/tmp"));
    assert!(tmp.is_empty(), "no partial downloads in the cache: {tmp:?}");
}

#[test]
fn loose_lines_are_resolved_for_the_target() {
    let dir = scratch("loose");
    let r = req(&dir, "purelib>=1.0\nfastmath==1.0\n");
    let out = run(&mut build(&dir, &r, index(IndexKind::Html), &["-q"]));
    assert!(out.status.success());
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("out/fn.zip.lpack.json")).expect("manifest"),
    )
    .expect("json");
    let purelib = m["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "purelib")
        .expect("purelib");
    assert_eq!(purelib["version"], "2.0", "the newest version that fits");
}

#[test]
fn bad_unknown_package() {
    fails(
        "bad-unknown",
        "doesnotexist==1.0\n",
        index(IndexKind::Html),
        &[],
        &["`doesnotexist`", "was not found", "--index-url"],
    );
}

#[test]
fn bad_missing_version() {
    fails(
        "bad-version",
        "purelib==9.9\n",
        index(IndexKind::Json),
        &[],
        &["`purelib==9.9`", "does not exist", "2.0, 1.0"],
    );
}

#[test]
fn bad_no_compatible_wheel() {
    fails(
        "bad-glibc",
        "newglibc==1.0\n",
        index(IndexKind::Html),
        &[],
        &[
            "no wheel of `newglibc==1.0` runs on python3.11",
            "manylinux_2_28",
            "glibc 2.26",
            "or use python3.12",
        ],
    );
    fails(
        "bad-sdist",
        "onlysdist==1.0\n",
        index(IndexKind::Html),
        &[],
        &["only a source distribution", "--find-links"],
    );
}

#[test]
fn bad_hash_mismatch() {
    let wrong = "0".repeat(64);
    fails(
        "bad-hash",
        &format!("purelib==2.0 --hash=sha256:{wrong}\n"),
        index(IndexKind::Html),
        &[],
        &[
            "sha256 mismatch",
            "purelib-2.0-py3-none-any.whl",
            &wrong,
            "Nothing was cached",
        ],
    );
    // And nothing entered the cache.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("it")
        .join(format!("bad-hash-{}", std::process::id()));
    let cached = walkdir_count(&dir.join("cache/wheels-v1"));
    assert_eq!(
        cached, 0,
        "a wheel that failed verification must not be cached"
    );
}

fn walkdir_count(p: &Path) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), n);
                } else {
                    *n += 1;
                }
            }
        }
    }
    let mut n = 0;
    walk(p, &mut n);
    n
}

#[test]
fn bad_corrupt_wheel() {
    fails(
        "bad-corrupt",
        "corrupt==1.0\n",
        index(IndexKind::Html),
        &[],
        &["corrupt-1.0-py3-none-any.whl", "not a readable zip archive"],
    );
}

#[test]
fn bad_path_escape() {
    fails(
        "bad-escape",
        "evil==1.0\n",
        index(IndexKind::Html),
        &[],
        &["evil-1.0-py3-none-any.whl", "../escape.py", "`..`"],
    );
}

#[test]
fn bad_conflicting_files_and_last_wins() {
    fails(
        "bad-clash",
        "clash-a==1.0\nclash-b==1.0\n",
        index(IndexKind::Html),
        &[],
        &[
            "clash/__init__.py",
            "clash_a-1.0-py3-none-any.whl",
            "clash_b-1.0-py3-none-any.whl",
            "--on-conflict last-wins",
        ],
    );
    let dir = scratch("clash-last-wins");
    let r = req(&dir, "clash-a==1.0\nclash-b==1.0\n");
    let out = run(&mut build(
        &dir,
        &r,
        index(IndexKind::Html),
        &["--on-conflict", "last-wins"],
    ));
    assert!(out.status.success());
    assert!(stderr(&out).contains("overwrites"));
    let root = dir.join("x");
    unzip(&dir.join("out/fn.zip"), &root);
    let body = std::fs::read_to_string(root.join("clash/__init__.py")).expect("read");
    assert_eq!(body, "WHO = 'b'\n");
}

#[test]
fn bad_offline_with_empty_cache() {
    fails(
        "bad-offline",
        "purelib==2.0\n",
        index(IndexKind::Html),
        &["--offline"],
        &["--offline", "purelib", "without --offline"],
    );
}

#[test]
fn bad_unreachable_index() {
    fails(
        "bad-unreachable",
        "purelib==2.0\n",
        "http://127.0.0.1:9/simple",
        &[],
        &[
            "cannot reach http://127.0.0.1:9/simple/purelib/",
            "--offline",
        ],
    );
}

#[test]
fn failed_rebuild_keeps_previous_artifact() {
    let dir = scratch("keep-previous");
    let url = index(IndexKind::Html);
    let r = req(&dir, "purelib==2.0\n");
    assert!(run(&mut build(&dir, &r, url, &["-q"])).status.success());
    let before = std::fs::read(dir.join("out/fn.zip")).expect("zip");
    let r = req(&dir, "purelib==2.0\nevil==1.0\n");
    let out = run(&mut build(&dir, &r, url, &["-q"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(dir.join("out/fn.zip")).expect("zip"), before);
    let mut left = leftovers(&dir.join("out"));
    left.sort();
    assert_eq!(left, vec!["fn.zip", "fn.zip.lpack.json"]);
}

#[test]
fn help_teaches() {
    let out = run(lpack().args(["build", "--help"]));
    assert!(out.status.success());
    let s = stdout(&out);
    for needle in [
        "--runtime",
        "--arch",
        "--offline",
        "Examples:",
        "SOURCE_DATE_EPOCH",
        "lpack build -r",
    ] {
        assert!(s.contains(needle), "{needle} missing from build --help");
    }
    let out = run(lpack().args(["build", "-r", "x.txt", "--runtime", "python3.8"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("python3.12"), "names valid runtimes");
}
