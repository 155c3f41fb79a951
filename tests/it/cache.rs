//! `lpack cache info` and `lpack cache prune`: sizes per kind, what goes and what stays, and
//! that prune never removes what a running build uses.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn build(dir: &Path, req: &str, extra: &[&str]) -> Command {
    std::fs::write(dir.join("requirements.txt"), req).expect("write");
    let mut c = lpack();
    c.current_dir(dir)
        .args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
        .args(["--index-url", index(IndexKind::Html)])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["-o", "out/fn.zip", "--no-verify", "-q", "--no-ci"])
        .args(extra);
    c
}

fn cache_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = lpack();
    c.arg("cache")
        .args(args)
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    c
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The wheel directories in the cache (`wheels-v1/ab/<sha>`), by the wheel file they hold.
fn wheels(cache: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(cache.join("wheels-v1"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for d in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                out.push((f.file_name().to_string_lossy().into_owned(), d.path()));
            }
        }
    }
    out.sort();
    out
}

fn wheel_dir(cache: &Path, prefix: &str) -> Option<PathBuf> {
    wheels(cache)
        .into_iter()
        .find(|(n, _)| n.starts_with(prefix))
        .map(|(_, d)| d)
}

#[test]
fn info_lists_sizes_per_kind() {
    let dir = scratch("cache-info");
    assert!(
        run(&mut build(&dir, "purelib==2.0\n", &[]))
            .status
            .success()
    );
    let out = run(&mut cache_cmd(&dir, &["info", "--json"]));
    assert!(out.status.success());
    let v = json(&out);
    let kinds = v["kinds"].as_array().expect("kinds");
    let kind = |k: &str| {
        kinds
            .iter()
            .find(|x| x["kind"] == k)
            .unwrap_or_else(|| panic!("no kind {k}: {v}"))
            .clone()
    };
    assert_eq!(kind("wheels-v1")["entries"], 1);
    assert!(kind("wheels-v1")["bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(kind("slim-v1")["entries"], 1, "{v}");
    let sum: u64 = kinds.iter().filter_map(|k| k["bytes"].as_u64()).sum();
    assert_eq!(v["bytes"].as_u64(), Some(sum));
    let text = stdout(&run(&mut cache_cmd(&dir, &["info"])));
    assert!(
        text.contains("1 wheel(s)") && text.contains("slim fragments"),
        "{text}"
    );
}

#[test]
fn prune_removes_other_versions_and_unused_entries_and_ci_keeps_what_the_job_used() {
    let dir = scratch("cache-prune");
    let cache = dir.join("cache");
    assert!(
        run(&mut build(&dir, "purelib==1.0\n", &[]))
            .status
            .success()
    );
    // Fold the first build's log away: from here on, `--ci` counts only the next build.
    let out = run(&mut cache_cmd(&dir, &["prune", "--json"]));
    assert!(out.status.success());
    assert_eq!(
        json(&out)["removed"].as_array().map(Vec::len),
        Some(0),
        "fresh entries stay"
    );

    // An entry last used by another lpack version (a log as such a version writes it) goes.
    std::fs::write(cache.join("graph-v1/from-old-lpack"), b"{}").expect("write");
    std::fs::write(
        cache.join("uses-v1/done-1-1-1.log"),
        "lpack 0.0.1\ngraph-v1/from-old-lpack\n",
    )
    .expect("log");
    assert!(
        run(&mut build(&dir, "purelib==2.0\n", &[]))
            .status
            .success()
    );
    let out = run(&mut cache_cmd(&dir, &["prune", "--ci", "--json"]));
    assert!(out.status.success());
    let v = json(&out);
    let removed = v["removed"].as_array().expect("removed");
    let reason = |entry: &str| {
        removed
            .iter()
            .find(|r| r["entry"] == entry)
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        reason("graph-v1/from-old-lpack").as_deref(),
        Some("other-version"),
        "{v}"
    );
    assert!(!cache.join("graph-v1/from-old-lpack").exists());
    // --ci: purelib 1.0 (the first build's) goes, purelib 2.0 (this job's build) stays.
    assert!(
        wheel_dir(&cache, "purelib-1.0").is_none(),
        "{:?}",
        wheels(&cache)
    );
    assert!(
        wheel_dir(&cache, "purelib-2.0").is_some(),
        "{:?}",
        wheels(&cache)
    );
    assert!(
        removed
            .iter()
            .any(|r| r["reason"] == "not-used-by-last-run" && r["kind"] == "slim-v1"),
        "{v}"
    );
    // What stays still builds offline, unchanged.
    let out = run(&mut build(&dir, "purelib==2.0\n", &["--offline"]));
    assert!(out.status.success());

    // --older-than 0s: nothing is young enough (a dry run says so and removes nothing).
    let out = run(&mut cache_cmd(
        &dir,
        &["prune", "--older-than", "0s", "--dry-run", "--json"],
    ));
    let v = json(&out);
    assert!(!v["removed"].as_array().expect("removed").is_empty(), "{v}");
    assert!(wheel_dir(&cache, "purelib-2.0").is_some());
    let out = run(&mut cache_cmd(&dir, &["prune", "--older-than", "0s"]));
    assert!(stdout(&out).starts_with("Removed "), "{}", stdout(&out));
    assert!(wheels(&cache).is_empty(), "{:?}", wheels(&cache));
}

#[test]
fn prune_does_not_remove_what_a_running_build_uses() {
    let dir = scratch("cache-prune-running");
    let cache = dir.join("cache");
    assert!(
        run(&mut build(&dir, "purelib==1.0\n", &["--bytecode", "none"]))
            .status
            .success()
    );
    assert!(
        run(&mut build(&dir, "purelib==2.0\n", &["--bytecode", "none"]))
            .status
            .success()
    );
    // A build that holds still after fetching: its "python" waits for a file before it runs.
    let python = helper_python();
    let (go, called) = (dir.join("go"), dir.join("called"));
    let wrapper = dir.join("python3.11");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ntouch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\nexec '{}' \"$@\"\n",
            called.display(),
            go.display(),
            python.display()
        ),
    )
    .expect("wrapper");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let held = build(
        &dir,
        "purelib==1.0\n",
        &["--offline", "--bytecode", "compile"],
    )
    .arg("--python")
    .arg(&wrapper)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    let started = Instant::now();
    while !called.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the build never reached python"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Everything unused for 0 s goes, except what the running build has used.
    let out = run(&mut cache_cmd(
        &dir,
        &["prune", "--older-than", "0s", "--json"],
    ));
    let v = json(&out);
    std::fs::write(&go, b"").expect("go");
    let done = held.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert!(v["in_use"].as_u64().unwrap_or(0) >= 1, "{v}");
    assert!(
        wheel_dir(&cache, "purelib-1.0").is_some(),
        "the running build's wheel stays: {v}"
    );
    assert!(
        wheel_dir(&cache, "purelib-2.0").is_none(),
        "the other one goes: {v}"
    );
    assert!(
        done.status.success(),
        "the running build (offline) finishes with what prune left: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}
