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
//! A004 libstdc++ too new (warning).

use std::collections::BTreeSet;

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

/// Audit ELF facts against the target. `bundle` holds the base names of every file in the bundle.
pub fn audit(elfs: &[ElfFacts], bundle: &BTreeSet<String>, target: &Target) -> Vec<Finding> {
    let (provided, max_cxx) = runtime_libs(target.runtime.os());
    let want = match target.arch {
        Arch::X86_64 => EM_X86_64,
        Arch::Arm64 => EM_AARCH64,
    };
    let (gmaj, gmin) = target.glibc();
    let mut out = Vec::new();
    for e in elfs {
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
                    "needs {name}, but {} has glibc {gmaj}.{gmin}: the import will fail with \"version `{name}' not found\"; use a wheel built for manylinux_2_{gmin} or older, or a newer runtime",
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
            if !bundle.contains(n) && !provided.contains(n) {
                out.push(Finding {
                    severity: Severity::Error,
                    code: "A003",
                    path: e.path.clone(),
                    message: format!(
                        "needs {n}, which is neither in the bundle nor provided by the {} runtime; bundle it (e.g. `auditwheel repair` puts it in a .libs directory)",
                        target.runtime
                    ),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.severity, &a.path, a.code).cmp(&(b.severity, &b.path, b.code)));
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
        let ok = facts(
            EM_X86_64,
            &["libc.so.6", "libfoo.so.1"],
            &["GLIBC_2.17", "GLIBC_2.2.5"],
        );
        assert!(audit(&[ok], &bundle, &t311).is_empty());
        let new = facts(EM_X86_64, &["libc.so.6"], &["GLIBC_2.28"]);
        let f = audit(std::slice::from_ref(&new), &bundle, &t311);
        assert_eq!(f[0].code, "A002");
        assert!(f[0].message.contains("GLIBC_2.28"));
        let t312 = Target::new(Runtime::Python312, Arch::X86_64);
        assert!(audit(&[new], &bundle, &t312).is_empty());
        let missing = facts(EM_X86_64, &["libgfortran.so.5"], &[]);
        assert_eq!(audit(&[missing], &bundle, &t312)[0].code, "A003");
        let arm = facts(EM_AARCH64, &[], &[]);
        assert_eq!(audit(&[arm], &bundle, &t312)[0].code, "A001");
    }
}
