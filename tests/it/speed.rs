//! Build speed features that change no bytes: `--timings`, and no-change rebuilds answered from
//! the manifest (the inputs' stat fingerprint). Nothing here times anything (see benches/).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn build(dir: &Path, extra: &[&str]) -> Command {
    let mut c = lpack();
    c.current_dir(dir)
        .args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
        .args(["--index-url", index(IndexKind::Html)])
        .args(["--src", "app", "--no-verify"])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("-o")
        .arg(dir.join("out/fn.zip"))
        .args(extra);
    c
}

fn json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run(build(dir, extra).arg("--json"));
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("json summary")
}

/// Did any stage run (false: answered from the manifest by the fingerprint)?
fn stages_ran(v: &serde_json::Value) -> bool {
    v["timings"]["stages"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("out/fn.zip.lpack.json")).expect("manifest"))
        .expect("json")
}

#[test]
fn no_change_rebuild_is_answered_from_the_manifest() {
    let dir = scratch("nochange");
    let wheel = std::fs::read(fixtures().flat.join("purelib-2.0-py3-none-any.whl")).expect("whl");
    std::fs::write(
        dir.join("requirements.txt"),
        format!(
            "purelib==2.0 --hash=sha256:{}\n",
            lpack::digest::sha256_hex(&wheel)
        ),
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), "X = 1\n").expect("write");

    let first = json(&dir, &[]);
    assert_eq!(first["unchanged"], false);
    assert!(stages_ran(&first), "{first}");
    let stages: Vec<&str> = first["timings"]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["stage"].as_str())
        .collect();
    for s in ["resolve", "download", "integrity", "parse", "emit"] {
        assert!(stages.contains(&s), "{s} missing from {stages:?}");
    }
    assert!(manifest(&dir)["fingerprint"]["inputs"].is_string());
    assert!(
        manifest(&dir).get("timings").is_none(),
        "without --timings the manifest holds no times"
    );

    // Nothing changed: no stage runs, the same artifact is reported.
    let second = json(&dir, &[]);
    assert_eq!(second["unchanged"], true);
    assert!(!stages_ran(&second), "{second}");
    assert_eq!(second["sha256"], first["sha256"]);

    // A handler file touched (same bytes): the full build runs and finds the artifact
    // unchanged by its content; the next build is answered from the manifest again.
    let touch = Command::new("touch")
        .args(["-d", "2001-01-01"])
        .arg(dir.join("app/app.py"))
        .status()
        .expect("touch");
    assert!(touch.success());
    let third = json(&dir, &[]);
    assert!(stages_ran(&third));
    assert_eq!(third["unchanged"], true);
    assert!(!stages_ran(&json(&dir, &[])));

    // A setting changed: built again.
    let other = json(&dir, &["--profile", "none"]);
    assert!(stages_ran(&other));

    // New handler code: a new artifact.
    std::fs::write(dir.join("app/app.py"), "X = 2\n").expect("write");
    let fifth = json(&dir, &[]);
    assert!(stages_ran(&fifth));
    assert_eq!(fifth["unchanged"], false);
    assert_ne!(fifth["sha256"], first["sha256"]);

    // The artifact changed behind lpack's back: rebuilt to the same bytes.
    let zip = dir.join("out/fn.zip");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&zip)
        .expect("open");
    f.set_len(10).expect("truncate");
    drop(f);
    let sixth = json(&dir, &[]);
    assert!(stages_ran(&sixth));
    assert_eq!(sixth["sha256"], fifth["sha256"]);
    assert_eq!(
        lpack::digest::sha256_hex(&std::fs::read(&zip).expect("zip")),
        fifth["sha256"].as_str().expect("sha")
    );

    // --timings keeps the build's timings in the manifest too.
    std::fs::write(dir.join("app/app.py"), "X = 3\n").expect("write");
    json(&dir, &["--timings"]);
    let m = manifest(&dir);
    assert!(
        m["timings"]["stages"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(m["timings"]["critical_path"].is_array());
}

#[test]
fn loose_requirements_are_resolved_every_time() {
    let dir = scratch("nochange-loose");
    std::fs::write(dir.join("requirements.txt"), "purelib==2.0\n").expect("write");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), "X = 1\n").expect("write");
    json(&dir, &[]);
    // Not a complete lock: a resolver might choose differently next time, so no fingerprint.
    assert!(manifest(&dir).get("fingerprint").is_none());
    let again = json(&dir, &[]);
    assert!(stages_ran(&again));
    assert_eq!(again["unchanged"], true);
}

#[test]
fn timings_for_people() {
    let dir = scratch("timings-human");
    std::fs::write(dir.join("requirements.txt"), "purelib==2.0\n").expect("write");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), "X = 1\n").expect("write");
    let out = run(&mut build(&dir, &["--timings"]));
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Timings: "), "{text}");
    // (A loaded machine may show the first piece queued: "critical path: (waited …) resolve".)
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("critical path: ") && l.contains("resolve")),
        "{text}"
    );
    for s in ["resolve", "download", "parse", "emit"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(s)),
            "{s}: {text}"
        );
    }
}

/// Work spread over threads (largest wheels first, bytecode in chunks) writes the bytes a
/// one-thread build writes.
#[test]
fn one_thread_and_many_write_the_same_bytes() {
    let mut digests = Vec::new();
    for threads in ["1", "4"] {
        let dir = scratch(&format!("threads-{threads}"));
        std::fs::write(
            dir.join("requirements.txt"),
            "purelib==2.0\nfastmath==1.0\nnsa==1.0\nnsb==1.0\n",
        )
        .expect("write");
        std::fs::create_dir_all(dir.join("app")).expect("mkdir");
        std::fs::write(dir.join("app/app.py"), "X = 1\n").expect("write");
        let out = run(build(&dir, &["--json"]).env("RAYON_NUM_THREADS", threads));
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        digests.push(v["sha256"].as_str().expect("sha").to_string());
    }
    assert_eq!(digests[0], digests[1]);
}

/// Wheels are checked and parsed as they land, while the others still download (inside the
/// resolve stage here: the test index serves no metadata files, so resolving downloads them),
/// and that writes the bytes a build that finds the same wheels already cached, and checks and
/// parses them one stage after another, writes.
#[test]
fn wheels_checked_as_they_land_build_what_a_staged_build_builds() {
    let reqs = "purelib==2.0\nfastmath==1.0\nnsa==1.0\nnsb==1.0\n";
    // A project of `reqs` and one source file, its cache holding copies of `seed` folders.
    let project = |name: &str, seed: &[PathBuf]| -> PathBuf {
        let dir = scratch(name);
        std::fs::write(dir.join("requirements.txt"), reqs).expect("write");
        std::fs::create_dir_all(dir.join("app")).expect("mkdir");
        std::fs::write(dir.join("app/app.py"), "X = 1\n").expect("write");
        if !seed.is_empty() {
            std::fs::create_dir_all(dir.join("cache")).expect("mkdir");
            let copy = std::process::Command::new("cp")
                .arg("-a")
                .args(seed)
                .arg(dir.join("cache/"))
                .status()
                .expect("cp");
            assert!(copy.success());
        }
        dir
    };
    let landed = project("landed", &[]);
    let first = json(&landed, &["--timings"]);
    assert!(first["downloaded"].as_u64().unwrap_or(0) >= 4, "{first}");
    let stage = |v: &serde_json::Value, name: &str, field: &str| -> f64 {
        v["timings"]["stages"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["stage"] == name))
            .and_then(|s| s[field].as_f64())
            .unwrap_or_else(|| panic!("no {name} {field} in {v}"))
    };
    assert!(
        stage(&first, "integrity", "start") < stage(&first, "resolve", "end"),
        "no wheel was checked while resolving: {}",
        first["timings"]
    );

    // The same wheels, already in a cache that holds nothing else: nothing lands, so each
    // stage does its own work after the one before.
    let wheels = landed.join("cache/wheels-v1");
    let staged = project("staged", std::slice::from_ref(&wheels));
    let second = json(&staged, &["--timings"]);
    assert_eq!(second["downloaded"].as_u64(), Some(0), "{second}");
    assert!(
        stage(&second, "integrity", "start") >= stage(&second, "resolve", "end"),
        "{}",
        second["timings"]
    );
    assert_eq!(first["sha256"], second["sha256"]);

    // Libraries were stripped as their wheels landed and remembered by content: a build from
    // the wheels and those results alone (no fragment) uses them, and makes the same bytes.
    let memo = landed.join("cache/strips-v1");
    assert!(
        std::fs::read_dir(&memo).is_ok_and(|mut d| d.next().is_some()),
        "no strip result remembered in {}",
        memo.display()
    );
    let reused = project("strips-reused", &[wheels, memo]);
    let third = json(&reused, &["--timings"]);
    assert_eq!(first["sha256"], third["sha256"]);
}

/// A warm build to a new output path copies the artifact an earlier build of the same inputs
/// kept in the cache (no wheel read, no slimming, no import check), byte for byte; a kept copy
/// changed in place is not trusted; one output name keeps its two newest keys.
#[test]
fn a_warm_build_to_a_new_output_copies_the_kept_artifact() {
    use std::os::unix::fs::MetadataExt;
    let dir = scratch("kept");
    let wheel = std::fs::read(fixtures().flat.join("purelib-2.0-py3-none-any.whl")).expect("whl");
    std::fs::write(
        dir.join("requirements.txt"),
        format!(
            "purelib==2.0 --hash=sha256:{}\n",
            lpack::digest::sha256_hex(&wheel)
        ),
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), "X = 1\n").expect("write");
    let built = |out: &str, extra: &[&str]| -> serde_json::Value {
        let o = run(lpack()
            .current_dir(&dir)
            .args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
            .args(["--index-url", index(IndexKind::Html)])
            .args(["--src", "app", "--no-verify", "--json"])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .arg("-o")
            .arg(dir.join(out))
            .args(extra));
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let first = built("a/fn.zip", &[]);
    assert_eq!(
        first["downloaded"].as_u64().unwrap_or(0) + first["cached"].as_u64().unwrap_or(0),
        1
    );
    let kept_dir = dir.join("cache/artifacts-v1");
    let entries = || -> Vec<std::path::PathBuf> {
        // artifacts-v1/<name>/<key>/record.json
        let mut found = Vec::new();
        for name in std::fs::read_dir(&kept_dir).into_iter().flatten().flatten() {
            for key in std::fs::read_dir(name.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if key.path().join("record.json").is_file() {
                    found.push(key.path());
                }
            }
        }
        found
    };
    assert_eq!(entries().len(), 1, "one kept entry");

    // To a new path: copied, same bytes, a file of its own (not a link to the kept copy).
    let second = built("b/fn.zip", &[]);
    assert_eq!(second["sha256"], first["sha256"]);
    assert!(
        second["verify"]
            .as_str()
            .is_some_and(|v| v.contains("kept in the local cache")),
        "{second}"
    );
    assert_eq!(second["from_cache"], "local", "{second}");
    assert_eq!(second["downloaded"], 0);
    assert_eq!(second["cached"], 0);
    let a = std::fs::metadata(dir.join("a/fn.zip")).expect("a");
    let b = std::fs::metadata(dir.join("b/fn.zip")).expect("b");
    assert_ne!(a.ino(), b.ino());
    assert_eq!(
        lpack::digest::sha256_file(&dir.join("b/fn.zip")).expect("hash"),
        first["sha256"].as_str().expect("sha")
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("b/fn.zip.lpack.json")).expect("manifest"))
            .expect("json");
    assert_eq!(m["artifact"]["sha256"], first["sha256"]);

    // The first output written to in place (it is the kept copy's inode): not trusted, the
    // build runs in full and writes the right bytes.
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("a/fn.zip"))
        .expect("open");
    f.set_len(a.len() + 3).expect("grow");
    drop(f);
    let third = built("c/fn.zip", &[]);
    assert!(third.get("from_cache").is_none(), "{third}");
    assert!(
        !third["verify"]
            .as_str()
            .is_some_and(|v| v.contains("local cache")),
        "{third}"
    );
    assert_eq!(third["sha256"], first["sha256"]);
    assert_eq!(
        lpack::digest::sha256_file(&dir.join("c/fn.zip")).expect("hash"),
        first["sha256"].as_str().expect("sha")
    );

    // New handler code three times: one output name keeps two keys.
    for n in 2..5 {
        std::fs::write(dir.join("app/app.py"), format!("X = {n}\n")).expect("write");
        built("a/fn.zip", &[]);
    }
    assert_eq!(entries().len(), 2, "{:?}", entries());
    // A different setting is a different key, never the kept artifact.
    let other = built("d/fn.zip", &["--profile", "none"]);
    assert!(
        !other["verify"]
            .as_str()
            .is_some_and(|v| v.contains("local cache"))
    );
}
