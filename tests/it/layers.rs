//! `--format layer`: layer zips, splits, `--exclude-layer`, and Lambda's combined limit.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn req(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("requirements.txt");
    std::fs::write(&p, body).expect("requirements");
    p
}

fn build(dir: &Path, r: &Path, extra: &[&str]) -> std::process::Output {
    run(lpack()
        .current_dir(dir)
        .args(["build", "-r"])
        .arg(r)
        .args([
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "--index-url",
            index(IndexKind::Html),
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra))
}

/// Import with python3.11, emulating Lambda's sys.path: /var/task, then /opt/python.
fn import_lambda_style(task: &Path, opt: &Path, code: &str) {
    let py = python(11).expect("python3.11");
    let out = Command::new(py)
        .args(["-S", "-c"])
        .arg(format!(
            "import sys; sys.path[0:0] = [{:?}, {:?}]\n{code}",
            task.to_string_lossy(),
            opt.join("python").to_string_lossy()
        ))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn layer_zip_and_function_zip_work_together() {
    let dir = scratch("layers-basic");
    let r = req(&dir, "fastmath==1.0\npurelib==2.0\nnsa==1.0\nnsb==1.0\n");
    let out = build(&dir, &r, &["--format", "layer", "-o", "out/deps.zip"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("packages under python/"),
        "{}",
        stdout(&out)
    );
    let names = zip_names(&dir.join("out/deps.zip"));
    assert!(names.iter().all(|n| n.starts_with("python/")), "{names:?}");
    assert!(names.iter().any(|n| n == "python/fastmath/__init__.py"));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/deps.zip.lpack.json")).expect("m"))
            .expect("json");
    assert_eq!(m["kind"], "layer-zip");
    assert_eq!(m["layer_prefix"], "python");

    // Handler code never goes into a layer.
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath, purelib\ndef handler(e, c):\n    return fastmath.add(1, 2)\n",
    )
    .expect("app");
    let out = build(
        &dir,
        &r,
        &["--format", "layer", "--src", "app", "-o", "out/bad.zip"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("handler code belongs in the function zip"));

    // The function zip leaves out what the layer holds; both together import.
    let out = build(
        &dir,
        &r,
        &[
            "--src",
            "app",
            "--exclude-layer",
            "out/deps.zip.lpack.json",
            "-o",
            "out/fn.zip",
        ],
    );
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("with 1 layer(s) (deps.zip)"),
        "{}",
        stdout(&out)
    );
    let fn_names = zip_names(&dir.join("out/fn.zip"));
    assert_eq!(
        fn_names,
        vec!["app.py".to_string()],
        "only the handler remains"
    );
    let task = dir.join("task");
    let opt = dir.join("opt");
    unzip(&dir.join("out/fn.zip"), &task);
    unzip(&dir.join("out/deps.zip"), &opt);
    import_lambda_style(
        &task,
        &opt,
        "import app, nspkg.a, nspkg.b\nassert app.handler(None, None) == 3\n",
    );

    // site-packages layout.
    let out = build(
        &dir,
        &r,
        &[
            "--format",
            "layer",
            "--layer-layout",
            "site-packages",
            "-o",
            "out/sp.zip",
        ],
    );
    assert!(out.status.success());
    let names = zip_names(&dir.join("out/sp.zip"));
    assert!(
        names
            .iter()
            .any(|n| n == "python/lib/python3.11/site-packages/purelib/__init__.py"),
        "{names:?}"
    );

    // A layer holding another version than the function's lock is refused.
    let r2 = dir.join("other.txt");
    std::fs::write(&r2, "purelib==1.0\n").expect("r2");
    let out = build(
        &dir,
        &r2,
        &[
            "--exclude-layer",
            "out/deps.zip.lpack.json",
            "-o",
            "out/fn2.zip",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("purelib is 1.0") && stderr(&out).contains("2.0 in the layer"),
        "{}",
        stderr(&out)
    );
    // Overlapping layers are refused.
    let out = build(
        &dir,
        &r,
        &[
            "--exclude-layer",
            "out/deps.zip.lpack.json",
            "--exclude-layer",
            "out/sp.zip.lpack.json",
            "-o",
            "out/fn3.zip",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is in two layers"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn split_by_spec_and_auto() {
    let dir = scratch("layers-split");
    let r = req(
        &dir,
        "bigdata==1.0\npurelib==2.0\nnsa==1.0\nnsb==1.0\nfastmath==1.0\n",
    );
    std::fs::write(
        dir.join("spec.toml"),
        "[[layer]]\nname = \"data\"\ndistributions = [\"bigdata\"]\n\n[[layer]]\nname = \"ns\"\ndistributions = [\"nsa\", \"nsb\"]\n",
    )
    .expect("spec");
    let out = build(
        &dir,
        &r,
        &[
            "--format",
            "layer",
            "--split",
            "spec.toml",
            "-o",
            "out/l.zip",
        ],
    );
    assert!(out.status.success());
    let set: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/l.layers.lpack.json")).expect("set"))
            .expect("json");
    let layers = set["layers"].as_array().expect("layers");
    let files: Vec<&str> = layers.iter().filter_map(|l| l["file"].as_str()).collect();
    assert_eq!(files, vec!["l-data.zip", "l-ns.zip", "l-rest.zip"]);
    assert_eq!(
        layers[2]["distributions"],
        serde_json::json!(["fastmath", "purelib"])
    );
    let sum: u64 = layers.iter().filter_map(|l| l["unzipped"].as_u64()).sum();
    assert_eq!(set["combined_unzipped"].as_u64(), Some(sum));

    // auto: a 1 MB budget puts the 1.5 MB bigdata alone and packs the rest together, <= 5 layers.
    let out = build(
        &dir,
        &r,
        &[
            "--format",
            "layer",
            "--split",
            "auto",
            "--layer-budget",
            "1MB",
            "-o",
            "out/a.zip",
        ],
    );
    assert!(out.status.success());
    let set: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/a.layers.lpack.json")).expect("set"))
            .expect("json");
    let layers = set["layers"].as_array().expect("layers");
    assert!(layers.len() <= 5 && layers.len() >= 2, "{set}");
    assert_eq!(layers[0]["distributions"], serde_json::json!(["bigdata"]));
    // A budget that would need more than five layers (six distributions, one each) fails with
    // the plan it tried.
    let r6 = dir.join("six.txt");
    std::fs::write(
        &r6,
        "bigdata==1.0\npurelib==2.0\nnsa==1.0\nnsb==1.0\nfastmath==1.0\nclash-a==1.0\n",
    )
    .expect("r6");
    let out = build(
        &dir,
        &r6,
        &[
            "--format",
            "layer",
            "--split",
            "auto",
            "--layer-budget",
            "1B",
            "-o",
            "out/b.zip",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Lambda allows 5") && stderr(&out).contains("layer 6"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn over_the_combined_limit_fails_with_exit_1() {
    let dir = scratch("layers-limit");
    let r = req(&dir, "bigdata==1.0\npurelib==2.0\n");
    let out = build(&dir, &r, &["--format", "layer", "-o", "out/l.zip"]);
    assert!(out.status.success());
    // Pretend the layer is huge: the limit check reads manifests only.
    let mpath = dir.join("out/l.zip.lpack.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).expect("m")).expect("json");
    m["artifact"]["unzipped_size"] = serde_json::json!(262_140_000u64);
    std::fs::write(&mpath, serde_json::to_vec(&m).expect("ser")).expect("write");
    let r2 = dir.join("fn.txt");
    std::fs::write(&r2, "bigdata==1.0\nfastmath==1.0\n").expect("r2");
    let out = build(
        &dir,
        &r2,
        &[
            "--exclude-layer",
            "out/l.zip.lpack.json",
            "-o",
            "out/fn.zip",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "over the limit is exit 1");
    let err = stderr(&out);
    assert!(
        err.contains("over Lambda's limit") && err.contains("function + layers"),
        "{err}"
    );
    assert!(
        err.contains("biggest:") && err.contains("--no-limit-check"),
        "{err}"
    );
    let out = build(
        &dir,
        &r2,
        &[
            "--exclude-layer",
            "out/l.zip.lpack.json",
            "-o",
            "out/fn.zip",
            "--no-limit-check",
        ],
    );
    assert!(out.status.success());
}
