//! Locks: resolving loose requirements to pins, and `pylock.toml` (PEP 751) files.
//!
//! `lpack lock` writes a `pylock.toml` with one wheel per package — the one the target runs —
//! with its URL (or path) and sha256, and records the target under `[tool.lpack]`. Building
//! from it needs no resolution and works `--offline` with a warm cache; building it for another
//! runtime or architecture is an error that says to re-lock. A `pylock.toml` from another tool
//! (no `[tool.lpack]`) is accepted: for each package the best of its listed wheels for the
//! target is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use serde::Deserialize;

use super::index::FileLocation;
use super::solver::{Provider, solve};
use super::{Lock, LockedWheel};
use crate::requirements::{Pin, PinnedSet, RequirementSet};
use crate::target::Target;
use crate::wheel::{WheelFilename, normalize_name};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Solve(#[from] super::solver::SolveError),
    #[error("{path}: {detail}")]
    Read { path: String, detail: String },
    #[error(
        "{path} was locked for {locked}, not {wanted}\n  hint: re-lock for this target: lpack lock -r <requirements> --runtime {runtime} --arch {arch} -o {path}"
    )]
    WrongTarget {
        path: String,
        locked: String,
        wanted: String,
        runtime: String,
        arch: String,
    },
    #[error(
        "{path}: no wheel of {name} {version} runs on {target}\n  hint: re-lock for this target"
    )]
    NoWheel {
        path: String,
        name: String,
        version: String,
        target: String,
    },
}

/// Resolve a requirement set (loose or partly pinned) to exact pins for the target.
pub fn resolve_requirements(
    set: &RequirementSet,
    provider: &Provider<'_>,
) -> Result<PinnedSet, LockError> {
    let solution = solve(provider)?;
    let hashes: BTreeMap<&str, &Pin> = set
        .pinned
        .pins
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let pins = solution
        .into_iter()
        .map(|(name, version)| {
            let hashes = hashes
                .get(name.as_str())
                .filter(|p| p.version == version)
                .map(|p| p.hashes.clone())
                .unwrap_or_default();
            let direct = provider.direct_wheel(&name);
            Pin {
                location: "(resolved)".to_string(),
                name,
                version,
                hashes,
                direct,
            }
        })
        .collect();
    Ok(PinnedSet {
        pins,
        index: set.pinned.index.clone(),
        skipped: set.pinned.skipped.clone(),
    })
}

/// Is this path a PEP 751 lock file (`pylock.toml` or `pylock.*.toml`)?
pub fn is_pylock(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "pylock.toml" || (n.starts_with("pylock.") && n.ends_with(".toml")))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `pylock.toml` text for `wheels` (each with its verified sha256) on `target`.
pub fn render(target: &Target, wheels: &[(LockedWheel, String)], requested: &[String]) -> String {
    let minor = target.runtime.minor();
    let mut out = String::new();
    out.push_str("# This file was written by lpack (`lpack lock`). Do not edit by hand.\n");
    out.push_str("lock-version = \"1.0\"\n");
    out.push_str(&format!(
        "environments = [{}]\n",
        esc(&format!(
            "sys_platform == 'linux' and platform_machine == '{}' and python_version == '3.{minor}'",
            target.arch.machine()
        ))
    ));
    out.push_str(&format!(
        "requires-python = {}\n",
        esc(&format!("==3.{minor}.*"))
    ));
    out.push_str("created-by = \"lpack\"\n");
    if !requested.is_empty() {
        out.push_str(&format!("# requested: {}\n", requested.join(", ")));
    }
    for (w, sha) in wheels {
        out.push_str("\n[[packages]]\n");
        out.push_str(&format!("name = {}\n", esc(&w.name)));
        out.push_str(&format!("version = {}\n", esc(&w.version)));
        if w.source.starts_with("http") {
            out.push_str(&format!("index = {}\n", esc(&w.source)));
        }
        out.push_str("\n[[packages.wheels]]\n");
        out.push_str(&format!("name = {}\n", esc(&w.filename)));
        match &w.location {
            FileLocation::Url(_) => {
                out.push_str(&format!("url = {}\n", esc(&w.location.display())))
            }
            FileLocation::Path(p) => {
                out.push_str(&format!("path = {}\n", esc(&p.display().to_string())))
            }
        }
        out.push_str(&format!("hashes = {{ sha256 = {} }}\n", esc(sha)));
    }
    let (a, b) = target.glibc();
    out.push_str("\n[tool.lpack]\n");
    out.push_str(&format!("runtime = {}\n", esc(&target.runtime.to_string())));
    out.push_str(&format!("arch = {}\n", esc(target.arch.lambda_name())));
    out.push_str(&format!("glibc = {}\n", esc(&format!("{a}.{b}"))));
    out
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    packages: Vec<Package>,
    #[serde(default)]
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    lpack: Option<LpackTool>,
}

#[derive(Deserialize)]
struct LpackTool {
    runtime: String,
    arch: String,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<WheelEntry>,
    #[serde(default)]
    index: Option<String>,
}

#[derive(Deserialize)]
struct WheelEntry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

/// Read a `pylock.toml` into the wheels to build for `target`.
pub fn read(path: &Path, target: &Target) -> Result<Lock, LockError> {
    let shown = path.display().to_string();
    let err = |detail: String| LockError::Read {
        path: shown.clone(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let f: File = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    if let Some(t) = f.tool.and_then(|t| t.lpack) {
        let same = t.runtime == target.runtime.to_string() && t.arch == target.arch.lambda_name();
        if !same {
            return Err(LockError::WrongTarget {
                path: shown,
                locked: format!("{} on {}", t.runtime, t.arch),
                wanted: format!("{} on {}", target.runtime, target.arch),
                runtime: target.runtime.to_string(),
                arch: target.arch.to_string(),
            });
        }
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut wheels = Vec::new();
    for p in f.packages {
        let name = normalize_name(&p.name);
        let version = p.version.clone().unwrap_or_default();
        let best = super::best_listed(
            p.wheels.iter().filter_map(|w| {
                let filename = w.name.clone().or_else(|| {
                    w.url
                        .as_deref()
                        .or(w.path.as_deref())
                        .and_then(|u| u.rsplit('/').next())
                        .map(str::to_string)
                })?;
                Some((filename, w))
            }),
            target,
        );
        let Some((filename, w)) = best else {
            return Err(LockError::NoWheel {
                path: shown,
                name,
                version,
                target: target.to_string(),
            });
        };
        let location = match (&w.url, &w.path) {
            (Some(u), _) => FileLocation::Url(u.clone()),
            (None, Some(p)) => FileLocation::Path(base.join(PathBuf::from(p))),
            (None, None) => {
                return Err(err(format!(
                    "{name}: wheel {filename} has neither url nor path"
                )));
            }
        };
        let sha = w.hashes.get("sha256").map(|h| h.to_ascii_lowercase());
        if sha.is_none() {
            return Err(err(format!("{name}: wheel {filename} has no sha256 hash")));
        }
        let version = if version.is_empty() {
            WheelFilename::parse(&filename)
                .map(|w| w.version)
                .unwrap_or_default()
        } else {
            version
        };
        let _ = Version::from_str(&version);
        wheels.push(LockedWheel {
            name,
            version,
            filename,
            location,
            index_sha256: sha.clone(),
            allowed_sha256: sha.into_iter().collect(),
            source: p.index.unwrap_or_else(|| shown.clone()),
        });
    }
    wheels.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Lock {
        wheels,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    #[test]
    fn round_trip_and_target_check() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let w = LockedWheel {
            name: "six".into(),
            version: "1.17.0".into(),
            filename: "six-1.17.0-py2.py3-none-any.whl".into(),
            location: FileLocation::Url(
                "https://files.example/six-1.17.0-py2.py3-none-any.whl".into(),
            ),
            index_sha256: None,
            allowed_sha256: vec![],
            source: "https://pypi.org/simple".into(),
        };
        let text = render(&t, &[(w, "a".repeat(64))], &[]);
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("pylock.toml");
        std::fs::write(&p, &text).expect("write");
        assert!(is_pylock(&p));
        let lock = read(&p, &t).expect("read");
        assert_eq!(lock.wheels.len(), 1);
        assert_eq!(
            lock.wheels[0].index_sha256.as_deref(),
            Some("a".repeat(64).as_str())
        );
        let other = Target::new(Runtime::Python311, Arch::X86_64);
        let e = read(&p, &other).expect_err("wrong target");
        assert!(
            e.to_string().contains("locked for python3.12 on x86_64"),
            "{e}"
        );
    }
}
