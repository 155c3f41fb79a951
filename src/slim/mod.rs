//! Slim: decide, per wheel entry, what reaches the artifact and why.
//!
//! Every entry gets a [`Verdict`] that names the rule which decided it, so the manifest (and
//! later `lpack explain` and the size report) can say why a byte is there or gone. The
//! foundation ships the rules every build needs and that never break an import:
//!
//! - `wheel.install-scheme`: `*.data/scripts/` and `*.data/headers/` are not installed into a
//!   Lambda bundle (console scripts cannot run there; headers are for compilers);
//!   `*.data/purelib|platlib|data/` are installed at the root, as `pip install --target` does.
//! - `bytecode.other-python`: `__pycache__/*.cpython-3XY.pyc` compiled for another Python than
//!   the target is dead weight (the runtime ignores it).
//!
//! Data-driven recipes (`recipes/*.toml`), ELF stripping, bytecode compilation and the ABI audit
//! extend this module; their verdicts use the same type.

pub mod elf;
pub mod strip;

use crate::target::Target;
use crate::wheel::ArchivePath;

/// What happens to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Copied unchanged to the given installed path.
    Keep(ArchivePath),
    /// Left out, by the named rule.
    Drop { rule: &'static str },
}

/// Map a wheel entry path to where it is installed, or the rule that leaves it out.
///
/// `data_dir` is the wheel's `name-version.data` directory name, if any.
pub fn plan_entry(path: &ArchivePath, data_dir: Option<&str>, target: &Target) -> Verdict {
    let mut installed = path.clone();
    if let Some(data_dir) = data_dir
        && let Some(rest) = path
            .as_str()
            .strip_prefix(data_dir)
            .and_then(|r| r.strip_prefix('/'))
    {
        let (scheme, inner) = rest.split_once('/').unwrap_or((rest, ""));
        match scheme {
            "purelib" | "platlib" | "data" if !inner.is_empty() => match ArchivePath::new(inner) {
                Ok(p) => installed = p,
                Err(_) => {
                    return Verdict::Drop {
                        rule: "wheel.install-scheme",
                    };
                }
            },
            _ => {
                return Verdict::Drop {
                    rule: "wheel.install-scheme",
                };
            }
        }
    }
    if is_foreign_bytecode(installed.as_str(), &target.bytecode_tag()) {
        return Verdict::Drop {
            rule: "bytecode.other-python",
        };
    }
    Verdict::Keep(installed)
}

/// `…/__pycache__/mod.cpython-311.pyc` when the target loads `cpython-312`.
fn is_foreign_bytecode(path: &str, tag: &str) -> bool {
    let mut parts = path.rsplit('/');
    let (Some(file), Some(dir)) = (parts.next(), parts.next()) else {
        return false;
    };
    if dir != "__pycache__" || !file.ends_with(".pyc") {
        return false;
    }
    // mod.cpython-312.pyc, mod.cpython-312.opt-1.pyc
    let stem = &file[..file.len() - 4];
    match stem.split('.').nth(1) {
        Some(t) => t != tag,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    fn p(s: &str) -> ArchivePath {
        ArchivePath::new(s).expect("path")
    }

    #[test]
    fn data_scheme_mapping() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let dd = Some("pkg-1.0.data");
        assert_eq!(
            plan_entry(&p("pkg-1.0.data/purelib/pkg/x.py"), dd, &t),
            Verdict::Keep(p("pkg/x.py"))
        );
        assert_eq!(
            plan_entry(&p("pkg-1.0.data/platlib/pkg/_x.so"), dd, &t),
            Verdict::Keep(p("pkg/_x.so"))
        );
        assert_eq!(
            plan_entry(&p("pkg-1.0.data/scripts/tool"), dd, &t),
            Verdict::Drop {
                rule: "wheel.install-scheme"
            }
        );
        assert_eq!(
            plan_entry(&p("pkg/x.py"), dd, &t),
            Verdict::Keep(p("pkg/x.py"))
        );
    }

    #[test]
    fn foreign_bytecode() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        assert_eq!(
            plan_entry(&p("pkg/__pycache__/x.cpython-311.pyc"), None, &t),
            Verdict::Drop {
                rule: "bytecode.other-python"
            }
        );
        assert_eq!(
            plan_entry(&p("pkg/__pycache__/x.cpython-312.opt-1.pyc"), None, &t),
            Verdict::Keep(p("pkg/__pycache__/x.cpython-312.opt-1.pyc"))
        );
        assert_eq!(
            plan_entry(&p("pkg/x.pyc"), None, &t),
            Verdict::Keep(p("pkg/x.pyc"))
        );
    }
}
