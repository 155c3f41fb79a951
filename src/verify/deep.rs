//! Deep verify: does every module that imports from the wheels still import from the artifact?
//!
//! The unslimmed wheels (from the cache, by sha256) are installed into a reference tree as pip
//! would; the artifact is laid out as Lambda would ([`super::lay_out`]). Both are read-only and,
//! for builds that leave the runtime-provided packages out, have the same runtime directory
//! behind them. An interpreter of the target version then imports every module of every
//! distribution in each tree — one process per tree, running side by side, each module in turn,
//! its output silenced — and the two results are compared. Only *regressions* are reported:
//! modules that import from the wheels but not from the artifact, each traced to the dropped file
//! and rule behind it ([`super::attribute`]). Modules that fail in both (a missing optional
//! dependency, a test helper needing pytest) are counted as pre-existing.
//!
//! A module that crashes the interpreter or hangs past the timeout is recorded as such, and the
//! walk resumes in a fresh process with the next module: nothing hangs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::attribute::{Culprit, Dropped};
use super::error::VerifyError;
use super::importer::{MODULE_TIMEOUT, Outcome, import_all};
use super::{Layout, Tools, lay_out};
use crate::artifact::{Action, ArtifactManifest};
use crate::progress::Phase;
use crate::slim::imports::module_name;

/// One module that imports from the wheels but not from the artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Regression {
    pub dist: String,
    pub module: String,
    pub error: String,
    /// Dropped files the failure points at, with the rules that removed them.
    pub culprits: Vec<Culprit>,
}

/// A module that fails from the wheels too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreExisting {
    pub dist: String,
    pub module: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeepReport {
    pub python: String,
    pub runtime_provided: bool,
    /// Modules tried (in each tree).
    pub modules: usize,
    /// Modules that import from both.
    pub ok: usize,
    pub regressions: Vec<Regression>,
    pub pre_existing: Vec<PreExisting>,
}

impl DeepReport {
    pub fn ok(&self) -> bool {
        self.regressions.is_empty()
    }
}

/// Modules to import: every module of every distribution that the artifact ships (a module a
/// rule dropped on purpose is not a regression; one that kept code needs shows up as the kept
/// module's failure), except `__main__` modules (running them runs a program).
fn modules_of(shipped: &BTreeMap<String, Vec<String>>) -> Vec<(String, String)> {
    let mut out = BTreeSet::new();
    for (dist, paths) in shipped {
        for p in paths {
            if let Some(m) = module_name(p)
                && !m.split('.').any(|part| part == "__main__")
            {
                out.insert((m, dist.clone()));
            }
        }
    }
    out.into_iter().map(|(m, d)| (d, m)).collect()
}

/// Deep-verify an artifact against the wheels it was built from.
pub fn deep_verify(
    artifact: &Path,
    manifest: &ArtifactManifest,
    tools: &Tools<'_>,
) -> Result<DeepReport, VerifyError> {
    let Tools {
        target,
        python,
        cache,
        reporter,
        ..
    } = *tools;
    // The tree twice: the artifact and the wheels it came from.
    let tmp = super::unpack::scratch(2 * super::laid_out_size(artifact, manifest))?;
    let Layout {
        paths,
        layers,
        runtime,
        ..
    } = lay_out(artifact, manifest, tmp.path(), tools)?;

    // The reference: every wheel as published, installed as pip would.
    let reference = tmp.path().join("wheels");
    let installed = super::reference::install(manifest, &layers, cache, target, &reference)?;
    let mut ref_paths = vec![reference.display().to_string()];
    // The same runtime directory behind both trees.
    ref_paths.extend(runtime.iter().map(|p| p.display().to_string()));

    let shipped = shipped_files(manifest, &layers, &installed);
    let pairs = modules_of(&shipped);
    let modules: Vec<String> = pairs.iter().map(|(_, m)| m.clone()).collect();
    reporter.start(Phase::Verify, 2 * modules.len() as u64);
    let tick = || reporter.advance(Phase::Verify, 1);
    let (from_wheels, from_artifact) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            import_all(
                python,
                tmp.path(),
                &ref_paths,
                &modules,
                MODULE_TIMEOUT,
                &tick,
            )
        });
        let b = import_all(python, tmp.path(), &paths, &modules, MODULE_TIMEOUT, &tick);
        (
            a.join()
                .unwrap_or_else(|_| Err(VerifyError::Io("the reference run panicked".into()))),
            b,
        )
    });
    reporter.finish(Phase::Verify);
    super::unpack::set_dirs_writable(tmp.path());
    let (from_wheels, from_artifact) = (from_wheels?, from_artifact?);

    let mut all = vec![manifest];
    all.extend(layers.iter());
    let index = Dropped::index(&all);
    let mut report = DeepReport {
        python: super::describe_python(python)?,
        runtime_provided: runtime.is_some(),
        modules: modules.len(),
        ok: 0,
        regressions: Vec::new(),
        pre_existing: Vec::new(),
    };
    judge(&mut report, &pairs, &from_wheels, &from_artifact, &index);
    Ok(report)
}

/// The installed paths each reference wheel ships in the artifact or its layers.
fn shipped_files(
    manifest: &ArtifactManifest,
    layers: &[ArtifactManifest],
    installed: &BTreeSet<String>,
) -> BTreeMap<String, Vec<String>> {
    let mut shipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in std::iter::once(manifest).chain(layers.iter()) {
        for f in &m.files {
            if f.action != Action::Drop
                && f.package != crate::emit::zip::SRC_PACKAGE
                && installed.contains(&f.package)
            {
                let path = m.installed_path(&f.path);
                shipped
                    .entry(f.package.clone())
                    .or_default()
                    .push(path.to_string());
            }
        }
    }
    shipped
}

/// Count the modules that import from both trees; record regressions and pre-existing failures.
fn judge(
    report: &mut DeepReport,
    pairs: &[(String, String)],
    from_wheels: &[Outcome],
    from_artifact: &[Outcome],
    index: &Dropped,
) {
    for (i, (dist, module)) in pairs.iter().enumerate() {
        match (from_wheels[i].ok, &from_artifact[i]) {
            (true, a) if a.ok => report.ok += 1,
            (true, a) => report.regressions.push(Regression {
                dist: dist.clone(),
                module: module.clone(),
                error: a.error.clone(),
                culprits: index.culprits(&format!("{}\n{}", a.error, a.tb)),
            }),
            (false, _) => report.pre_existing.push(PreExisting {
                dist: dist.clone(),
                module: module.clone(),
                error: from_wheels[i].error.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_list_skips_main() {
        let installed: BTreeMap<String, Vec<String>> = [(
            "pkg".to_string(),
            vec![
                "pkg/__init__.py".to_string(),
                "pkg/__main__.py".to_string(),
                "pkg/cli/__main__.py".to_string(),
                "pkg/_x.cpython-312-x86_64-linux-gnu.so".to_string(),
                "pkg/data.json".to_string(),
                "pkg-1.0.dist-info/METADATA".to_string(),
            ],
        )]
        .into();
        let m: Vec<String> = modules_of(&installed).into_iter().map(|(_, m)| m).collect();
        assert_eq!(m, vec!["pkg", "pkg._x"]);
    }
}
