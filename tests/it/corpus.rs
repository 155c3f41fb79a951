//! The opt-in corpus of real stacks (`LPACK_TEST_NETWORK=1`): popular packages with compiled
//! code, each built for python3.11 and python3.12 with the `safe` and `aggressive` profiles,
//! deep-verified against its wheels (no regression allowed), and exercised by a script that
//! computes something real with it (`tests/corpus/NAME.py`). `LPACK_CORPUS=a,b` picks stacks;
//! `LPACK_CORPUS_PROFILES=none,safe,aggressive` picks profiles (default `safe,aggressive`).
//! The build itself must pass its default verify: a module that fails from the unmodified
//! wheels too (duckdb's `adbc_driver_duckdb`, hypothesis' pytest plugin, black's `blackd`) is a
//! warning, not a failure. The table is printed and written to `target/corpus.md`, with each
//! build's size and lpack's peak memory (`--timings`; the wheels come from the kept cache, so it
//! covers slimming, emitting and the import check, not the downloads).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

struct Row {
    stack: String,
    runtime: String,
    profile: String,
    result: Result<String, String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn profiles() -> Vec<String> {
    std::env::var("LPACK_CORPUS_PROFILES")
        .unwrap_or_else(|_| "safe,aggressive".to_string())
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn stacks() -> Vec<String> {
    let wanted: Option<Vec<String>> = std::env::var("LPACK_CORPUS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut out: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".txt")
                .map(str::to_string)
        })
        .filter(|s| wanted.as_ref().is_none_or(|w| w.contains(s)))
        .collect();
    out.sort();
    out
}

/// Build, deep-verify and exercise one stack; `Ok(summary)` or `Err(what failed)`.
fn one(
    stack: &str,
    minor: u32,
    profile: &str,
    work: &Path,
    cache: &Path,
) -> Result<String, String> {
    let py = python(minor).ok_or(format!("python3.{minor} not found"))?;
    let zip = work.join(format!("{stack}-py3{minor}-{profile}.zip"));
    let o = run(lpack()
        .args(["build", "-r"])
        .arg(corpus_dir().join(format!("{stack}.txt")))
        .args([
            "--runtime",
            &format!("python3.{minor}"),
            "--profile",
            profile,
        ])
        .arg("-o")
        .arg(&zip)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--python")
        .arg(&py)
        // The manifest then holds the build's timings, and with them lpack's peak memory.
        .arg("--timings"));
    if !o.status.success() {
        return Err(format!(
            "build exit {:?}: {}",
            o.status.code(),
            stderr(&o)
                .lines()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}.lpack.json", zip.display())).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let size = m["artifact"]["unzipped_size"].as_u64().unwrap_or(0);
    let peak = m["timings"]["peak_rss"].as_u64().unwrap_or(0);
    // The build's own verify must have run (and passed, or the exit code says so).
    if !m["verify"]["status"]
        .as_str()
        .is_some_and(|s| s.starts_with("verified"))
    {
        return Err(format!("the build was not verified: {}", m["verify"]));
    }
    let plain_pre = m["verify"]["pre_existing"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    let kept: u64 = m["files"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|r| r["rule"] == "guard.imported-by")
                .filter_map(|r| r["size"].as_u64())
                .sum()
        })
        .unwrap_or(0);
    let o = run(lpack()
        .args(["verify", "--deep", "--json"])
        .arg(&zip)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--python")
        .arg(&py));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o))
        .map_err(|e| format!("deep verify: {e}: {}", stderr(&o)))?;
    let regressions = v["regressions"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(usize::MAX);
    if regressions != 0 {
        return Err(format!("{regressions} regression(s): {}", v["regressions"]));
    }
    let tree = work.join(format!("{stack}-py3{minor}-{profile}"));
    let _ = std::fs::remove_dir_all(&tree);
    unzip(&zip, &tree);
    let script = std::fs::read_to_string(corpus_dir().join(format!("{stack}.py")))
        .map_err(|e| e.to_string())?;
    // Aggressive builds leave out what the runtime provides: put it behind, as Lambda does.
    let behind = if profile == "aggressive" {
        runtime_dir(minor, work, cache)?
    } else {
        work.join("nothing")
    };
    let o = Command::new(&py)
        .args(["-I", "-S", "-B", "-c"])
        .arg(format!(
            "import sys; sys.path[0:0] = [{:?}, {:?}]\n{script}",
            tree.to_string_lossy(),
            behind.to_string_lossy()
        ))
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&tree);
    if !o.status.success() {
        return Err(format!(
            "exercise: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(format!(
        "{:.1} MB · peak memory {:.0} MB · bytecode {}{} · guard kept {:.2} MB · verify: {plain_pre} top-level pre-existing · deep: {} modules, {} pre-existing · {}",
        size as f64 / 1e6,
        peak as f64 / 1e6,
        m["bytecode"].as_str().unwrap_or(""),
        if m["bytecode_note"].is_string() {
            " (narrowed to fit)"
        } else {
            ""
        },
        kept as f64 / 1e6,
        v["modules"],
        v["pre_existing"].as_array().map(Vec::len).unwrap_or(0),
        String::from_utf8_lossy(&o.stdout).trim()
    ))
}

/// The packages the Lambda runtime provides (`data/lambda-runtime-provided.txt`), unpacked once
/// per Python version.
fn runtime_dir(minor: u32, work: &Path, cache: &Path) -> Result<PathBuf, String> {
    let dir = work.join(format!("runtime-py3{minor}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    let zip = work.join(format!("runtime-py3{minor}.zip"));
    let o = run(lpack()
        .args(["build", "-r"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/lambda-runtime-provided.txt"))
        .args([
            "--runtime",
            &format!("python3.{minor}"),
            "--profile",
            "none",
            "--bytecode",
            "none",
            "--no-verify",
            "-q",
        ])
        .arg("-o")
        .arg(&zip)
        .arg("--cache-dir")
        .arg(cache));
    if !o.status.success() {
        return Err(format!("runtime packages: {}", stderr(&o)));
    }
    unzip(&zip, &dir);
    Ok(dir)
}

#[test]
fn corpus_builds_deep_verifies_and_runs() {
    if !std::env::var("LPACK_TEST_NETWORK").is_ok_and(|v| v == "1") {
        eprintln!("skipped the corpus: set LPACK_TEST_NETWORK=1 to build real stacks from PyPI");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let work = root.join("corpus");
    let cache = root.join("corpus-cache");
    std::fs::create_dir_all(&work).expect("mkdir");
    // The cache is kept between runs for what comes from the network (index pages, metadata,
    // wheels, the runtime's packages). What lpack derives from them is not: a run restored from
    // kept artifacts or fragments would test the lpack that made them, not this one.
    for derived in [
        "artifacts-v1",
        "slim-v1",
        "strips-v1",
        "verify-v1",
        "trace-v1",
        "guard-v1",
        "graph-v1",
        "checks-v1",
    ] {
        let _ = std::fs::remove_dir_all(cache.join(derived));
    }
    let mut rows = Vec::new();
    for stack in stacks() {
        for minor in [11, 12] {
            for profile in profiles() {
                let profile = profile.as_str();
                let result = one(&stack, minor, profile, &work, &cache);
                eprintln!("{stack} python3.{minor} {profile}: {result:?}");
                let _ =
                    std::fs::remove_file(work.join(format!("{stack}-py3{minor}-{profile}.zip")));
                rows.push(Row {
                    stack: stack.clone(),
                    runtime: format!("python3.{minor}"),
                    profile: profile.to_string(),
                    result,
                });
            }
        }
    }
    let mut table = String::from("| stack | runtime | profile | result |\n|---|---|---|---|\n");
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.stack,
            r.runtime,
            r.profile,
            match &r.result {
                Ok(s) => format!("✅ {s}"),
                Err(e) => format!("❌ {}", e.replace('|', "/")),
            }
        ));
    }
    println!("{table}");
    let _ = std::fs::write(root.join("corpus.md"), &table);
    let failed: Vec<&Row> = rows.iter().filter(|r| r.result.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} corpus builds failed:\n{table}",
        failed.len(),
        rows.len()
    );
}
