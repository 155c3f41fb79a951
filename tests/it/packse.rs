//! packse's resolver scenarios (the suite uv is tested with) run against the real `lpack lock`.
//!
//! The scenario files are packse's own (tests/packse/scenarios, packse 0.3.59, MIT/Apache-2.0,
//! licenses beside them). `tests/packse/prepare.py`, run with a Python that has packse
//! (`tests/packse/requirements.txt`; `LPACK_TEST_PACKSE_PYTHON`, else `target/packse-venv`, which
//! scripts/test.sh makes), builds each scenario's packages and renders a PEP 503 HTML index
//! (`data-requires-python=">=3.10"` written unescaped, as packse writes it); the test serves it on
//! 127.0.0.1 and locks each scenario's root requirements for the Lambda target that matches the
//! scenario's Python, then compares with the scenario's `[expected]` block: satisfiable or not, and
//! the version of every package it lists.
//!
//! A scenario lpack cannot express is "not applicable", with the reason: it needs an sdist built
//! (`no_binary`, or its expected package has no wheel for the target), a specific patch release
//! of Python (Lambda's patch level is not chosen), a platform other than a Lambda one, or it is
//! unsatisfiable only when resolving for all platforms at once (`universal`).
//!
//! A satisfiable scenario lpack could not lock is also "not applicable" when one of its packages
//! has no wheel for the target at all (uv would build its sdist, or a universal lock takes wheels
//! for other platforms); when lpack locks it anyway, it passes or fails as usual.
//!
//! `packse_subset` runs a fast subset by default; `packse_all` runs every scenario with
//! `LPACK_TEST_PACKSE=1` and prints the table by category (`LPACK_TEST_PACKSE_LPACK=/path/lpack`
//! judges another build, for a before/after comparison).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lpack::target::{Arch, Runtime, Target};
use lpack::wheel::WheelFilename;

use crate::harness::*;

/// Scenarios where lpack keeps its own policy, and what it does instead.
const POLICY: &[(&str, &str)] = &[(
    // uv ignores an upper bound of Requires-Python; the artifact runs on exactly one Python, so
    // lpack honours it and says so.
    "python-less-than-current",
    "upper bound",
)];

/// The default subset: one or more per fixed behaviour (pins, index parsing, local versions,
/// backtracking, policy), a few seconds in all.
const SUBSET: &[&str] = &[
    "backtracking/wrong-backtracking-basic",
    "incompatible_versions/transitive-incompatible-versions",
    "requires_python/python-greater-than-current",
    "requires_python/python-version-does-not-exist",
    "requires_python/python-less-than-current",
    "local/local-simple",
    "local/local-less-than-or-equal",
    "local/local-transitive-confounding",
    "local/local-greater-than",
    "extras/extra-required",
    "yanked/package-only-yanked",
    "does_not_exist/transitive-requires-package-does-not-exist",
    "wheels/no-sdist-no-wheels-with-matching-platform",
    "wheels/no-sdist-no-wheels-with-matching-abi",
    "wheels/no-sdist-no-wheels-with-matching-python",
];

fn packse_python() -> PathBuf {
    if let Ok(p) = std::env::var("LPACK_TEST_PACKSE_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/packse-venv/bin/python")
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packse/scenarios")
}

#[derive(serde::Deserialize)]
struct Scenario {
    name: String,
    source: String,
    root: Root,
    expected: Expected,
    environment: Environment,
    resolver_options: Options,
    packages: Vec<Package>,
}

#[derive(serde::Deserialize)]
struct Root {
    requires: Vec<Requirement>,
}

#[derive(serde::Deserialize)]
struct Requirement {
    requirement: String,
}

#[derive(serde::Deserialize)]
struct Expected {
    satisfiable: bool,
    packages: Vec<ExpectedPackage>,
}

#[derive(serde::Deserialize)]
struct ExpectedPackage {
    name: String,
    version: String,
}

#[derive(serde::Deserialize)]
struct Environment {
    python: String,
}

#[derive(serde::Deserialize)]
struct Options {
    python: Option<String>,
    prereleases: bool,
    no_binary: Vec<String>,
    universal: bool,
    python_platform: Option<String>,
}

#[derive(serde::Deserialize)]
struct Package {
    name: String,
    versions: Vec<PackageVersion>,
}

#[derive(serde::Deserialize)]
struct PackageVersion {
    version: String,
    wheel: bool,
    sdist: bool,
    wheel_tags: Vec<String>,
    requires_python: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(String),
    NotApplicable(String),
}

/// Build the scenarios' index, serve it, and judge each scenario. Returns (category, name,
/// verdict) rows.
fn run_scenarios(files: &[PathBuf], work: &Path) -> Vec<(String, String, Verdict)> {
    let py = packse_python();
    assert!(
        py.exists(),
        "no Python with packse at {py:?}: run scripts/test.sh (it installs tests/packse/requirements.txt into target/packse-venv with python3.12+), or set LPACK_TEST_PACKSE_PYTHON"
    );
    let out = work.join("packse");
    let o = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packse/prepare.py"))
        .arg(&out)
        .args(files)
        .output()
        .expect("run prepare.py");
    assert!(
        o.status.success(),
        "prepare.py failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let scenarios: Vec<Scenario> = serde_json::from_slice(
        &std::fs::read(out.join("scenarios.json")).expect("read scenarios.json"),
    )
    .expect("parse scenarios.json");
    let server = Service::start(
        &py.to_string_lossy(),
        &[
            "-m".into(),
            "http.server".into(),
            "{port}".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--directory".into(),
            out.join("index").to_string_lossy().into_owned(),
        ],
        &work.join("http.log"),
    );
    let index = format!("http://127.0.0.1:{}/simple-html", server.port);
    let cache = work.join("cache");
    scenarios
        .iter()
        .map(|s| {
            let category = Path::new(&s.source)
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let verdict = match applicable(s) {
                Err(why) => Verdict::NotApplicable(why),
                Ok(target) => judge(s, &target, &index, &cache, work),
            };
            (category, s.name.clone(), verdict)
        })
        .collect()
}

/// The Lambda target a scenario resolves for, or why lpack cannot express it.
fn applicable(s: &Scenario) -> Result<Target, String> {
    if !s.resolver_options.no_binary.is_empty() {
        return Err("needs an sdist build (--no-binary)".into());
    }
    // An x86_64 manylinux platform is what Lambda's x86_64 runtimes run (their glibc, 2.26 or
    // 2.34, is at least manylinux2014's 2.17): resolved for that runtime. Any other platform is
    // one no Lambda runtime has.
    if let Some(p) = &s.resolver_options.python_platform
        && !(p.starts_with("x86_64-manylinux") || p == "x86_64-unknown-linux-gnu")
    {
        return Err(format!(
            "needs platform {p}; lpack targets a Lambda runtime's own glibc"
        ));
    }
    // uv reads `3.9` as 3.9.0 when a scenario's interpreter is a patch release (3.9.21).
    if s.environment.python.split('.').count() > 2 && s.resolver_options.python.is_some() {
        return Err(format!(
            "needs Python {} and a --python-version override (specific patch releases)",
            s.environment.python
        ));
    }
    let python = s
        .resolver_options
        .python
        .clone()
        .unwrap_or_else(|| s.environment.python.clone());
    let parts: Vec<&str> = python.split('.').collect();
    let minor: u32 = parts
        .get(1)
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("python {python}"))?;
    let runtime: Runtime = format!("python3.{minor}")
        .parse()
        .map_err(|_| format!("needs Python {python}, which no Lambda runtime has"))?;
    if parts.len() > 2 && python != runtime.full_version() {
        return Err(format!(
            "needs Python {python} exactly (a specific patch release; {runtime} is {})",
            runtime.full_version()
        ));
    }
    let target = Target::new(runtime, Arch::X86_64);
    if s.resolver_options.universal && !s.expected.satisfiable {
        return Err(
            "unsatisfiable only when resolving for all platforms at once (universal)".into(),
        );
    }
    if s.expected.satisfiable {
        for e in &s.expected.packages {
            let Some(v) = s
                .packages
                .iter()
                .find(|p| p.name == e.name)
                .and_then(|p| p.versions.iter().find(|v| v.version == e.version))
            else {
                continue;
            };
            if !runs_on(v, &target) && v.sdist {
                return Err(format!(
                    "needs an sdist build ({} {} has no wheel for {target})",
                    e.name, e.version
                ));
            }
        }
    }
    Ok(target)
}

/// Has this version a wheel the target runs (tags and Requires-Python)?
fn runs_on(v: &PackageVersion, target: &Target) -> bool {
    use std::str::FromStr;
    let python_ok = v.requires_python.as_deref().is_none_or(|rp| {
        match (
            pep440_rs::VersionSpecifiers::from_str(rp),
            pep440_rs::Version::from_str(target.runtime.full_version()),
        ) {
            (Ok(specs), Ok(full)) => specs.contains(&full),
            _ => true,
        }
    });
    v.wheel
        && python_ok
        && wheel_tags(v).iter().any(|tag| {
            WheelFilename::parse(&format!("x-{}-{tag}.whl", v.version))
                .ok()
                .and_then(|w| w.priority(target))
                .is_some()
        })
}

/// Why a satisfiable scenario that lpack could not lock is outside what lpack expresses: a
/// package with no wheel for the target at all (uv builds its sdist, or a universal lock takes
/// wheels for other platforms). `None` when every package has a wheel for the target.
fn needs_more_than_wheels(s: &Scenario, target: &Target) -> Option<String> {
    s.packages.iter().find_map(|p| {
        if p.versions.iter().any(|v| runs_on(v, target)) {
            return None;
        }
        if p.versions.iter().any(|v| v.sdist) {
            Some(format!(
                "needs an sdist build ({} has no wheel for {target})",
                p.name
            ))
        } else if s.resolver_options.universal {
            Some(format!(
                "universal lock: {} has wheels for other platforms or Pythons only",
                p.name
            ))
        } else {
            None
        }
    })
}

fn wheel_tags(v: &PackageVersion) -> Vec<String> {
    if v.wheel_tags.is_empty() {
        vec!["py3-none-any".to_string()]
    } else {
        v.wheel_tags.clone()
    }
}

/// Lock the scenario's root requirements with the real binary and compare with `[expected]`.
fn judge(s: &Scenario, target: &Target, index: &str, cache: &Path, work: &Path) -> Verdict {
    let dir = work.join(&s.name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let reqs: String = s
        .root
        .requires
        .iter()
        .map(|r| format!("{}\n", r.requirement))
        .collect();
    std::fs::write(dir.join("requirements.txt"), reqs).expect("write requirements");
    let lock = dir.join("pylock.toml");
    let _ = std::fs::remove_file(&lock);
    // LPACK_TEST_PACKSE_LPACK: judge another lpack binary (e.g. an older build, for a before and
    // after table); default: the binary under test.
    let mut cmd = match std::env::var_os("LPACK_TEST_PACKSE_LPACK") {
        Some(bin) => {
            let mut c = lpack();
            let mut other = Command::new(bin);
            for (k, v) in c.get_envs() {
                match v {
                    Some(v) => other.env(k, v),
                    None => other.env_remove(k),
                };
            }
            c = other;
            c
        }
        None => lpack(),
    };
    cmd.arg("lock")
        .arg("-r")
        .arg(dir.join("requirements.txt"))
        .args(["--runtime", &target.runtime.to_string(), "--arch", "x86_64"])
        .args(["--index-url", index])
        .arg("--cache-dir")
        .arg(cache)
        .arg("-o")
        .arg(&lock)
        .arg("--quiet");
    if s.resolver_options.prereleases {
        cmd.args(["--prerelease", "allow"]);
    }
    let o = cmd.output().expect("run lpack lock");
    let err = stderr(&o);
    let policy = POLICY.iter().find(|(n, _)| *n == s.name);
    if let Some((_, says)) = policy {
        return if o.status.success() {
            Verdict::Fail(format!(
                "lpack policy: must be refused (saying `{says}`), but it locked"
            ))
        } else if err.contains(says) {
            Verdict::Pass
        } else {
            Verdict::Fail(format!("refused without saying `{says}`: {err}"))
        };
    }
    if !s.expected.satisfiable {
        return if o.status.success() {
            Verdict::Fail(format!(
                "expected unsatisfiable, lpack chose {:?}",
                chosen(&lock)
            ))
        } else if err.contains('∅')
            || err.contains("is forbidden")
            || err.contains("requirements is")
            || err.contains("panicked")
        {
            Verdict::Fail(format!("unsatisfiable, but the message is raw: {err}"))
        } else {
            Verdict::Pass
        };
    }
    if !o.status.success() {
        if let Some(why) = needs_more_than_wheels(s, target) {
            return Verdict::NotApplicable(why);
        }
        return Verdict::Fail(format!(
            "expected satisfiable, lpack failed: {}",
            err.lines().take(6).collect::<Vec<_>>().join(" / ")
        ));
    }
    let got = chosen(&lock);
    let wrong: Vec<String> = s
        .expected
        .packages
        .iter()
        .filter(|e| got.get(&e.name) != Some(&e.version))
        .map(|e| {
            format!(
                "{} expected {}, got {}",
                e.name,
                e.version,
                got.get(&e.name).map_or("nothing", String::as_str)
            )
        })
        .collect();
    if wrong.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(wrong.join("; "))
    }
}

/// name → version of a pylock.toml.
fn chosen(lock: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    let doc: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Table(Default::default()));
    doc.get("packages")
        .and_then(|p| p.as_array())
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some((
                        p.get("name")?.as_str()?.to_string(),
                        p.get("version")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The table by category, then every failure and not-applicable reason.
fn table(rows: &[(String, String, Verdict)]) -> String {
    let mut by: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for (cat, _, v) in rows {
        let c = by.entry(cat.as_str()).or_default();
        match v {
            Verdict::Pass => c[0] += 1,
            Verdict::Fail(_) => c[1] += 1,
            Verdict::NotApplicable(_) => c[2] += 1,
        }
    }
    let mut out = String::from("| category | pass | fail | not applicable |\n|---|---|---|---|\n");
    let mut total = [0; 3];
    for (cat, c) in &by {
        out.push_str(&format!("| {cat} | {} | {} | {} |\n", c[0], c[1], c[2]));
        for i in 0..3 {
            total[i] += c[i];
        }
    }
    out.push_str(&format!(
        "| **all** | {} | {} | {} |\n",
        total[0], total[1], total[2]
    ));
    for (cat, name, v) in rows {
        match v {
            Verdict::Fail(why) => out.push_str(&format!("FAIL {cat}/{name}: {why}\n")),
            Verdict::NotApplicable(why) => out.push_str(&format!("n/a  {cat}/{name}: {why}\n")),
            Verdict::Pass => {}
        }
    }
    out
}

#[test]
fn packse_subset() {
    let work = scratch("packse-subset");
    let files: Vec<PathBuf> = SUBSET
        .iter()
        .map(|s| scenario_dir().join(format!("{s}.toml")))
        .collect();
    let rows = run_scenarios(&files, &work);
    let report = table(&rows);
    eprintln!("{report}");
    assert_eq!(rows.len(), SUBSET.len(), "{report}");
    assert!(
        rows.iter().all(|(_, _, v)| *v == Verdict::Pass),
        "packse scenarios disagree:\n{report}"
    );
}

#[test]
fn packse_all() {
    if !std::env::var("LPACK_TEST_PACKSE").is_ok_and(|v| v == "1") {
        eprintln!("skipped the whole packse suite: set LPACK_TEST_PACKSE=1 to run it");
        return;
    }
    let work = scratch("packse-all");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(scenario_dir())
        .expect("scenarios")
        .flatten()
    {
        if dir.file_name() == "examples" {
            continue;
        }
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "toml") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    let rows = run_scenarios(&files, &work);
    let report = table(&rows);
    eprintln!("{report}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("packse-table.md"),
        &report,
    );
    assert!(
        rows.iter().all(|(_, _, v)| !matches!(v, Verdict::Fail(_))),
        "packse scenarios disagree:\n{report}"
    );
}
