//! `lpack plan` on a config with two layers and five functions: the plain plan (order and
//! dependencies), the GitHub Actions matrix (and its shards), the CodeBuild build-graph; then
//! the plan run as CI would run it — every job on its own runner (its own empty cache), layers
//! first, sharing a `file://` remote cache — and the report job, with no index at all, taking
//! every artifact from the remote.

use std::path::Path;

use serde_json::Value;

use crate::harness::*;

fn sha(name: &str) -> String {
    lpack::digest::sha256_hex(&std::fs::read(fixtures().flat.join(name)).expect("wheel"))
}

/// Two layers (`deps`: purelib, `extra`: fastmath), five functions (`f1`…`f5`) naming none, one or both.
fn project(name: &str, index: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::create_dir(dir.join(".git")).expect("mkdir .git");
    std::fs::write(
        dir.join("deps.lock.txt"),
        format!(
            "purelib==1.0 --hash=sha256:{}\n",
            sha("purelib-1.0-py3-none-any.whl")
        ),
    )
    .expect("write");
    let arch = std::env::consts::ARCH;
    let fastmath = format!(
        "fastmath==1.0 --hash=sha256:{}\n",
        sha(&format!(
            "fastmath-1.0-cp311-cp311-manylinux_2_17_{arch}.manylinux2014_{arch}.whl"
        ))
    );
    std::fs::write(dir.join("extra.lock.txt"), &fastmath).expect("write");
    // Functions: the layers' packages, pinned alike (a layer's copy is the one imported).
    std::fs::write(
        dir.join("fn.lock.txt"),
        format!(
            "purelib==1.0 --hash=sha256:{}\n{fastmath}",
            sha("purelib-1.0-py3-none-any.whl")
        ),
    )
    .expect("write");
    let mut toml = format!(
        "runtime = \"python3.11\"\nindex-url = \"{index}\"\nbytecode = \"none\"\nno-verify = true\n\n[layers.deps]\nrequirements = \"deps.lock.txt\"\n\n[layers.extra]\nrequirements = \"extra.lock.txt\"\n"
    );
    let layers = [
        "",
        "\"deps\"",
        "\"extra\"",
        "\"deps\", \"extra\"",
        "\"deps\"",
    ];
    for (i, l) in layers.iter().enumerate() {
        let n = i + 1;
        std::fs::create_dir_all(dir.join(format!("f{n}"))).expect("mkdir");
        std::fs::write(
            dir.join(format!("f{n}/main.py")),
            format!("def handler(e, c):\n    return {n}\n"),
        )
        .expect("write");
        toml.push_str(&format!(
            "\n[functions.f{n}]\nsrc = \"f{n}\"\nrequirements = \"fn.lock.txt\"\nlayers = [{l}]\n"
        ));
    }
    std::fs::write(dir.join("lpack.toml"), toml).expect("write config");
    dir
}

fn plan(dir: &Path, args: &[&str]) -> Value {
    let out = run(lpack().arg("plan").args(args).current_dir(dir));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("plan JSON")
}

#[test]
fn plan_two_layers_five_functions() {
    let dir = project("plan", "http://127.0.0.1:9/simple");
    let p = plan(&dir, &[]);
    let units = p["units"].as_array().expect("units");
    let names: Vec<&str> = units.iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["deps", "extra", "f1", "f2", "f3", "f4", "f5"]);
    assert_eq!(units[0]["kind"], "layer");
    assert_eq!(units[2]["kind"], "function");
    assert_eq!(units[2]["depends_on"], serde_json::json!([]));
    assert_eq!(units[5]["depends_on"], serde_json::json!(["deps", "extra"]));
    assert_eq!(units[3]["command"], "lpack build f2");
    assert_eq!(units[3]["manifest"], "dist/f2.zip.lpack.json");
    let report = p["report"]["command"].as_str().expect("report");
    assert!(
        report.contains("lpack size-report dist/deps.zip.lpack.json"),
        "{report}"
    );

    // GitHub: one job per unit, the remote cache in each command; two stages with --only.
    let m = plan(
        &dir,
        &["--format", "github-matrix", "--remote-cache", "s3://b/ci"],
    );
    let include = m["include"].as_array().expect("include");
    assert_eq!(include.len(), 7);
    assert_eq!(
        include[0]["command"],
        "lpack build deps --remote-cache s3://b/ci"
    );
    let layers = plan(&dir, &["--format", "github-matrix", "--only", "layers"]);
    assert_eq!(layers["include"].as_array().map(Vec::len), Some(2));
    let functions = plan(&dir, &["--format", "github-matrix", "--only", "functions"]);
    assert_eq!(functions["include"].as_array().map(Vec::len), Some(5));
    // Over the limit: shards of several units, in order.
    let sharded = plan(&dir, &["--format", "github-matrix", "--max-jobs", "3"]);
    let jobs: Vec<&str> = sharded["include"]
        .as_array()
        .expect("include")
        .iter()
        .filter_map(|j| j["units"].as_str())
        .collect();
    assert_eq!(jobs, ["deps extra f1", "f2 f3 f4", "f5"]);

    // CodeBuild: functions depend on their layers' builds; the report on every build.
    let cb = plan(&dir, &["--format", "codebuild"]);
    let graph = cb["batch"]["build-graph"].as_array().expect("graph");
    let ids: Vec<&str> = graph
        .iter()
        .filter_map(|g| g["identifier"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "layer_deps",
            "layer_extra",
            "function_f1",
            "function_f2",
            "function_f3",
            "function_f4",
            "function_f5",
            "report"
        ]
    );
    assert!(graph[0].get("depend-on").is_none());
    assert!(graph[2].get("depend-on").is_none());
    assert_eq!(
        graph[5]["depend-on"],
        serde_json::json!(["layer_deps", "layer_extra"])
    );
    assert_eq!(graph[7]["depend-on"].as_array().map(Vec::len), Some(7));
    assert_eq!(graph[3]["env"]["variables"]["LPACK_UNITS"], "f2");
    assert!(
        cb["phases"]["build"]["commands"][0]
            .as_str()
            .is_some_and(|c| c.contains("lpack build $LPACK_UNITS")),
        "{cb}"
    );
}

/// Run one job's shell command (`lpack …` joined by `&&`) in a fresh copy of the checkout.
fn job(dir: &Path, runner: &str, command: &str, remote: &str) {
    let work = dir.join(format!("runner-{runner}"));
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&dir.join("src"), &work);
    for part in command.split(" && ") {
        let words: Vec<&str> = part.split_whitespace().collect();
        assert_eq!(words[0], "lpack", "{part}");
        let out = run(lpack()
            .args(&words[1..])
            .current_dir(&work)
            .env("LPACK_REMOTE_CACHE", remote)
            .env("LPACK_CACHE_DIR", work.join(".cache")));
        assert!(out.status.success(), "{part}: {}", stderr(&out));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().flatten() {
        let rel = e.path().strip_prefix(from).expect("under");
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn the_plan_runs_on_separate_runners_sharing_a_remote() {
    let base = scratch("plan-run");
    let live = project("plan-run-src", index(IndexKind::Html));
    copy_tree(&live, &base.join("src"));
    let remote = format!("file://{}", base.join("remote").display());
    let layers = plan(
        &base.join("src"),
        &["--format", "github-matrix", "--only", "layers"],
    );
    let functions = plan(
        &base.join("src"),
        &["--format", "github-matrix", "--only", "functions"],
    );
    for (i, j) in layers["include"]
        .as_array()
        .expect("include")
        .iter()
        .chain(functions["include"].as_array().expect("include"))
        .enumerate()
    {
        job(
            &base,
            &i.to_string(),
            j["command"].as_str().expect("command"),
            &remote,
        );
    }
    // The report job: another runner whose index does not answer; every artifact comes from
    // the remote, then one size report over all manifests.
    let dead = std::fs::read_to_string(base.join("src/lpack.toml"))
        .expect("config")
        .replace(index(IndexKind::Html), "http://127.0.0.1:9/simple");
    std::fs::write(base.join("src/lpack.toml"), dead).expect("write");
    let p = plan(&base.join("src"), &[]);
    job(
        &base,
        "report",
        p["report"]["command"].as_str().expect("report"),
        &remote,
    );
    for u in p["units"].as_array().expect("units") {
        let m = u["manifest"].as_str().expect("manifest");
        assert!(base.join("runner-report").join(m).is_file(), "{m}");
        // The report runner's artifact is the one the unit's own runner built.
        let zip = m.trim_end_matches(".lpack.json");
        let theirs = (0..7)
            .map(|i| base.join(format!("runner-{i}")).join(zip))
            .find(|p| p.is_file())
            .expect("built by a job");
        assert_eq!(
            std::fs::read(base.join("runner-report").join(zip)).expect("zip"),
            std::fs::read(theirs).expect("zip")
        );
    }
}
