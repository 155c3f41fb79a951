//! `lpack bench`: the local backend against the real awslambdaric (installed for the test
//! Python by scripts/test.sh), with artifacts built by the real `lpack build` from tiny wheels
//! at test time. No network: the runtime directory is a copy of the test venv's awslambdaric.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::*;

/// A runtime directory holding awslambdaric (and its dependencies) for python3.11, copied from
/// the test venv; `None` (with a message) when it is not installed.
pub(crate) fn runtime_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let py = helper_python();
        let out = Command::new(&py)
            .args([
                "-c",
                "import awslambdaric, os, sys; assert sys.version_info[:2] == (3, 11); print(os.path.dirname(os.path.dirname(awslambdaric.__file__)))",
            ])
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: awslambdaric is not installed for python3.11 (scripts/test.sh installs tests/requirements.txt into target/test-venv)"
            );
            return None;
        }
        let site = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let dest = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("bench-runtime")
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::create_dir_all(&dest).ok()?;
        for entry in std::fs::read_dir(&site).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = ["awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py"]
                .iter()
                .any(|k| name.starts_with(k));
            if keep {
                let o = Command::new("cp")
                    .arg("-r")
                    .arg(entry.path())
                    .arg(&dest)
                    .status()
                    .ok()?;
                assert!(o.success());
            }
        }
        Some(dest)
    })
    .as_ref()
}

pub(crate) fn py311() -> Option<PathBuf> {
    let p = python(11);
    if p.is_none() {
        eprintln!("skipped: python3.11 not found");
    }
    p
}

/// Wheels for the bench tests, in a find-links directory.
fn wheels(dir: &Path) -> PathBuf {
    let w = dir.join("wheels");
    std::fs::create_dir_all(&w).expect("mkdir");
    write_wheel(
        &w,
        "tinydep",
        "1.0",
        "py3-none-any",
        &[F("tinydep/__init__.py", b"VALUE = 42\n")],
    );
    write_wheel(
        &w,
        "over-a",
        "1.0",
        "py3-none-any",
        &[
            F("shared/__init__.py", b"WHO = 'a'\n"),
            F("only_a.py", b"A = 1\n"),
        ],
    );
    write_wheel(
        &w,
        "over-b",
        "1.0",
        "py3-none-any",
        &[F("shared/__init__.py", b"WHO = 'b'\n")],
    );
    write_wheel(
        &w,
        "pthdemo",
        "1.0",
        "py3-none-any",
        &[
            F("pthdemo.pth", b"pthdemo_vendor\n"),
            F("pthdemo_vendor/hidden_mod.py", b"HIDDEN = 'found'\n"),
        ],
    );
    w
}

const HANDLERS: &[(&str, &str)] = &[
    (
        "ok.py",
        "import os, tempfile, tinydep\ndef handler(event, context):\n    p = os.path.join(tempfile.gettempdir(), 'x.txt')\n    open(p, 'w').write('hi')\n    assert os.environ['TMPDIR'] == tempfile.gettempdir()\n    assert int(context.memory_limit_in_mb) == int(os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'])\n    return {'value': tinydep.VALUE, 'event': event}\n",
    ),
    (
        "importerr.py",
        "import does_not_exist_anywhere\ndef handler(e, c):\n    return 1\n",
    ),
    ("syntaxerr.py", "def handler(e, c)\n    return 1\n"),
    (
        "fail.py",
        "def handler(e, c):\n    raise ValueError('boom from the handler')\n",
    ),
    (
        "slow.py",
        "import time\ndef handler(e, c):\n    time.sleep(30)\n",
    ),
    (
        "sleepy.py",
        "import time\ntime.sleep(0.3)\ndef handler(e, c):\n    return 'awake'\n",
    ),
    ("big.py", "def handler(e, c):\n    return 'x' * 7000000\n"),
    (
        "writer.py",
        "import os\ndef handler(e, c):\n    open(os.path.join(os.path.dirname(__file__), 'beside.txt'), 'w').write('no')\n    return 'wrote'\n",
    ),
    (
        "layered.py",
        "import shared, only_a, hidden_mod\ndef handler(e, c):\n    assert shared.WHO == 'b', shared.WHO\n    assert hidden_mod.HIDDEN == 'found'\n    return 'ok'\n",
    ),
    (
        "envcheck.py",
        "import os, sys, tinydep\ndef handler(e, c):\n    assert os.environ.get('LANG') == 'C.UTF-8', os.environ.get('LANG')\n    assert os.getcwd() == os.environ['LAMBDA_TASK_ROOT']\n    assert not any('site-packages' in p and 'runtime' not in p for p in sys.path), sys.path\n    return 'ok'\n",
    ),
    ("empty.py", "def handler(e, c):\n    return None\n"),
    (
        "evcheck.py",
        "def handler(e, c):\n    assert e == {'rows': 3, 'name': 'x'}, e\n    assert c.aws_request_id and c.invoked_function_arn.startswith('arn:aws:lambda:')\n    assert c.get_remaining_time_in_millis() > 0\n    return e\n",
    ),
    (
        "forker.py",
        "import subprocess, sys\ndef handler(e, c):\n    subprocess.run([sys.executable, '-I', '-S', '-c', 'b = bytearray(150 << 20); b[::4096] = b\"x\" * len(b[::4096]); import time; time.sleep(0.3)'], check=True)\n    return 'ok'\n",
    ),
    (
        "hog.py",
        "def handler(e, c):\n    b = bytearray(400 << 20)\n    b[::4096] = b'x' * len(b[::4096])\n    import time; time.sleep(1)\n    return len(b)\n",
    ),
];

fn src_dir(dir: &Path) -> PathBuf {
    let src = dir.join("app");
    std::fs::create_dir_all(&src).expect("mkdir");
    for (name, body) in HANDLERS {
        std::fs::write(src.join(name), body).expect("handler");
    }
    src
}

fn build(dir: &Path, req: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("req.txt"), req).expect("req");
    run(lpack()
        .current_dir(dir)
        .args([
            "build",
            "-r",
            "req.txt",
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "--no-index",
            "--find-links",
            "wheels",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra))
}

/// A function zip with every test handler in it, built once.
fn zip_fixture() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        py311()?;
        runtime_dir()?;
        let dir = scratch("bench-zip");
        wheels(&dir);
        src_dir(&dir);
        let out = build(&dir, "tinydep==1.0\n", &["--src", "app", "-o", "fn.zip"]);
        assert!(out.status.success(), "{}", stderr(&out));
        Some(dir)
    })
    .as_ref()
}

fn bench(dir: &Path, deployments: &[&str], extra: &[&str]) -> (Output, Option<Value>) {
    let out_dir = dir.join(format!(
        "results-{}",
        extra.join("-").replace(['/', ' '], "_")
    ));
    let out = run(lpack()
        .current_dir(dir)
        .arg("bench")
        .args(deployments)
        .arg("--python")
        .arg(python(11).expect("python3.11"))
        .arg("--runtime-dir")
        .arg(runtime_dir().expect("runtime"))
        .arg("--out")
        .arg(&out_dir)
        .args(["--json", "--no-import-profile"])
        .args(if extra.contains(&"--runs") {
            &[][..]
        } else {
            &["--runs", "2"][..]
        })
        .args(if extra.contains(&"--timeout") {
            &[][..]
        } else {
            &["--timeout", "5"][..]
        })
        .args(extra));
    let summary = std::fs::read(out_dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    (out, summary)
}

fn first(summary: &Option<Value>) -> Value {
    summary.as_ref().expect("summary.json")["deployments"][0].clone()
}

#[test]
fn success_warm_and_tmp() {
    let Some(dir) = zip_fixture() else { return };
    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "ok.handler", "--warm", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = first(&s);
    assert_eq!(d["n"], 6, "{d}");
    assert_eq!(d["errors"], 0);
    assert_eq!(d["kind"], "zip");
    assert_eq!(d["memory_mb"], 1024);
    for key in ["init_ms", "duration_ms", "max_memory_mb"] {
        for f in ["mean", "p50", "p90", "p95", "p99", "max"] {
            assert!(d[key][f].as_f64().is_some(), "{key}.{f} in {d}");
        }
    }
    assert_eq!(d["init_ms"]["n"], 2);
    assert!(
        d["max_memory_mb"]["p50"].as_f64().unwrap_or(0.0) > 5.0,
        "{d}"
    );
    // No bytecode was written beside the code.
    let unzipped = dir.join("check-unzipped");
    unzip(&dir.join("fn.zip"), &unzipped);
    let summary = s.expect("summary");
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["provenance"]["cpu_shaping"], "none");
    assert!(
        summary["provenance"]["artifacts"][0]["sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
}

#[test]
fn init_errors_are_reported_with_type_and_exit_2() {
    let Some(dir) = zip_fixture() else { return };
    for (handler, ty) in [
        ("importerr.handler", "Runtime.ImportModuleError"),
        ("syntaxerr.handler", "Runtime.UserCodeSyntaxError"),
        ("nosuchmodule.handler", "Runtime.ImportModuleError"),
    ] {
        let (out, s) = bench(dir, &["fn.zip.lpack.json"], &["--handler", handler]);
        assert_eq!(out.status.code(), Some(2), "{handler}");
        let d = first(&s);
        assert_eq!(d["errors"], 2, "{d}");
        assert_eq!(d["n"], 0);
        assert_eq!(d["first_error"]["errorType"], ty, "{d}");
        assert!(stderr(&out).contains(ty), "{}", stderr(&out));
    }
}

#[test]
fn handler_error_timeout_and_large_response() {
    let Some(dir) = zip_fixture() else { return };
    let (out, s) = bench(dir, &["fn.zip.lpack.json"], &["--handler", "fail.handler"]);
    assert_eq!(out.status.code(), Some(2));
    let d = first(&s);
    assert_eq!(d["first_error"]["errorType"], "ValueError", "{d}");
    assert!(
        d["first_error"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("boom from the handler"))
    );
    assert!(
        d["first_error"]["stackTrace"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    // Init still measured for a failing handler.
    assert!(d["init_ms"].is_null() || d["init_ms"]["n"] == 0 || d["n"] == 0);

    let t0 = std::time::Instant::now();
    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "slow.handler", "--timeout", "1", "--runs", "1"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(t0.elapsed().as_secs() < 20, "a timeout must not hang");
    let d = first(&s);
    assert_eq!(d["first_error"]["errorType"], "Sandbox.Timedout", "{d}");
    assert!(
        d["first_error"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Task timed out after 1.00 seconds"))
    );

    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "big.handler", "--runs", "1"],
    );
    assert_eq!(out.status.code(), Some(2));
    let d = first(&s);
    assert_eq!(
        d["first_error"]["errorType"], "Function.ResponseSizeTooLarge",
        "{d}"
    );
}

#[test]
fn init_duration_includes_imports_and_duration_does_not() {
    let Some(dir) = zip_fixture() else { return };
    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "sleepy.handler", "--runs", "3"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = first(&s);
    let init_min = d["init_ms"]["min"].as_f64().expect("init");
    let dur_max = d["duration_ms"]["max"].as_f64().expect("duration");
    assert!(
        init_min >= 300.0,
        "Init Duration {init_min} ms must include the 300 ms import"
    );
    assert!(
        dur_max < 150.0,
        "Duration {dur_max} ms must not include init"
    );
}

#[test]
fn concurrency_four_and_verbose_report_lines() {
    let Some(dir) = zip_fixture() else { return };
    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &[
            "--handler",
            "empty.handler",
            "--runs",
            "8",
            "--concurrency",
            "4",
            "--verbose",
            "--memory",
            "256,512",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = s.expect("summary");
    let ds = summary["deployments"].as_array().expect("deployments");
    assert_eq!(ds.len(), 2);
    for d in ds {
        assert_eq!(d["n"], 8, "{d}");
        assert_eq!(d["errors"], 0);
    }
    let err = stderr(&out);
    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("REPORT RequestId: "))
        .collect();
    assert_eq!(reports.len(), 16, "{err}");
    assert!(
        reports
            .iter()
            .all(|l| l.contains("\tInit Duration: ") && l.contains("Max Memory Used: "))
    );
    assert!(reports.iter().any(|l| l.contains("Memory Size: 256 MB")));
}

#[test]
fn code_is_read_only_and_gets_no_pycache() {
    let Some(dir) = zip_fixture() else { return };
    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "writer.handler", "--runs", "1"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "writing beside the handler must fail"
    );
    let d = first(&s);
    let t = d["first_error"]["errorType"].as_str().unwrap_or("");
    assert!(t == "PermissionError" || t == "OSError", "{d}");

    // The runtime imported ok.py and tinydep but could not leave bytecode beside them.
    let keep = dir.join("kept-work");
    let (out, _) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &[
            "--handler",
            "ok.handler",
            "--runs",
            "1",
            "--keep-work",
            keep.to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let task = keep.join("w/d0/task");
    assert!(task.join("ok.py").is_file());
    let all = walk(&task);
    let leftovers: Vec<&String> = all.iter().filter(|p| p.contains("__pycache__")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Make it removable for the next run.
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("u+w")
        .arg(&keep)
        .status();
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn layers_in_order_with_pth_and_gate() {
    if py311().is_none() || runtime_dir().is_none() {
        return;
    }
    let dir = scratch("bench-layers");
    wheels(&dir);
    src_dir(&dir);
    for (req, out) in [
        ("over-a==1.0\npthdemo==1.0\n", "la.zip"),
        ("over-b==1.0\n", "lb.zip"),
    ] {
        let o = build(&dir, req, &["--format", "layer", "-o", out]);
        assert!(o.status.success());
    }
    let o = build(&dir, "tinydep==1.0\n", &["--src", "app", "-o", "fn.zip"]);
    assert!(o.status.success());
    let (out, s) = bench(
        &dir,
        &["fn.zip.lpack.json+la.zip.lpack.json+lb.zip.lpack.json"],
        &["--handler", "layered.handler"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = first(&s);
    assert_eq!(d["kind"], "zip+layers");
    assert_eq!(d["name"], "fn.zip+la.zip+lb.zip");
    assert_eq!(d["errors"], 0, "{d}");

    // The gate: an impossible p50 fails with exit 1 naming the deployment and figure.
    let (out, _) = bench(
        &dir,
        &["fn.zip.lpack.json+la.zip.lpack.json+lb.zip.lpack.json"],
        &["--handler", "layered.handler", "--max-init-p50", "0.001"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("gate failed: fn.zip+la.zip+lb.zip @ 1024 MB: Init Duration p50"),
        "{}",
        stderr(&out)
    );
    // A regression against a baseline that was much faster.
    let base = dir.join("baseline.json");
    let mut b = s.expect("summary");
    b["deployments"][0]["init_ms"]["p50"] = serde_json::json!(0.01);
    std::fs::write(&base, serde_json::to_vec(&b).expect("json")).expect("write");
    let (out, _) = bench(
        &dir,
        &["fn.zip.lpack.json+la.zip.lpack.json+lb.zip.lpack.json"],
        &[
            "--handler",
            "layered.handler",
            "--baseline",
            base.to_str().expect("utf8"),
            "--max-regression",
            "10",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("(+"), "{}", stderr(&out));
}

#[test]
fn image_from_the_test_base_with_workdir_env_and_cmd() {
    if py311().is_none() || runtime_dir().is_none() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = scratch("bench-image");
    wheels(&dir);
    src_dir(&dir);
    base_image(&dir.join("base"), "base", "amd64");
    // An OCI layout, and a docker-archive (lpack's archives hold an OCI layout): both are read.
    for out in ["oci-layout:img:v1", "docker-archive:arch.tar:acme/fn:v1"] {
        let o = build(
            &dir,
            "tinydep==1.0\n",
            &[
                "--format",
                "image",
                "--src",
                "app",
                "--handler",
                "envcheck.handler",
                "--base",
                "oci-layout:base:base",
                "--image-out",
                out,
            ],
        );
        assert!(o.status.success(), "{out}: {}", stderr(&o));
    }
    let (out, s) = bench(&dir, &["arch.tar.lpack.json"], &["--runs", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(first(&s)["errors"], 0);

    // No --handler: the image's CMD is used.
    let (out, s) = bench(&dir, &["img.lpack.json"], &["--runs", "1", "--warm", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = first(&s);
    assert_eq!(d["kind"], "image");
    assert_eq!(d["handler"], "envcheck.handler");
    assert_eq!(d["errors"], 0, "{d}");
    let notes = s.expect("summary")["provenance"]["notes"].to_string();
    assert!(notes.contains("stood in for"), "{notes}");
}

#[test]
fn report_html_has_table_and_charts_in_chromium() {
    let Some(dir) = zip_fixture() else { return };
    let out_dir = dir.join("html-results");
    let o = run(lpack()
        .current_dir(dir)
        .args([
            "bench",
            "fn.zip.lpack.json",
            "--handler",
            "ok.handler",
            "--runs",
            "3",
            "--quiet",
        ])
        .arg("--python")
        .arg(python(11).expect("python3.11"))
        .arg("--runtime-dir")
        .arg(runtime_dir().expect("runtime"))
        .arg("--out")
        .arg(&out_dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "samples.csv",
        "samples.json",
        "summary.md",
        "init-ecdf.svg",
        "init-percentiles.svg",
        "imports.svg",
    ] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).expect("html");
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "self-contained"
    );
    let md = std::fs::read_to_string(out_dir.join("summary.md")).expect("md");
    assert!(md.contains("| fn.zip | zip | 1024 | 3 | 0 |"), "{md}");
    let csv = std::fs::read_to_string(out_dir.join("samples.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 4, "{csv}");

    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| have(c))
    else {
        eprintln!("skipped: chromium is not installed (apt-get install chromium; .ci/run does)");
        return;
    };
    let profile = tempfile::tempdir().expect("tmp");
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", out_dir.join("report.html").display()))
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        dom.contains("<table id=\"summary\">"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(dom.matches("<svg").count(), 3, "every chart is in the page");
    assert!(dom.contains("Init Duration: cumulative distribution"));
}

#[test]
fn memory_counts_child_processes_and_over_the_size_is_out_of_memory() {
    let Some(dir) = zip_fixture() else { return };
    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "forker.handler", "--runs", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = first(&s);
    let peak = d["max_memory_mb"]["max"].as_f64().unwrap_or(0.0);
    assert!(
        peak >= 150.0,
        "a 150 MB child must show in Max Memory Used: {d}"
    );

    let (out, s) = bench(
        dir,
        &["fn.zip.lpack.json"],
        &["--handler", "hog.handler", "--runs", "1", "--memory", "128"],
    );
    assert_eq!(out.status.code(), Some(2));
    let d = first(&s);
    assert_eq!(d["first_error"]["errorType"], "Runtime.OutOfMemory", "{d}");
}

#[test]
fn plan_file_with_named_deployments_and_event() {
    let Some(dir) = zip_fixture() else { return };
    std::fs::write(dir.join("event.json"), r#"{"rows": 3, "name": "x"}"#).expect("event");
    std::fs::write(
        dir.join("plan.toml"),
        "runs = 2\nwarm = 1\nmemory = [256]\nhandler = \"evcheck.handler\"\nevent = \"event.json\"\n\n\
         [[deployment]]\nname = \"first\"\nartifacts = [\"fn.zip.lpack.json\"]\n\n\
         [[deployment]]\nname = \"second\"\nartifacts = [\"fn.zip.lpack.json\"]\nhandler = \"empty.handler\"\n",
    )
    .expect("plan");
    let (out, s) = bench(dir, &["--plan", "plan.toml"], &["--timeout", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = s.expect("summary");
    let ds = s["deployments"].as_array().expect("deployments");
    let names: Vec<&str> = ds.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, vec!["first", "second"]);
    for d in ds {
        assert_eq!(d["memory_mb"], 256);
        assert_eq!(d["n"], 4, "{d}");
    }
    assert_eq!(ds[1]["handler"], "empty.handler");
}

#[test]
fn ci_outputs_summary_and_annotation_for_a_failed_gate() {
    let Some(dir) = zip_fixture() else { return };
    let gh = dir.join("gh-bench");
    std::fs::create_dir_all(&gh).expect("mkdir");
    let (output, summary) = (gh.join("output"), gh.join("summary.md"));
    let out_dir = dir.join("results-ci");
    let out = run(lpack()
        .current_dir(dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["bench", "fn.zip.lpack.json", "--handler", "ok.handler"])
        .arg("--python")
        .arg(python(11).expect("python3.11"))
        .arg("--runtime-dir")
        .arg(runtime_dir().expect("runtime"))
        .arg("--out")
        .arg(&out_dir)
        .args(["--runs", "1", "--no-import-profile", "-q"])
        .args(["--max-init-p50", "0.001", "--junit"])
        .arg(gh.join("bench.xml")));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let outputs = std::fs::read_to_string(&output).expect("outputs");
    assert_eq!(
        outputs,
        format!(
            "status=failed\nsummary_json={0}/summary.json\nreport_html={0}/report.html\nerrors=0\n",
            out_dir.display()
        )
    );
    let md = std::fs::read_to_string(&summary).expect("summary");
    let table = std::fs::read_to_string(out_dir.join("summary.md")).expect("summary.md");
    assert!(
        md.starts_with(&format!("### lpack bench: failed\n\n{table}")),
        "{md}"
    );
    assert!(
        stderr(&out).lines().any(|l| l.starts_with(
            "::error title=lpack bench%3A fn.zip @ 1024 MB::fn.zip @ 1024 MB: Init Duration p50"
        )),
        "{}",
        stderr(&out)
    );
    let xml = std::fs::read_to_string(gh.join("bench.xml")).expect("junit");
    assert!(
        xml.contains("<testsuite name=\"lpack.bench\" tests=\"1\" failures=\"1\""),
        "{xml}"
    );
}

/// A function built `--with-layer` a hand-assembled layer zip (no manifest) benches with the
/// layer under /opt: named after `+`, or taken from the function's manifest; beside it the same
/// package in lpack's own layer.
#[test]
fn external_layers_are_unpacked_into_opt() {
    if py311().is_none() || runtime_dir().is_none() {
        return;
    }
    let dir = scratch("bench-extlayer");
    let w = wheels(&dir);
    write_wheel(
        &w,
        "purelib",
        "2.0",
        "py3-none-any",
        &[F("purelib/__init__.py", b"VERSION = '2.0'\nMARK = 'OWN'\n")],
    );
    let hand = crate::with_layer::purelib_layer(&dir, "2.0", 0);
    std::fs::create_dir_all(dir.join("xapp")).expect("mkdir");
    std::fs::write(
        dir.join("xapp/ext.py"),
        "import purelib\nassert purelib.MARK == 'LAYER', purelib.MARK\ndef handler(e, c):\n    return {'mark': purelib.MARK}\n",
    )
    .expect("handler");
    let hand_arg = hand.to_str().expect("utf-8");
    let o = build(
        &dir,
        "purelib==2.0\n",
        &["--src", "xapp", "--with-layer", hand_arg, "-o", "fn.zip"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = build(
        &dir,
        "purelib==2.0\n",
        &["--format", "layer", "-o", "own.zip"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = build(
        &dir,
        "purelib==2.0\n",
        &[
            "--src",
            "xapp",
            "--exclude-layer",
            "own.zip.lpack.json",
            "-o",
            "ownfn.zip",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plus = format!("fn.zip.lpack.json+{hand_arg}");
    let (out, s) = bench(
        &dir,
        &["fn.zip.lpack.json", &plus],
        &["--handler", "ext.handler"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = s.expect("summary");
    let ds = s["deployments"].as_array().expect("deployments");
    assert_eq!(ds.len(), 2);
    for d in ds {
        assert_eq!(d["kind"], "zip+layers", "{d}");
        assert_eq!(d["errors"], 0, "{d}");
    }
    // The handler insists on the external layer's copy: with lpack's own layer under /opt
    // instead, its init fails (so the runs above imported the external layer from /opt).
    let (out, s) = bench(
        &dir,
        &["ownfn.zip.lpack.json+own.zip.lpack.json"],
        &["--handler", "ext.handler"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(first(&s)["errors"].as_u64().is_some_and(|e| e > 0));
}
