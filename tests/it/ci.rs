//! `--ci` and `--junit`: the job summary, step outputs and annotations GitHub Actions reads, and
//! JUnit XML, from the real binary with `GITHUB_ACTIONS=true` and temp files for GitHub's.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// A scratch workspace with GitHub's files and a requirements file whose pins sit on known lines.
pub(crate) struct Gh {
    pub dir: PathBuf,
    pub output: PathBuf,
    pub summary: PathBuf,
}

impl Gh {
    pub(crate) fn new(name: &str) -> Gh {
        let dir = scratch(name);
        Gh {
            output: dir.join("gh/output"),
            summary: dir.join("gh/summary.md"),
            dir,
        }
    }

    /// lpack with GitHub's environment: run in the workspace, `GITHUB_ACTIONS=true`.
    pub(crate) fn lpack(&self) -> Command {
        std::fs::create_dir_all(self.dir.join("gh")).expect("mkdir");
        let mut c = lpack();
        c.current_dir(&self.dir)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &self.output)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_WORKSPACE", &self.dir);
        c
    }

    pub(crate) fn build(&self, extra: &[&str]) -> Command {
        let mut c = self.lpack();
        c.args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
            .args(["--index-url", index(IndexKind::Html)])
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(["-o", "out/fn.zip", "--no-verify", "--bytecode", "none"])
            .args(extra);
        c
    }

    pub(crate) fn outputs(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    pub(crate) fn summary(&self) -> String {
        std::fs::read_to_string(&self.summary).unwrap_or_default()
    }

    fn manifest(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("out/fn.zip.lpack.json")).expect("m"))
            .expect("json")
    }
}

/// `::error`/`::warning` lines of stderr.
fn annotations(out: &std::process::Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("::error ") || l.starts_with("::warning "))
        .map(str::to_string)
        .collect()
}

/// The multiline output `name<<DELIM … DELIM` as its value.
fn multiline(outputs: &str, name: &str) -> Option<String> {
    let mut lines = outputs.lines();
    let delim = lines
        .by_ref()
        .find_map(|l| l.strip_prefix(&format!("{name}<<")))?
        .to_string();
    let value: Vec<&str> = lines.take_while(|l| *l != delim).collect();
    Some(value.join("\n"))
}

/// Parse JUnit XML with Python's xml.etree and return (tests, failures, [(name, file, line)] of
/// failed cases).
fn junit(path: &Path) -> serde_json::Value {
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
cases = root.findall("./testsuite/testcase")
failed = [c for c in cases if c.find("failure") is not None]
print(json.dumps({
    "tests": int(root.get("tests")),
    "failures": int(root.get("failures")),
    "suites": sorted(s.get("name") for s in root.findall("testsuite")),
    "counted": len(cases),
    "failed": [[c.get("name"), c.get("file"), c.get("line"), c.find("failure").get("message")] for c in failed],
}))
"#;
    let out = run(Command::new(helper_python())
        .arg("-c")
        .arg(script)
        .arg(path));
    assert!(
        out.status.success(),
        "JUnit XML does not parse: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn a_failing_gate_gives_outputs_summary_annotation_and_junit() {
    let gh = Gh::new("ci-gate");
    std::fs::write(
        gh.dir.join("requirements.txt"),
        "# pinned for python3.11\n\npurelib==2.0\nsix==1.17.0 ; python_version < '3'\n",
    )
    .expect("write");
    let out = run(&mut gh.build(&["--max-zipped", "100", "--junit", "out/junit.xml"]));
    assert_eq!(out.status.code(), Some(1), "a failed gate exits 1");
    let m = gh.manifest();
    let sha = m["artifact"]["sha256"].as_str().expect("sha");
    let (zipped, unzipped) = (
        m["artifact"]["size"].as_u64().expect("size"),
        m["artifact"]["unzipped_size"].as_u64().expect("unzipped"),
    );
    let outputs = gh.outputs();
    let head: Vec<&str> = outputs.lines().take(4).collect();
    assert_eq!(
        head,
        [
            "status=failed",
            "artifact=out/fn.zip",
            "manifest=out/fn.zip.lpack.json",
            &format!("sha256={sha}"),
        ],
        "{outputs}"
    );
    let tail: Vec<&str> = outputs.lines().skip(4).collect();
    assert_eq!(
        tail,
        [
            "artifacts=out/fn.zip",
            &format!("zipped_bytes={zipped}"),
            &format!("unzipped_bytes={unzipped}"),
            &format!("headroom_bytes={}", 262_144_000 - unzipped as i64),
        ],
        "{outputs}"
    );

    // The annotation points at the line that pins the biggest distribution (line 3).
    let notes = annotations(&out);
    assert_eq!(notes.len(), 1, "{notes:?}");
    let want = format!(
        "::error file=requirements.txt,line=3,title=lpack gates%3A max-zipped fn.zip::fn.zip is 0.0 MB zipped, over --max-zipped 0.0 MB by {} bytes",
        zipped - 100
    );
    assert!(notes[0].starts_with(&want), "{}\nwant {want}", notes[0]);
    assert!(
        notes[0].contains("%0A  hint: "),
        "newlines escaped: {}",
        notes[0]
    );

    let summary = gh.summary();
    assert!(summary.starts_with("### lpack build: failed\n\n| Artifact | Kind | Target | Zipped | Unzipped | Headroom | sha256 |\n"), "{summary}");
    assert!(
        summary.contains("| `out/fn.zip` | function zip | python3.11 x86_64 |"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "| gates: max-zipped fn.zip | failed | `requirements.txt:3` | fn.zip is 0.0 MB zipped"
        ),
        "{summary}"
    );
    assert!(summary.contains("| verify: imports | skipped |  | not verified (--no-verify) |\n\n2 of 4 check(s) passed.\n"), "{summary}");

    let j = junit(&gh.dir.join("out/junit.xml"));
    assert_eq!(j["failures"], 1, "{j}");
    assert_eq!(j["tests"], j["counted"], "{j}");
    assert_eq!(
        j["suites"],
        serde_json::json!(["lpack.audit", "lpack.gates", "lpack.verify"])
    );
    assert_eq!(j["failed"][0][0], "max-zipped fn.zip");
    assert_eq!(j["failed"][0][1], "requirements.txt");
    assert_eq!(j["failed"][0][2], "3");

    // The same build within the gate passes; --no-ci writes nothing for GitHub.
    std::fs::remove_file(&gh.output).expect("rm");
    let out = run(&mut gh.build(&["--no-ci"]));
    assert!(out.status.success());
    assert!(!gh.output.exists(), "--no-ci writes no outputs");
    assert!(annotations(&out).is_empty());
    let out = run(&mut gh.build(&["--max-zipped", "50MB"]));
    assert!(out.status.success());
    assert!(
        gh.outputs().starts_with("status=passed\n"),
        "{}",
        gh.outputs()
    );
    assert!(annotations(&out).is_empty());
}

#[test]
fn an_audit_finding_points_at_the_line_that_brought_the_package_in() {
    let gh = Gh::new("ci-audit");
    std::fs::write(
        gh.dir.join("requirements.txt"),
        "purelib==2.0\n# needs glibc 2.28, python3.11 has 2.26\nglibcnew==1.0\n",
    )
    .expect("write");
    assert!(
        run(&mut gh.build(&["--no-audit", "--no-ci", "-q"]))
            .status
            .success()
    );
    let out = run(gh
        .lpack()
        .args(["audit", "out/fn.zip", "--junit", "out/audit.xml"]));
    assert_eq!(out.status.code(), Some(1));
    let notes = annotations(&out);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("::error file=requirements.txt,line=3,title=lpack audit%3A A002 glibcnew/libprobe.so::needs GLIBC_2.28, but python3.11 has glibc 2.26: "),
        "{}",
        notes[0]
    );
    let sha = gh.manifest()["artifact"]["sha256"]
        .as_str()
        .expect("sha")
        .to_string();
    assert_eq!(
        gh.outputs(),
        format!("status=failed\nartifact=out/fn.zip\nsha256={sha}\nerrors=1\nwarnings=0\n")
    );
    assert!(
        gh.summary()
            .contains("| audit: A002 glibcnew/libprobe.so | failed | `requirements.txt:3` |")
    );
    let j = junit(&gh.dir.join("out/audit.xml"));
    assert_eq!(j["failures"], 1, "{j}");
    assert_eq!(j["failed"][0][1], "requirements.txt");
    assert_eq!(j["failed"][0][2], "3");

    // The build itself fails on the audit (exit 2): status=error and the message annotated on
    // the requirements file.
    std::fs::remove_file(&gh.output).expect("rm");
    let out = run(&mut gh.build(&[]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(gh.outputs(), "status=error\n");
    let notes = annotations(&out);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("::error file=requirements.txt,title=lpack error%3A build::"),
        "{}",
        notes[0]
    );
}

#[test]
fn size_report_diff_in_the_summary_and_outputs() {
    let gh = Gh::new("ci-diff");
    std::fs::write(gh.dir.join("requirements.txt"), "purelib==1.0\n").expect("write");
    assert!(run(&mut gh.build(&["--no-ci", "-q"])).status.success());
    std::fs::rename(gh.dir.join("out"), gh.dir.join("old")).expect("mv");
    std::fs::write(gh.dir.join("requirements.txt"), "purelib==2.0\n").expect("write");
    assert!(run(&mut gh.build(&["--no-ci", "-q"])).status.success());
    let out = run(gh.lpack().args([
        "size-report",
        "--diff",
        "old/fn.zip.lpack.json",
        "out/fn.zip",
    ]));
    assert!(out.status.success());
    let outputs = gh.outputs();
    assert!(
        outputs.starts_with("status=passed\nartifacts=fn.zip\n"),
        "{outputs}"
    );
    assert!(outputs.contains("\ndelta_unzipped_bytes="), "{outputs}");
    let summary = gh.summary();
    assert!(
        summary.starts_with("### lpack size-report: passed\n\n"),
        "{summary}"
    );
    assert!(summary.contains("| purelib "), "{summary}");

    // Two artifacts: `artifacts` is a multiline output with its own delimiter.
    std::fs::remove_file(&gh.output).expect("rm");
    let out = run(gh
        .lpack()
        .args(["size-report", "out/fn.zip", "old/fn.zip.lpack.json"]));
    assert!(out.status.success());
    assert_eq!(
        multiline(&gh.outputs(), "artifacts").as_deref(),
        Some("fn.zip\nfn.zip"),
        "{}",
        gh.outputs()
    );
}

#[test]
fn a_failed_import_is_annotated_at_its_distribution_and_in_junit() {
    let gh = Gh::new("ci-verify");
    std::fs::write(
        gh.dir.join("requirements.txt"),
        "purelib==2.0\nfastmath==1.0\n",
    )
    .expect("write");
    // Forced, the drop of an imported extension reaches verify, which the build runs.
    let c = gh.build(&["--junit", "out/build.xml"]);
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a != "--no-verify")
        .collect();
    let mut c2 = gh.lpack();
    c2.args(&args)
        .args(["--force-drop", "fastmath/_core*", "--verify"]);
    drop(c);
    let out = run(&mut c2);
    assert_eq!(out.status.code(), Some(1), "a failed verify exits 1");
    let notes = annotations(&out);
    assert!(
        notes.iter().any(|n| n.starts_with(
            "::error file=requirements.txt,line=2,title=lpack verify%3A import fastmath::"
        ) && n.contains("%0Acaused by: fastmath/_core")
            && n.contains("dropped by cli.force-drop-1")),
        "{notes:?}"
    );
    assert!(
        gh.outputs().starts_with("status=failed\n"),
        "{}",
        gh.outputs()
    );
    let j = junit(&gh.dir.join("out/build.xml"));
    let failed = j["failed"].as_array().expect("failed");
    assert!(
        failed
            .iter()
            .any(|f| f[0] == "import fastmath" && f[1] == "requirements.txt" && f[2] == "2"),
        "{j}"
    );

    // `lpack verify` on its own reports the same, with its outputs.
    std::fs::remove_file(&gh.output).expect("rm");
    let out = run(gh.lpack().args(["verify", "out/fn.zip"]));
    assert_eq!(out.status.code(), Some(1));
    let outputs = gh.outputs();
    assert!(
        outputs.starts_with("status=failed\nartifact=out/fn.zip\nsha256=")
            && outputs.ends_with("\nfailures=1\n"),
        "{outputs}"
    );
    assert!(gh.summary().contains("### lpack verify: failed\n"));
}

#[test]
fn a_deep_verify_regression_is_annotated_with_its_cause() {
    let gh = Gh::new("ci-deep");
    std::fs::write(
        gh.dir.join("requirements.txt"),
        "purelib==2.0\nguardpkg==1.0\n",
    )
    .expect("write");
    // `import guardpkg` still works (the shallow check passes); guardpkg.testing does not.
    let out = run(&mut gh.build(&["--force-drop", "guardpkg/_core/tests/_natype.py", "--no-ci"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(gh
        .lpack()
        .args(["verify", "--deep", "out/fn.zip", "--junit", "out/deep.xml"])
        .arg("--cache-dir")
        .arg(gh.dir.join("cache"))
        .args(["--index-url", index(IndexKind::Html)]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let notes = annotations(&out);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with(
            "::error file=requirements.txt,line=2,title=lpack verify%3A regression guardpkg.testing::"
        ) && notes[0].ends_with(
            "%0Acaused by: guardpkg/_core/tests/_natype.py (guardpkg) dropped by cli.force-drop-1"
        ),
        "{}",
        notes[0]
    );
    assert!(gh.outputs().ends_with("\nfailures=1\n"), "{}", gh.outputs());
    let j = junit(&gh.dir.join("out/deep.xml"));
    assert_eq!(j["failures"], 1, "{j}");
    assert_eq!(j["failed"][0][0], "regression guardpkg.testing");
    assert_eq!(j["failed"][0][2], "2");
}

#[test]
fn a_config_with_two_functions_reports_each_under_its_name() {
    let gh = Gh::new("ci-units");
    std::fs::create_dir(gh.dir.join(".git")).expect("mkdir .git");
    std::fs::write(gh.dir.join("a.txt"), "purelib==1.0\n").expect("write");
    std::fs::write(gh.dir.join("b.txt"), "# b pins\npurelib==2.0\n").expect("write");
    std::fs::write(
        gh.dir.join("lpack.toml"),
        format!(
            "runtime = \"python3.11\"\nfind-links = [\"{}\"]\nno-index = true\ncache-dir = \"cache\"\nbytecode = \"none\"\nno-verify = true\n\n[functions.a]\nrequirements = \"a.txt\"\n\n[functions.b]\nrequirements = \"b.txt\"\nmax-zipped = \"100\"\n",
            fixtures().flat.display()
        ),
    )
    .expect("config");
    let out = run(gh.lpack().args(["build", "--junit", "dist/junit.xml"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let outputs = gh.outputs();
    assert!(
        outputs.starts_with("status=failed\nartifacts<<lpack_EOF_"),
        "{outputs}"
    );
    assert_eq!(
        multiline(&outputs, "artifacts").as_deref(),
        Some("dist/a.zip\ndist/b.zip")
    );
    for line in [
        "a_status=passed",
        "a_artifact=dist/a.zip",
        "b_status=failed",
        "b_artifact=dist/b.zip",
    ] {
        assert!(outputs.lines().any(|l| l == line), "{line} in {outputs}");
    }
    let notes = annotations(&out);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("::error file=b.txt,line=2,title=lpack gates%3A b max-zipped b.zip::"),
        "{}",
        notes[0]
    );
    let summary = gh.summary();
    assert!(
        summary.starts_with("### lpack build: failed\n\n#### a (function)\n\n| Artifact |"),
        "{summary}"
    );
    assert!(summary.contains("\n#### b (function)\n\n"), "{summary}");
    let j = junit(&gh.dir.join("dist/junit.xml"));
    assert_eq!(j["failures"], 1, "{j}");
    assert_eq!(j["failed"][0][0], "b max-zipped b.zip");
}
