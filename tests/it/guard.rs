//! The import guard end to end: verdicts, explain, the size report, optional modules in the
//! audit, the default verify, deep verify's regressions and attribution, the bytecode budget and
//! RECORD files that tell the truth.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;
use crate::slim::{manifest, python311, record, req};

/// The slim tests' build (python3.11, local HTML index, `out/fn.zip`), run.
fn build(dir: &Path, requirements: &Path, extra: &[&str]) -> Output {
    run(&mut crate::slim::build(dir, requirements, extra))
}

fn py(root: &Path, code: &str) -> Output {
    Command::new(python311())
        .args(["-I", "-S", "-B", "-c"])
        .arg(format!(
            "import sys; sys.path.insert(0, {:?})\n{code}",
            root.to_string_lossy()
        ))
        .output()
        .expect("python3.11")
}

#[test]
fn guard_keeps_what_kept_code_imports_and_the_artifact_runs() {
    let dir = scratch("guard-keeps");
    let r = req(&dir, "guardpkg==1.0\n");
    let o = build(&dir, &r, &[]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}\n{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("verified: "), "{out}");

    let m = manifest(&dir);
    // Module level, relative: core.py imports tests/helpers.py.
    for (path, importer) in [
        ("guardpkg/tests/helpers.py", "guardpkg/core.py:1"),
        ("guardpkg/tests/__init__.py", "guardpkg/core.py:1"),
        // importlib.import_module in a module that __getattr__ imports lazily.
        (
            "guardpkg/_core/tests/_natype.py",
            "guardpkg/testing/__init__.py:2",
        ),
        (
            "guardpkg/_core/tests/__init__.py",
            "guardpkg/testing/__init__.py:2",
        ),
    ] {
        let rec = record(&m, path);
        assert_eq!(rec["action"], "keep", "{path}: {rec}");
        assert_eq!(rec["rule"], "guard.imported-by", "{path}: {rec}");
        let note = rec["note"].as_str().unwrap_or("");
        assert!(note.contains(importer), "{path}: {note}");
        assert!(note.contains("common.tests"), "{path}: {note}");
    }
    // Tests importing tests, and a module imported only under try/except ImportError, go.
    for path in [
        "guardpkg/tests/only_for_tests.py",
        "guardpkg/tests/test_core.py",
        "guardpkg/tests/optional_thing.py",
        "guardpkg/_core/tests/test_natype.py",
    ] {
        let rec = record(&m, path);
        assert_eq!(rec["action"], "drop", "{path}: {rec}");
        assert_eq!(rec["rule"], "common.tests", "{path}: {rec}");
    }
    // The optional extension module is a warning, not a build failure.
    assert!(
        err.contains(
            "guardpkg._omp is imported only under try/except ImportError (guardpkg/opt.py:6)"
        ),
        "{err}"
    );
    assert!(err.contains("libnotonlambda.so"), "{err}");

    // It runs, lazy attribute included.
    let root = dir.join("unzipped");
    unzip(&dir.join("out/fn.zip"), &root);
    let run_it = py(
        &root,
        "import guardpkg; print(guardpkg.core.VALUE, guardpkg.testing.pd_NA)",
    );
    assert_eq!(
        String::from_utf8_lossy(&run_it.stdout).trim(),
        "42 NA",
        "{}",
        String::from_utf8_lossy(&run_it.stderr)
    );

    // RECORD lists exactly what ships, with true hashes (checked by importlib.metadata).
    let check = py(
        &root,
        r#"
import importlib.metadata as md, hashlib, base64, os, zipfile
files = md.files("guardpkg")
listed = set()
for f in files:
    p = str(f)
    listed.add(p)
    if f.hash is None:
        assert p.endswith("RECORD"), p
        continue
    data = f.locate().read_bytes()
    assert len(data) == f.size, (p, len(data), f.size)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert digest == f.hash.value, p
shipped = set()
for root, _, names in os.walk(sys.path[0]):
    for n in names:
        rel = os.path.relpath(os.path.join(root, n), sys.path[0])
        if rel.startswith("guardpkg"):
            shipped.add(rel)
assert listed == shipped, (sorted(listed ^ shipped))
assert "guardpkg/tests/only_for_tests.py" not in listed
assert any(p.endswith(".cpython-311.pyc") for p in listed)
print("record ok", len(listed))
"#,
    );
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("record ok"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // explain names the guard, the importer and the rule that wanted the file gone.
    let out = run(lpack()
        .current_dir(&dir)
        .args(["explain", "guardpkg/_core/tests/_natype.py", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.11",
            "--index-url",
            index(IndexKind::Html),
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("guard.imported-by"), "{text}");
    assert!(text.contains("guardpkg/testing/__init__.py:2"), "{text}");
    assert!(text.contains("common.tests"), "{text}");

    // The size report counts what the guard kept in its own category.
    let out = run(lpack()
        .current_dir(&dir)
        .args(["size-report", "--json"])
        .arg(dir.join("out/fn.zip")));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let row = j["distributions"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|d| d["name"] == "guardpkg")
        .expect("guardpkg row");
    assert!(row["kept"]["imported"].as_u64().unwrap_or(0) > 0, "{row}");
    let out = run(lpack()
        .current_dir(&dir)
        .arg("size-report")
        .arg(dir.join("out/fn.zip")));
    assert!(stdout(&out).contains("Kept: imported"), "{}", stdout(&out));

    // An unchanged rebuild is verified from the cache.
    let o = build(&dir, &r, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("verified: "), "{}", stdout(&o));
}

#[test]
fn an_unguarded_extension_needing_a_missing_library_fails_the_audit() {
    let dir = scratch("guard-hard");
    let r = req(&dir, "hardpkg==1.0\n");
    let o = build(&dir, &r, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("A003"), "{err}");
    assert!(err.contains("hardpkg/_omp"), "{err}");
    assert!(err.contains("libnotonlambda.so"), "{err}");
    assert!(!dir.join("out/fn.zip").exists());
}

#[test]
fn a_user_drop_that_breaks_an_import_is_refused_unless_forced() {
    let dir = scratch("guard-user-drop");
    let r = req(&dir, "guardpkg==1.0\n");
    let o = build(&dir, &r, &["--drop", "guardpkg/tests/helpers.py"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("cli.drop-1"), "{err}");
    assert!(err.contains("guardpkg/core.py:1"), "{err}");
    assert!(err.contains("--force-drop"), "{err}");
    assert_eq!(
        record(&manifest(&dir), "guardpkg/tests/helpers.py")["action"],
        "keep"
    );

    // Forced: dropped, the default verify catches it, names the file and the rule, keeps the
    // artifact and exits 1.
    let o = build(&dir, &r, &["--force-drop", "guardpkg/tests/helpers.py"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}\n{}", stdout(&o));
    assert!(
        err.contains("caused by: guardpkg/tests/helpers.py (guardpkg) dropped by cli.force-drop-1"),
        "{err}"
    );
    assert!(stdout(&o).contains("verify failed"), "{}", stdout(&o));
    assert!(dir.join("out/fn.zip").exists());

    // --no-verify skips the check.
    let o = build(
        &dir,
        &r,
        &["--force-drop", "guardpkg/tests/helpers.py", "--no-verify"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("not verified (--no-verify)"));
}

#[test]
fn deep_verify_reports_only_regressions_with_their_cause() {
    let dir = scratch("guard-deep");
    let r = req(&dir, "guardpkg==1.0\n");
    // The lazy attribute's module loses what it imports; `import guardpkg` still works, so the
    // shallow verify passes.
    let o = build(
        &dir,
        &r,
        &["--force-drop", "guardpkg/_core/tests/_natype.py"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(lpack()
        .current_dir(&dir)
        .args(["verify", "--deep", "--json"])
        .arg(dir.join("out/fn.zip"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--index-url", index(IndexKind::Html)]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let regs = j["regressions"].as_array().expect("regressions");
    assert_eq!(regs.len(), 1, "{j}");
    assert_eq!(regs[0]["module"], "guardpkg.testing");
    assert_eq!(
        regs[0]["culprits"][0]["path"],
        "guardpkg/_core/tests/_natype.py"
    );
    assert_eq!(regs[0]["culprits"][0]["rule"], "cli.force-drop-1");
    // The extension module fails from the wheels too: pre-existing, not a regression.
    let pre: Vec<&str> = j["pre_existing"]
        .as_array()
        .expect("pre")
        .iter()
        .filter_map(|p| p["module"].as_str())
        .collect();
    assert_eq!(pre, vec!["guardpkg._omp"], "{j}");

    // The default build deep-verifies clean.
    let o = build(&dir, &r, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(lpack()
        .current_dir(&dir)
        .args(["verify", "--deep"])
        .arg(dir.join("out/fn.zip"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--index-url", index(IndexKind::Html)]));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 regression(s)"), "{}", stdout(&o));
}

#[test]
fn bytecode_never_pushes_a_build_over_its_budget() {
    let dir = scratch("guard-bytecode");
    let r = req(&dir, "guardpkg==1.0\n");
    let size = |dir: &Path| {
        manifest(dir)["artifact"]["unzipped_size"]
            .as_u64()
            .expect("size")
    };
    let o = build(&dir, &r, &["--bytecode", "none"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bare = size(&dir);
    let o = build(&dir, &r, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = size(&dir);
    assert!(full > bare + 200_000, "{bare} {full}");

    // Between the two: only what importing the top-level package loads is compiled.
    let budget = (bare + full) / 2;
    let o = build(&dir, &r, &["--max-unzipped", &budget.to_string()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let m = manifest(&dir);
    let note = m["bytecode_note"].as_str().unwrap_or("");
    assert!(note.contains("top-level"), "{m}");
    assert!(
        stdout(&o).contains("bytecode: compiled only"),
        "{}",
        stdout(&o)
    );
    let names = zip_names(&dir.join("out/fn.zip"));
    assert!(
        names
            .iter()
            .any(|n| n == "guardpkg/__pycache__/__init__.cpython-311.pyc")
    );
    assert!(
        !names
            .iter()
            .any(|n| n == "guardpkg/__pycache__/big.cpython-311.pyc")
    );
    assert!(size(&dir) <= budget);

    // No room for any bytecode: none, and the build still succeeds.
    let tight = bare + 10;
    let o = build(&dir, &r, &["--max-unzipped", &tight.to_string()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let m = manifest(&dir);
    assert_eq!(m["bytecode"], "none", "{m}");
    assert!(
        m["bytecode_note"]
            .as_str()
            .unwrap_or("")
            .starts_with("none:"),
        "{m}"
    );
}
