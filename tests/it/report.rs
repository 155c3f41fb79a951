//! `lpack size-report`: golden outputs on manifests of real builds, the SVG, and the gates.

use std::path::{Path, PathBuf};

use crate::harness::*;

/// Build `body` (python3.11, no bytecode, local index) to `dir/<name>.zip`.
fn build(dir: &Path, name: &str, body: &str, extra: &[&str]) -> PathBuf {
    let r = dir.join(format!("{name}.txt"));
    std::fs::write(&r, body).expect("requirements");
    let out = dir.join(format!("{name}.zip"));
    let o = run(lpack()
        .current_dir(dir)
        .args(["build", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "--index-url",
            index(IndexKind::Html),
            "-q",
            "-o",
        ])
        .arg(&out)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra));
    assert!(o.status.success());
    out
}

/// Compare with `tests/golden/<name>`; `LPACK_UPDATE_GOLDEN=1` rewrites the file.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("LPACK_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("missing {path:?}; run with LPACK_UPDATE_GOLDEN=1 to create it")
    });
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file (LPACK_UPDATE_GOLDEN=1 to accept)"
    );
}

fn report(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let o = run(lpack().current_dir(dir).arg("size-report").args(args));
    (o.status.code(), stdout(&o), stderr(&o))
}

#[test]
fn golden_table_json_markdown_and_diff() {
    let dir = scratch("report-golden");
    build(
        &dir,
        "old",
        "bigdata==1.0\npurelib==1.0\nnsa==1.0\nnsb==1.0\n",
        &[],
    );
    build(
        &dir,
        "new",
        "bigdata==2.0\npurelib==2.0\nnsa==1.0\n",
        &["--drop", "nspkg/a.py"],
    );
    let (code, table, _) = report(&["old.zip"], &dir);
    assert_eq!(code, Some(0));
    golden("size-report.txt", &table);
    let (_, json, _) = report(&["old.zip.lpack.json", "--json"], &dir);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["schema_version"], 1);
    for key in ["artifacts", "distributions", "total", "limits", "top_rules"] {
        assert!(v.get(key).is_some(), "JSON lacks {key}");
    }
    let d = &v["distributions"][0];
    for key in [
        "name",
        "version",
        "before",
        "after",
        "zipped",
        "removed",
        "bytecode_added",
        "top_rules",
    ] {
        assert!(d.get(key).is_some(), "distribution lacks {key}");
    }
    assert_eq!(d["name"], "bigdata");
    assert!(d["removed"]["tests"].as_u64() > Some(500_000), "{d}");
    golden("size-report.json", &json);
    let (_, md, _) = report(&["old.zip", "--markdown", "--top", "2"], &dir);
    assert!(md.contains("| **total** |"));
    assert!(md.contains("(2 more)"));
    golden("size-report.md", &md);
    let (_, diff, _) = report(&["--diff", "old.zip", "new.zip"], &dir);
    assert!(diff.contains("bigdata") && diff.contains("-0.3"), "{diff}");
    assert!(diff.contains("removed 1.0"), "nsb left the build: {diff}");
    golden("size-diff.txt", &diff);
}

#[test]
fn svg_has_a_bar_per_distribution_and_the_limit_line() {
    let dir = scratch("report-svg");
    build(&dir, "fn", "bigdata==1.0\npurelib==2.0\nnsa==1.0\n", &[]);
    let (code, _, _) = report(&["fn.zip", "--svg", "out/chart.svg"], &dir);
    assert_eq!(code, Some(0));
    let check = std::process::Command::new(helper_python())
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as ET\n\
             root = ET.parse(sys.argv[1]).getroot()\n\
             ns = '{http://www.w3.org/2000/svg}'\n\
             texts = [(t.text or '').strip() for t in root.iter(ns + 'text')]\n\
             for d in ['total shipped', 'bigdata 1.0', 'purelib 2.0', 'nsa 1.0', '<src>']:\n\
             \x20   assert (d in texts) == (d != '<src>'), (d, texts)\n\
             lines = [p for p in root.iter(ns + 'line') if p.get('class') == 'limit' and p.get('stroke')]\n\
             assert len(lines) == 1, 'no limit line'\n\
             assert any('262,144,000' in t for t in texts)\n\
             print('ok')\n",
        )
        .arg(dir.join("out/chart.svg"))
        .output()
        .expect("python");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn gates_fail_one_byte_over_and_pass_at_the_limit() {
    let dir = scratch("report-gates");
    let zip = build(&dir, "fn", "bigdata==1.0\npurelib==2.0\n", &[]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("fn.zip.lpack.json")).expect("manifest"))
            .expect("json");
    let unzipped = m["artifact"]["unzipped_size"].as_u64().expect("size");
    let zipped = m["artifact"]["size"].as_u64().expect("size");
    let z = zip.to_string_lossy().into_owned();
    let at = |flag: &str, n: u64| report(&[&z, flag, &n.to_string()], &dir);
    assert_eq!(at("--max-unzipped", unzipped).0, Some(0));
    let (code, _, err) = at("--max-unzipped", unzipped - 1);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("exceeds --max-unzipped") && err.contains("by 1 bytes"),
        "{err}"
    );
    assert!(err.contains("biggest: bigdata"), "{err}");
    assert!(
        err.contains("--profile aggressive") && err.contains("layer") && err.contains("image"),
        "{err}"
    );
    assert_eq!(at("--max-zipped", zipped).0, Some(0));
    assert_eq!(at("--max-zipped", zipped - 1).0, Some(1));
    // Units work, and the same gates on build: exit 1, artifact kept for inspection.
    assert_eq!(report(&[&z, "--max-unzipped", "1MB"], &dir).0, Some(1));
    let r = dir.join("fn.txt");
    let o = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "--index-url",
            index(IndexKind::Html),
            "-o",
        ])
        .arg(&zip)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--max-unzipped", &(unzipped - 1).to_string()]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("gate failed"));
    assert!(zip.is_file());
    let (code, _, err) = report(&[&z, "--max-unzipped", "lots"], &dir);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a size"), "{err}");
}
