//! The reference: the unslimmed wheels installed as pip would, to tell lpack's regressions from
//! failures the wheels bring with them.
//!
//! Deep verify imports every module from it ([`super::deep`]). The plain verify asks it only
//! about the top-level modules that failed from the artifact: one that fails from the wheels
//! too (duckdb's `adbc_driver_duckdb` needs `adbc_driver_manager`, which only duckdb's `all`
//! extra installs) is pre-existing — a warning naming what is missing, not a failure. Those
//! answers are cached (in `verify-v1`, keyed by the interpreter, the target, every wheel's
//! sha256 and the module), so the wheels are installed once per stack, not per build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::VerifyError;
use super::install::install_wheel;
use super::set_readonly;
use crate::artifact::{Action, ArtifactManifest, PackageRecord};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::target::Target;
use crate::wheel::{Wheel, normalize_name};

/// Install every wheel the artifact (and its layers) was built from into `dest`, except those
/// the build left to the runtime; returns the distributions installed.
pub fn install(
    manifest: &ArtifactManifest,
    layers: &[ArtifactManifest],
    cache: &Cache,
    target: &Target,
    dest: &Path,
) -> Result<BTreeSet<String>, VerifyError> {
    std::fs::create_dir_all(dest).map_err(|e| VerifyError::Io(e.to_string()))?;
    let omitted: BTreeSet<&str> = manifest
        .files
        .iter()
        .filter(|f| f.action == Action::Drop && f.rule.as_deref() == Some("runtime-provided"))
        .map(|f| f.package.as_str())
        .collect();
    let mut installed: BTreeSet<String> = BTreeSet::new();
    for p in manifest
        .packages
        .iter()
        .chain(layers.iter().flat_map(|l| l.packages.iter()))
    {
        if omitted.contains(p.name.as_str()) || installed.contains(&p.name) {
            continue;
        }
        let wheel: PathBuf = wheel_path(p, cache).ok_or_else(|| {
            VerifyError::Io(format!(
                "{} ({}) is not in the cache at {} nor in the --find-links directory it came from: the comparison needs the wheels the artifact was built from\n  hint: build it again with the same --cache-dir (that fetches the wheel), then verify",
                p.filename,
                p.sha256,
                cache.root().display()
            ))
        })?;
        install_wheel(&wheel, &p.filename, dest, target).map_err(VerifyError::Io)?;
        installed.insert(p.name.clone());
    }
    set_readonly(dest, true);
    Ok(installed)
}

/// Where the wheel of `p` is: in the cache, or in the local `--find-links` directory it came
/// from (local wheels are not copied into the cache), if its sha256 still matches.
pub fn wheel_path(p: &PackageRecord, cache: &Cache) -> Option<PathBuf> {
    if let Some(w) = cache.wheel(&p.sha256, &p.filename) {
        return Some(w);
    }
    let dir = p.source.strip_prefix("--find-links ")?;
    if p.filename.contains(['/', '\\']) || dir.contains("://") {
        return None;
    }
    let path = Path::new(dir).join(&p.filename);
    (path.is_file() && crate::digest::sha256_file(&path).ok()? == p.sha256).then_some(path)
}

/// One module's result from the wheels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FromWheels {
    pub ok: bool,
    #[serde(default)]
    pub error: String,
}

/// The cache key of `module`'s result from these wheels with this interpreter.
fn key(
    manifest: &ArtifactManifest,
    layers: &[ArtifactManifest],
    python_version: &str,
    runtime: bool,
    module: &str,
) -> String {
    let mut wheels: Vec<&str> = manifest
        .packages
        .iter()
        .chain(layers.iter().flat_map(|l| l.packages.iter()))
        .map(|p| p.sha256.as_str())
        .collect();
    wheels.sort_unstable();
    wheels.dedup();
    sha256_hex(
        format!(
            "verify-reference 1\n{}\n{}\n{python_version}\n{runtime}\n{}\n{module}\n",
            manifest.target.runtime,
            manifest.target.arch,
            wheels.join(",")
        )
        .as_bytes(),
    )
}

/// What the wheels say about `modules` (each imported in turn, as deep verify does): from the
/// cache, or by installing the wheels into `scratch/wheels` and importing those not cached;
/// `runtime`, the runtime directory behind the artifact, goes behind the wheels too.
pub fn from_wheels(
    modules: &[String],
    manifest: &ArtifactManifest,
    layers: &[ArtifactManifest],
    runtime: Option<&Path>,
    scratch: &Path,
    tools: &super::Tools<'_>,
) -> Result<BTreeMap<String, FromWheels>, VerifyError> {
    let (python, cache, target) = (tools.python, tools.cache, tools.target);
    let (_, version) = crate::slim::bytecode::python_version(python)
        .map_err(|e| VerifyError::Io(e.to_string()))?;
    let version = version.lines().next().unwrap_or("").to_string();
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for m in modules {
        let k = key(manifest, layers, &version, runtime.is_some(), m);
        match cache
            .read_record("verify-v1", &k)
            .and_then(|b| serde_json::from_slice::<FromWheels>(&b).ok())
        {
            Some(r) => {
                out.insert(m.clone(), r);
            }
            None => missing.push(m.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let tree = scratch.join("wheels");
    install(manifest, layers, cache, target, &tree)?;
    let mut paths = vec![tree.display().to_string()];
    paths.extend(runtime.map(|p| p.display().to_string()));
    let results = super::importer::import_all(
        python,
        scratch,
        &paths,
        &missing,
        super::importer::MODULE_TIMEOUT,
        &|| {},
    );
    set_readonly(&tree, false);
    for (m, r) in missing.iter().zip(results?) {
        let r = FromWheels {
            ok: r.ok,
            error: r.error,
        };
        let k = key(manifest, layers, &version, runtime.is_some(), m);
        if let Ok(bytes) = serde_json::to_vec(&r) {
            // A result not cached is computed again next time: nothing to report.
            let _ = cache.write_record("verify-v1", &k, &bytes);
        }
        out.insert(m.clone(), r);
    }
    Ok(out)
}

/// `No module named 'x.y'` → `x.y`.
pub fn missing_module(error: &str) -> Option<&str> {
    let rest = error.split("No module named '").nth(1)?;
    rest.split('\'').next().filter(|s| !s.is_empty())
}

/// How a distribution declares the distribution a missing module belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    /// Under an extra: `(extra, requirement name)`.
    Extra(String, String),
    /// Without one: the `Requires-Dist` value (the lock lacks a dependency it needs).
    Required(String),
}

/// How a distribution's wheel (its `Requires-Dist` lines) declares the distribution named like
/// `module`: under an extra (the one named for it rather than the catch-all `all`), or required.
pub fn declared(wheel: &Path, filename: &str, module: &str) -> Option<Declared> {
    let w = Wheel::open(wheel, filename).ok()?;
    let dir = w.dist_info_dir()?;
    let meta = format!("{dir}/METADATA");
    let entry = w.entries.iter().find(|e| e.path.as_str() == meta)?;
    let text = String::from_utf8_lossy(&w.read_entry(entry.index).ok()?).into_owned();
    declared_in(&text, module)
}

fn declared_in(metadata: &str, module: &str) -> Option<Declared> {
    let want = normalize_name(module);
    let mut found: Option<Declared> = None;
    for (k, v) in crate::wheel::integrity::parse_headers(metadata) {
        if !k.eq_ignore_ascii_case("Requires-Dist") {
            continue;
        }
        let (req, marker) = v.split_once(';').unwrap_or((&v, ""));
        let name: String = req
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if normalize_name(&name) != want {
            continue;
        }
        let extra = marker.split("extra").nth(1).and_then(|rest| {
            let rest = rest.trim_start().strip_prefix("==")?.trim_start();
            let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
            rest[1..].split(quote).next().map(str::to_string)
        });
        match extra {
            None => return Some(Declared::Required(v.trim().to_string())),
            Some(extra) => {
                if matches!(&found, None | Some(Declared::Extra(..)))
                    && !matches!(&found, Some(Declared::Extra(e, _)) if e != "all")
                {
                    found = Some(Declared::Extra(extra, name));
                }
            }
        }
    }
    found
}

/// The warning for a module that fails from the wheels too.
pub fn pre_existing_message(
    module: &str,
    dist: &str,
    version: Option<&str>,
    error: &str,
    declared: Option<Declared>,
) -> String {
    let from = match version {
        Some(v) => format!("{dist} {v}"),
        None => dist.to_string(),
    };
    let shown = error.strip_prefix("ModuleNotFoundError: ").unwrap_or(error);
    let why = match (missing_module(error), declared) {
        (Some(m), Some(Declared::Extra(extra, req))) => {
            format!("`{m}` is an optional dependency ({dist}[{extra}] installs {req})")
        }
        (Some(m), Some(Declared::Required(req))) => format!(
            "{dist} requires `{m}` (Requires-Dist: {req}) but the lock does not hold it: add it to your requirements, or let lpack resolve them (`lpack lock`)"
        ),
        (Some(_), None) => "an optional dependency".to_string(),
        (None, _) => "it fails the same way from the wheels".to_string(),
    };
    format!(
        "{module} (from {from}) cannot import even from the unmodified wheels: {shown} — {why}; not lpack's doing"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_missing_dependency() {
        assert_eq!(
            missing_module("ModuleNotFoundError: No module named 'adbc_driver_manager'"),
            Some("adbc_driver_manager")
        );
        assert_eq!(missing_module("ImportError: libfoo.so"), None);
        assert_eq!(
            pre_existing_message(
                "adbc_driver_duckdb",
                "duckdb",
                Some("1.3.2"),
                "ModuleNotFoundError: No module named 'adbc_driver_manager'",
                None
            ),
            "adbc_driver_duckdb (from duckdb 1.3.2) cannot import even from the unmodified wheels: No module named 'adbc_driver_manager' — an optional dependency; not lpack's doing"
        );
        let m = pre_existing_message(
            "_hypothesis_pytestplugin",
            "hypothesis",
            None,
            "ModuleNotFoundError: No module named 'pytest'",
            Some(Declared::Extra("pytest".into(), "pytest".into())),
        );
        assert!(m.contains("hypothesis[pytest] installs pytest"), "{m}");
        let meta = "Name: x\nRequires-Dist: pytest; extra == \"all\"\nRequires-Dist: pytest>=7; extra == 'pytest'\nRequires-Dist: tiny-dep>=1.0\n";
        assert_eq!(
            declared_in(meta, "pytest"),
            Some(Declared::Extra("pytest".into(), "pytest".into()))
        );
        assert_eq!(
            declared_in(meta, "tiny_dep"),
            Some(Declared::Required("tiny-dep>=1.0".into()))
        );
        assert_eq!(declared_in(meta, "other"), None);
    }
}
