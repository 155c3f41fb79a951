//! ABI audit: will every ELF file in the bundle load on the target runtime?
//!
//! For each ELF file: its CPU (`e_machine`) must be the target's; every `GLIBC_x.y` symbol version
//! it needs must be at most the runtime's glibc (2.26 on AL2, 2.34 on AL2023); every DT_NEEDED
//! library must be in the bundle (any directory — auditwheel's `*.libs/` included, the loader
//! finds them through RUNPATH `$ORIGIN/…` or LD_LIBRARY_PATH, which holds `/var/task` and
//! `/var/task/lib`) or provided by the runtime (`data/lambda-runtime-libs.toml`, embedded).
//! `GLIBCXX_x.y.z` newer than the runtime's libstdc++ is a warning (many wheels bundle their own).
//!
//! Findings carry a code: A001 wrong architecture, A002 glibc too new, A003 missing library,
//! A004 libstdc++ too new (warning). A file the target's Python cannot import (an extension
//! module built for another Python, e.g. `x.cpython-311-x86_64-linux-gnu.so` on python3.12) is
//! never loaded, so it is not judged.
//!
//! Optional modules: an A002/A003 finding on an extension module that every importer imports
//! under `try/except ImportError` (the import guard's graph says which), or on a library that only
//! such modules load, is a warning that says what will be missing at run time; the package runs
//! without it. A finding on a library that is neither an extension module nor needed by one says
//! that the package loads it itself (ctypes), so the import will fail.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ElfFacts;
use super::elf::{EM_AARCH64, EM_X86_64, glibc_version};
use crate::target::{Arch, Os, Target};

const RUNTIME_LIBS: &str = include_str!("../../data/lambda-runtime-libs.toml");

#[derive(Deserialize)]
struct OsLibs {
    glibcxx: String,
    libs: Vec<String>,
}

#[derive(Deserialize)]
struct RuntimeLibs {
    al2: OsLibs,
    al2023: OsLibs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

fn runtime_libs(os: Os) -> (BTreeSet<String>, Vec<u32>) {
    // The data file is part of the binary and covered by tests; failing to parse it is a bug.
    let all: RuntimeLibs = toml::from_str(RUNTIME_LIBS)
        .unwrap_or_else(|e| panic!("built-in data/lambda-runtime-libs.toml is invalid: {e}"));
    let l = match os {
        Os::AmazonLinux2 => all.al2,
        Os::AmazonLinux2023 => all.al2023,
    };
    let cxx = l
        .glibcxx
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    (l.libs.into_iter().collect(), cxx)
}

fn machine_name(m: u16) -> String {
    match m {
        EM_X86_64 => "x86_64".to_string(),
        EM_AARCH64 => "aarch64".to_string(),
        3 => "i386".to_string(),
        40 => "arm".to_string(),
        other => format!("machine {other}"),
    }
}

/// The audit of a built artifact (`lpack audit`).
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactAudit {
    pub elf_files: usize,
    pub findings: Vec<Finding>,
}

impl ArtifactAudit {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Why an artifact could not be audited.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactAuditError {
    #[error(transparent)]
    Open(#[from] crate::wheel::WheelError),
    #[error("{artifact}: cannot read {what}: {source}")]
    Read {
        artifact: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Audit every ELF file of a zip (function or layer) against `target`. Extension modules that
/// only guarded imports of the zip's own `.py` files load are optional: what they need is a
/// warning.
pub fn audit_artifact(
    artifact: &std::path::Path,
    target: &Target,
) -> Result<ArtifactAudit, ArtifactAuditError> {
    audit_artifact_with(artifact, target, &BTreeSet::new())
}

/// [`audit_artifact`], with `provided`: base names of libraries the function's layers hold
/// (Lambda has `/opt/lib` on `LD_LIBRARY_PATH`), which satisfy DT_NEEDED entries.
pub fn audit_artifact_with(
    artifact: &std::path::Path,
    target: &Target,
    provided: &BTreeSet<String>,
) -> Result<ArtifactAudit, ArtifactAuditError> {
    use std::io::Read;
    let name = artifact.display().to_string();
    let read_err = |what: String, source: std::io::Error| ArtifactAuditError::Read {
        artifact: name.clone(),
        what,
        source,
    };
    let mut archive = crate::wheel::open_archive(artifact, &name)?;
    let mut bundle = provided.clone();
    let mut elfs = Vec::new();
    let mut files: Vec<(String, Option<String>)> = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| read_err(format!("entry {i}"), std::io::Error::other(e)))?;
        let path = String::from_utf8_lossy(f.name_raw()).into_owned();
        if let Some(base) = path.trim_end_matches('/').rsplit('/').next() {
            bundle.insert(base.to_string());
        }
        if path.ends_with(".py") && !f.is_dir() {
            let mut src = Vec::new();
            f.read_to_end(&mut src)
                .map_err(|e| read_err(path.clone(), e))?;
            files.push((path, Some(String::from_utf8_lossy(&src).into_owned())));
            continue;
        }
        if !f.is_dir() && (path.ends_with(".so") || path.ends_with(".pyc")) {
            files.push((path.clone(), None));
        }
        if f.is_dir() || f.size() < 64 {
            continue;
        }
        let mut magic = [0u8; 4];
        if f.read_exact(&mut magic).is_err() || &magic != b"\x7fELF" {
            continue;
        }
        let mut data = magic.to_vec();
        f.read_to_end(&mut data)
            .map_err(|e| read_err(path.clone(), e))?;
        if let Some(facts) = super::elf_facts(&path, &data) {
            elfs.push(facts);
        }
    }
    let optional = super::guard::optional_in(files);
    let findings = audit(&elfs, &bundle, target, &optional);
    Ok(ArtifactAudit {
        elf_files: elfs.len(),
        findings,
    })
}

/// Audit ELF facts against the target. `bundle` holds the base names of every file in the
/// bundle; `optional` the extension modules only guarded imports load (path → a guarded site).
pub fn audit(
    elfs: &[ElfFacts],
    bundle: &BTreeSet<String>,
    target: &Target,
    optional: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let mut out = audit_files(elfs, bundle, target);
    let why = optional_reasons(elfs, optional);
    let needed: BTreeSet<&str> = elfs
        .iter()
        .flat_map(|e| e.needed.iter().map(String::as_str))
        .collect();
    for f in &mut out {
        if !matches!(f.code, "A002" | "A003") {
            continue;
        }
        if let Some(reason) = why.get(&f.path) {
            f.severity = Severity::Warning;
            let fact = f.message.split(HINT).next().unwrap_or("");
            f.message = format!("{fact}; {reason}");
        } else if !is_extension_module(&f.path) {
            let base = f.path.rsplit('/').next().unwrap_or(&f.path);
            let soname = elfs
                .iter()
                .find(|e| e.path == f.path)
                .and_then(|e| e.soname.as_deref());
            if !needed.contains(base) && soname.is_none_or(|s| !needed.contains(s)) {
                f.message = format!(
                    "{}\n      {base} is not an extension module and no bundled library needs it: the package loads it itself (ctypes) when it is imported, so importing it fails on {}",
                    f.message, target.runtime
                );
            }
        }
    }
    for f in &mut out {
        f.message = f.message.replace(HINT, "");
    }
    out.sort_by(|a, b| (a.severity, &a.path, a.code).cmp(&(b.severity, &b.path, b.code)));
    out
}

/// `_x.cpython-312-x86_64-linux-gnu.so` / `_x.abi3.so`: a file named as CPython names
/// extension modules.
fn is_extension_module(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.ends_with(".so") && (base.contains(".cpython-") || base.contains(".abi3."))
}

/// Why each optional ELF file is optional: extension modules from the guard, then (to a fixed
/// point) libraries that only optional files need.
fn optional_reasons(
    elfs: &[ElfFacts],
    optional: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut why: BTreeMap<String, String> = BTreeMap::new();
    for (path, site) in optional {
        let module = super::imports::module_name(path).unwrap_or_else(|| path.clone());
        let package = module.split('.').next().unwrap_or(&module).to_string();
        why.insert(
            path.clone(),
            format!("{module} is imported only under try/except ImportError ({site}), so {package} runs without it (what it adds is missing at run time)"),
        );
    }
    loop {
        let mut added = false;
        for e in elfs {
            if why.contains_key(&e.path) {
                continue;
            }
            let base = e.path.rsplit('/').next().unwrap_or(&e.path);
            let needers: Vec<&ElfFacts> = elfs
                .iter()
                .filter(|g| {
                    g.needed
                        .iter()
                        .any(|n| n == base || Some(n.as_str()) == e.soname.as_deref())
                })
                .collect();
            if !needers.is_empty() && needers.iter().all(|g| why.contains_key(&g.path)) {
                let by: Vec<&str> = needers.iter().map(|g| g.path.as_str()).collect();
                why.insert(
                    e.path.clone(),
                    format!(
                        "only optional modules load it ({}), so the package runs without it",
                        by.join(", ")
                    ),
                );
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    why
}

/// Where a finding's message ends and its advice (dropped for optional modules) begins.
const HINT: &str = "\u{1f}";

fn audit_files(elfs: &[ElfFacts], bundle: &BTreeSet<String>, target: &Target) -> Vec<Finding> {
    let (provided, max_cxx) = runtime_libs(target.runtime.os());
    let want = match target.arch {
        Arch::X86_64 => EM_X86_64,
        Arch::Arm64 => EM_AARCH64,
    };
    let (gmaj, gmin) = target.glibc();
    let mut out = Vec::new();
    // A file the target's Python cannot import (an extension module for another Python) is
    // never loaded: nothing it needs matters.
    for e in elfs.iter().filter(|e| target.imports_extension(&e.path)) {
        if e.machine != want {
            out.push(Finding {
                severity: Severity::Error,
                code: "A001",
                path: e.path.clone(),
                message: format!(
                    "built for {}, but the target runs {}",
                    machine_name(e.machine),
                    target.arch.machine()
                ),
            });
            continue;
        }
        let mut worst: Option<((u32, u32), String)> = None;
        let mut worst_cxx: Option<(Vec<u32>, String)> = None;
        for (_file, versions) in &e.version_needs {
            for v in versions {
                if let Some(gv) = glibc_version(v)
                    && worst.as_ref().is_none_or(|w| gv > w.0)
                {
                    worst = Some((gv, v.clone()));
                }
                if let Some(rest) = v.strip_prefix("GLIBCXX_") {
                    let parts: Vec<u32> = rest.split('.').filter_map(|p| p.parse().ok()).collect();
                    if worst_cxx.as_ref().is_none_or(|w| parts > w.0) {
                        worst_cxx = Some((parts, v.clone()));
                    }
                }
            }
        }
        if let Some((gv, name)) = worst
            && gv > (gmaj, gmin)
        {
            out.push(Finding {
                severity: Severity::Error,
                code: "A002",
                path: e.path.clone(),
                message: format!(
                    "needs {name}, but {} has glibc {gmaj}.{gmin}{HINT}: the import will fail with \"version `{name}' not found\"; use a wheel built for manylinux_2_{gmin} or older, or a newer runtime",
                    target.runtime
                ),
            });
        }
        if let Some((cv, name)) = worst_cxx
            && !e.needed.iter().all(|n| n != "libstdc++.so.6")
            && !bundle.contains("libstdc++.so.6")
            && cv > max_cxx
        {
            out.push(Finding {
                severity: Severity::Warning,
                code: "A004",
                path: e.path.clone(),
                message: format!(
                    "needs {name}, newer than the runtime's libstdc++ (GLIBCXX_{})",
                    max_cxx
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(".")
                ),
            });
        }
        for n in &e.needed {
            if n.is_empty() {
                // glibc's loader matches an empty name to the program itself: it loads.
                out.push(Finding {
                    severity: Severity::Warning,
                    code: "A003",
                    path: e.path.clone(),
                    message: "has an empty DT_NEEDED entry (a needed library without a name); the loader matches it to the program itself, so the file loads, but it was built or patched unusually".to_string(),
                });
                continue;
            }
            if !bundle.contains(n) && !provided.contains(n) {
                out.push(Finding {
                    severity: Severity::Error,
                    code: "A003",
                    path: e.path.clone(),
                    message: format!(
                        "needs {n}, which is neither in the bundle nor provided by the {} runtime{HINT}; bundle it (e.g. `auditwheel repair` puts it in a .libs directory)",
                        target.runtime
                    ),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Runtime;

    fn facts(machine: u16, needed: &[&str], versions: &[&str]) -> ElfFacts {
        ElfFacts {
            path: "pkg/_x.so".into(),
            machine,
            needed: needed.iter().map(|s| s.to_string()).collect(),
            soname: None,
            runpath: vec![],
            version_needs: vec![(
                "libc.so.6".into(),
                versions.iter().map(|s| s.to_string()).collect(),
            )],
        }
    }

    #[test]
    fn data_parses() {
        let (libs, cxx) = runtime_libs(Os::AmazonLinux2);
        assert!(libs.contains("libc.so.6"));
        assert_eq!(cxx, vec![3, 4, 24]);
    }

    #[test]
    fn findings() {
        let t311 = Target::new(Runtime::Python311, Arch::X86_64);
        let bundle: BTreeSet<String> = ["libfoo.so.1".to_string()].into();
        let none = BTreeMap::new();
        let ok = facts(
            EM_X86_64,
            &["libc.so.6", "libfoo.so.1"],
            &["GLIBC_2.17", "GLIBC_2.2.5"],
        );
        assert!(audit(&[ok], &bundle, &t311, &none).is_empty());
        let new = facts(EM_X86_64, &["libc.so.6"], &["GLIBC_2.28"]);
        let f = audit(std::slice::from_ref(&new), &bundle, &t311, &none);
        assert_eq!(f[0].code, "A002");
        assert!(f[0].message.contains("GLIBC_2.28"));
        let t312 = Target::new(Runtime::Python312, Arch::X86_64);
        assert!(audit(&[new], &bundle, &t312, &none).is_empty());
        let missing = facts(EM_X86_64, &["libgfortran.so.5"], &[]);
        assert_eq!(audit(&[missing], &bundle, &t312, &none)[0].code, "A003");
        let arm = facts(EM_AARCH64, &[], &[]);
        assert_eq!(audit(&[arm], &bundle, &t312, &none)[0].code, "A001");
    }

    #[test]
    fn files_the_target_cannot_import_are_not_judged() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let bundle = BTreeSet::new();
        let at = |path: &str| ElfFacts {
            path: path.into(),
            ..facts(EM_X86_64, &["libgfortran.so.5"], &[])
        };
        let f = audit(
            &[
                at("q/qcmatrixio.cpython-37m-x86_64-linux-gnu.so"),
                at("q/qcmatrixio.cpython-311-x86_64-linux-gnu.so"),
                at("q/qcmatrixio.cpython-312-x86_64-linux-gnu.so"),
            ],
            &bundle,
            &t,
            &BTreeMap::new(),
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "q/qcmatrixio.cpython-312-x86_64-linux-gnu.so");
    }

    #[test]
    fn an_empty_needed_name_reads_sensibly() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let f = audit(
            &[facts(EM_X86_64, &["", "libc.so.6"], &[])],
            &BTreeSet::new(),
            &t,
            &BTreeMap::new(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(!f[0].message.contains("needs ,"), "{}", f[0].message);
        assert!(f[0].message.contains("empty DT_NEEDED"), "{}", f[0].message);
    }

    #[test]
    fn optional_modules_warn() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let bundle: BTreeSet<String> = ["libhelper.so".to_string()].into();
        let ext = |path: &str, needed: &[&str]| ElfFacts {
            path: path.into(),
            needed: needed.iter().map(|s| s.to_string()).collect(),
            ..facts(EM_X86_64, &[], &[])
        };
        let omp = ext(
            "numba/np/ufunc/omppool.cpython-312-x86_64-linux-gnu.so",
            &["libhelper.so"],
        );
        let helper = ext("numba/libhelper.so", &["libgomp.so.1"]);
        let lgbm = ext("lightgbm/lib/lib_lightgbm.so", &["libgomp.so.1"]);
        let optional: BTreeMap<String, String> =
            [(omp.path.clone(), "numba/np/ufunc/parallel.py:3".to_string())].into();
        let f = audit(&[omp, helper, lgbm], &bundle, &t, &optional);
        let helper_f = f
            .iter()
            .find(|f| f.path == "numba/libhelper.so")
            .expect("helper");
        assert_eq!(helper_f.severity, Severity::Warning, "{helper_f:?}");
        assert!(helper_f.message.contains("only optional modules load it"));
        let l = f
            .iter()
            .find(|f| f.path.starts_with("lightgbm"))
            .expect("lgbm");
        assert_eq!(l.severity, Severity::Error);
        assert!(l.message.contains("ctypes"), "{}", l.message);
        // Unguarded: the same module stays an error.
        let omp2 = ext(
            "numba/np/ufunc/omppool.cpython-312-x86_64-linux-gnu.so",
            &["libgomp.so.1"],
        );
        let f = audit(std::slice::from_ref(&omp2), &bundle, &t, &BTreeMap::new());
        assert_eq!(f[0].severity, Severity::Error);
        let f = audit(
            &[omp2],
            &bundle,
            &t,
            &[(
                "numba/np/ufunc/omppool.cpython-312-x86_64-linux-gnu.so".to_string(),
                "numba/np/ufunc/parallel.py:3".to_string(),
            )]
            .into(),
        );
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("numba.np.ufunc.omppool is imported only under try/except ImportError (numba/np/ufunc/parallel.py:3)"), "{}", f[0].message);
    }
}
