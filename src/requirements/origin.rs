//! Where each package of an input file was written: `name → file:line`, for requirements files
//! (following `-r`), pylock.toml (`[[packages]]`), uv.lock (`[[package]]`) and pyproject.toml
//! (`dependencies` strings).
//!
//! CI annotations point at the line that brought a package in; the readers that pin and resolve
//! keep their own `file:line` locations for errors, this is the same information for a package
//! known only by name after the build (a manifest, an audit finding). A package that no line
//! names (a dependency the resolver added) has no origin here: callers point at the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::wheel::normalize_name;

/// The line of a file that names a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file as reached from the input path (an `-r` include is joined to its parent's
    /// directory).
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

/// Every package an input file names, by normalised name, with the first line that names it.
/// Unreadable files give an empty map: origins only improve messages, they never fail a command.
pub fn package_origins(path: &Path) -> BTreeMap<String, Origin> {
    let mut out = BTreeMap::new();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "uv.lock" {
        toml_tables(path, "[[package]]", &mut out);
    } else if name.starts_with("pylock.") && name.ends_with(".toml") {
        toml_tables(path, "[[packages]]", &mut out);
    } else if name == "pyproject.toml" {
        pyproject(path, &mut out);
    } else {
        requirements(path, &mut out, 0);
    }
    out
}

/// `name = "…"` inside each `header` table of a TOML lock file.
fn toml_tables(path: &Path, header: &str, out: &mut BTreeMap<String, Origin>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let mut in_table = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            in_table = line == header;
            continue;
        }
        if !in_table {
            continue;
        }
        if let Some(value) = line
            .strip_prefix("name")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
            .map(|r| r.trim().trim_matches('"').trim_matches('\''))
        {
            out.entry(normalize_name(value)).or_insert(Origin {
                file: path.to_path_buf(),
                line: i + 1,
            });
            in_table = false;
        }
    }
}

/// Requirement strings (`"numpy>=2"`) in pyproject.toml: dependencies, optional dependencies
/// and dependency groups.
fn pyproject(path: &Path, out: &mut BTreeMap<String, Origin>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let mut in_array = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') && !line.starts_with("[\"") {
            in_array = false;
        }
        if let Some((_, rest)) = line.split_once('=')
            && rest.trim_start().starts_with('[')
        {
            in_array = true;
        }
        if !in_array {
            continue;
        }
        for quoted in line.split('"').skip(1).step_by(2) {
            if let Some(name) = leading_name(quoted) {
                out.entry(name).or_insert(Origin {
                    file: path.to_path_buf(),
                    line: i + 1,
                });
            }
        }
        if line.ends_with(']') {
            in_array = false;
        }
    }
}

fn requirements(path: &Path, out: &mut BTreeMap<String, Origin>, depth: usize) {
    // `-r` cycles are the reader's error to report; here they only stop the walk.
    if depth > 16 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let base = path.parent().unwrap_or(Path::new(""));
    for ll in super::logical_lines(&text) {
        let t = ll.text.trim();
        if let Some(rest) = t
            .strip_prefix("-r")
            .or_else(|| t.strip_prefix("--requirement"))
        {
            let file = rest.trim_start_matches('=').trim();
            if !file.is_empty() {
                requirements(&base.join(file), out, depth + 1);
            }
            continue;
        }
        if t.starts_with('-') {
            continue;
        }
        if let Some(name) = leading_name(t) {
            out.entry(name).or_insert(Origin {
                file: path.to_path_buf(),
                line: ll.line,
            });
        }
    }
}

/// The project name a PEP 508 string starts with, normalised.
fn leading_name(spec: &str) -> Option<String> {
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphanumeric()))
        .then(|| normalize_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn requirements_lines_follow_includes_and_continuations() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "base.txt", "# base\nSix==1.17.0\n");
        let p = write(
            dir.path(),
            "req.txt",
            "--index-url https://x/simple\nnumpy==2.0.0 \\\n    --hash=sha256:aa\n-r base.txt\nPy_Yaml[x]==6 ; python_version>'3'\n",
        );
        let o = package_origins(&p);
        assert_eq!(o["numpy"].line, 2);
        assert_eq!(o["py-yaml"].line, 5);
        assert_eq!(o["six"].line, 2);
        assert!(o["six"].file.ends_with("base.txt"));
    }

    #[test]
    fn lock_tables_and_pyproject() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            "pylock.toml",
            "lock-version = \"1.0\"\n[tool.lpack]\nname = \"nope\"\n\n[[packages]]\nname = \"numpy\"\nversion = \"2\"\n\n[[packages.wheels]]\nname = \"numpy-2.whl\"\n[[packages]]\nname = \"Pandas\"\n",
        );
        let o = package_origins(&p);
        assert_eq!(o["numpy"].line, 6);
        assert_eq!(o["pandas"].line, 12);
        assert!(!o.contains_key("nope"));
        let sub = dir.path().join("u");
        std::fs::create_dir_all(&sub).expect("mkdir");
        let u = write(
            &sub,
            "uv.lock",
            "version = 1\n[[package]]\nname = \"six\"\n",
        );
        assert_eq!(package_origins(&u)["six"].line, 3);
        let py = write(
            &sub,
            "pyproject.toml",
            "[project]\nname = \"app\"\ndependencies = [\n  \"numpy>=2\",\n  \"pandas[pa] ; python_version > '3'\",\n]\n[tool.x]\nname = \"zzz\"\n",
        );
        let o = package_origins(&py);
        assert_eq!((o["numpy"].line, o["pandas"].line), (4, 5));
        assert!(!o.contains_key("app") && !o.contains_key("zzz"));
    }
}
