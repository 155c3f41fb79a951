//! Attribution: which removed file, and which rule, is behind an import failure?
//!
//! An import error names what was missing — `No module named 'numpy._core.tests'`,
//! `cannot import name 'x' from 'a.b'`, `libfoo.so.1: cannot open shared object file` — and its
//! traceback shows the source line that asked for it. Both are matched against the files the
//! manifests say were dropped, in every distribution (the file behind a failing
//! `import sklearn` is often numpy's), so a report names the file and the rule rather than the
//! distribution whose import happened to fail.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::artifact::{Action, ArtifactManifest};
use crate::slim::imports::module_name;

/// A dropped file the failure points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Culprit {
    /// Installed path (`numpy/_core/tests/_natype.py`).
    pub path: String,
    /// Distribution it belonged to.
    pub package: String,
    /// The rule that removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl std::fmt::Display for Culprit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) dropped by {}",
            self.path,
            self.package,
            self.rule.as_deref().unwrap_or("an unnamed rule")
        )
    }
}

struct DroppedFile {
    path: String,
    package: String,
    rule: Option<String>,
    module: Option<String>,
    base: String,
}

/// The dropped files of one or more manifests, indexed for attribution.
pub struct Dropped {
    files: Vec<DroppedFile>,
}

impl Dropped {
    pub fn index(manifests: &[&ArtifactManifest]) -> Dropped {
        let mut files = Vec::new();
        for m in manifests {
            for f in &m.files {
                if f.action != Action::Drop {
                    continue;
                }
                let path = m.installed_path(&f.path).to_string();
                files.push(DroppedFile {
                    module: module_name(&path),
                    base: path.rsplit('/').next().unwrap_or(&path).to_string(),
                    path,
                    package: f.package.clone(),
                    rule: f.rule.clone(),
                });
            }
        }
        Dropped { files }
    }

    /// The dropped files an error message and traceback point at, best match first (at most 3).
    pub fn culprits(&self, text: &str) -> Vec<Culprit> {
        // (rank, index into files): lower rank = better match.
        let mut ranked: Vec<(u8, usize)> = Vec::new();
        fn add(ranked: &mut Vec<(u8, usize)>, rank: u8, i: usize) {
            match ranked.iter_mut().find(|(_, j)| *j == i) {
                Some(r) => r.0 = r.0.min(rank),
                None => ranked.push((rank, i)),
            }
        }
        let mentioned: BTreeSet<&str> = words(text).collect();
        for missing in quoted_after(text, "No module named ") {
            let under = format!("{missing}.");
            for (i, f) in self.files.iter().enumerate() {
                let Some(m) = f.module.as_deref() else {
                    continue;
                };
                if m == missing {
                    add(&mut ranked, 1, i);
                } else if m.starts_with(&under) && mentioned.contains(m) {
                    // `from numpy._core.tests._natype import …` fails at the package but the
                    // source line names the module that was wanted.
                    add(&mut ranked, 0, i);
                }
            }
        }
        for (name, from) in cannot_import(text) {
            let want = format!("{from}.{name}");
            for (i, f) in self.files.iter().enumerate() {
                if f.module.as_deref() == Some(want.as_str()) {
                    add(&mut ranked, 0, i);
                }
            }
        }
        for lib in text
            .split(|c: char| c.is_whitespace() || matches!(c, ':' | '\'' | '"' | '(' | ')' | ','))
            .filter(|w| w.ends_with(".so") || w.contains(".so."))
        {
            let base = lib.rsplit('/').next().unwrap_or(lib);
            for (i, f) in self.files.iter().enumerate() {
                if f.base == base {
                    add(&mut ranked, 1, i);
                }
            }
        }
        if ranked.is_empty() {
            // Anything dropped that the text names by module or path.
            for (i, f) in self.files.iter().enumerate() {
                if f.module.as_deref().is_some_and(|m| mentioned.contains(m))
                    || text.contains(&f.path)
                {
                    add(&mut ranked, 2, i);
                }
            }
        }
        ranked.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(self.files[a.1].path.cmp(&self.files[b.1].path))
        });
        ranked
            .into_iter()
            .take(3)
            .map(|(_, i)| Culprit {
                path: self.files[i].path.clone(),
                package: self.files[i].package.clone(),
                rule: self.files[i].rule.clone(),
            })
            .collect()
    }
}

/// Dotted names in a text (`numpy._core.tests._natype`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
}

/// `No module named 'x.y'` → `x.y` (every occurrence).
fn quoted_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let q = rest.chars().next();
        if let Some(q @ ('\'' | '"')) = q
            && let Some(end) = rest[1..].find(q)
        {
            out.push(&rest[1..1 + end]);
        }
    }
    out
}

/// `cannot import name 'x' from 'a.b'` → `(x, a.b)`.
fn cannot_import(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for name in quoted_after(text, "cannot import name ") {
        // `… from 'a.b'`, or, inside a package's own `__init__` (`from . import x`),
        // `… from partially initialized module 'a.b'`.
        for marker in [
            format!("cannot import name '{name}' from "),
            format!("cannot import name '{name}' from partially initialized module "),
        ] {
            if let Some(from) = quoted_after(text, &marker).into_iter().next() {
                out.push((name, from));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::FileRecord;

    fn manifest(files: &[(&str, &str, Action, Option<&str>)]) -> ArtifactManifest {
        let mut m: ArtifactManifest = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "lpack_version": "0", "kind": "function-zip",
            "target": {"runtime": "python3.11", "arch": "x86_64", "python_tag": "cp311",
                       "glibc": "2.26", "os": "al2"},
            "inputs_sha256": "", "requirements": "", "source_date_epoch": 0,
            "artifact": {"file": "a.zip", "sha256": "", "size": 0, "unzipped_size": 0, "entries": 0},
            "packages": [], "skipped_requirements": [], "warnings": [], "files": []
        }))
        .expect("manifest");
        m.files = files
            .iter()
            .map(|(p, pkg, a, r)| FileRecord {
                path: p.to_string(),
                package: pkg.to_string(),
                original_size: 1,
                size: 0,
                compressed_size: 0,
                action: *a,
                rule: r.map(str::to_string),
                note: None,
            })
            .collect();
        m
    }

    #[test]
    fn names_the_numpy_file_not_sklearn() {
        let m = manifest(&[
            (
                "numpy/_core/tests/__init__.py",
                "numpy",
                Action::Drop,
                Some("common.tests"),
            ),
            (
                "numpy/_core/tests/_natype.py",
                "numpy",
                Action::Drop,
                Some("common.tests"),
            ),
            (
                "numpy/_core/tests/test_x.py",
                "numpy",
                Action::Drop,
                Some("common.tests"),
            ),
            (
                "sklearn/tests/x.py",
                "scikit-learn",
                Action::Drop,
                Some("common.tests"),
            ),
            ("sklearn/__init__.py", "scikit-learn", Action::Keep, None),
        ]);
        let idx = Dropped::index(&[&m]);
        let text = "ModuleNotFoundError: No module named 'numpy._core.tests'\nTraceback:\n  File \"/t/numpy/testing/_private/utils.py\", line 31, in <module>\n    from numpy._core.tests._natype import pd_NA\n";
        let c = idx.culprits(text);
        assert_eq!(c[0].path, "numpy/_core/tests/_natype.py");
        assert_eq!(c[0].rule.as_deref(), Some("common.tests"));
        assert_eq!(c[1].path, "numpy/_core/tests/__init__.py");
        assert_eq!(c.len(), 2, "{c:?}");
    }

    #[test]
    fn libraries_and_names() {
        let m = manifest(&[
            (
                "pkg/libs/libfoo.so.1",
                "pkg",
                Action::Drop,
                Some("cli.drop-1"),
            ),
            ("pkg/sub/helper.py", "pkg", Action::Drop, Some("x.y")),
        ]);
        let idx = Dropped::index(&[&m]);
        let c = idx.culprits(
            "ImportError: libfoo.so.1: cannot open shared object file: No such file or directory",
        );
        assert_eq!(c[0].path, "pkg/libs/libfoo.so.1");
        let c = idx.culprits(
            "ImportError: cannot import name 'helper' from 'pkg.sub' (/t/pkg/sub/__init__.py)",
        );
        assert_eq!(c[0].path, "pkg/sub/helper.py");
        // `from . import helper` in pkg/sub/__init__.py itself.
        let c = idx.culprits(
            "ImportError: cannot import name 'helper' from partially initialized module 'pkg.sub' (most likely due to a circular import) (/t/pkg/sub/__init__.py)",
        );
        assert_eq!(c[0].path, "pkg/sub/helper.py");
        assert!(
            idx.culprits("ValueError: nothing to do with files")
                .is_empty()
        );
    }
}
