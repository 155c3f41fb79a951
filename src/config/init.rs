//! `lpack init`: look at a project directory and write a commented config for it.
//!
//! Detection is conservative: the input is the one `lpack build` would pick (pylock.toml, uv.lock,
//! requirements.txt, pyproject.toml); the handler is a top-level `def handler(event, context)` or
//! `def lambda_handler(…)` in a `.py` file of the directory or of one subdirectory (its
//! directory becomes `src`); the runtime comes from `.python-version`, else from `requires-python`
//! (the newest Lambda runtime it allows). Whatever is not found is left as a commented example.
//! An existing config is never overwritten without `force`.

use std::path::{Path, PathBuf};

use crate::target::Runtime;

/// What `init` found in a project directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    /// The input file name, relative to the directory.
    pub input: Option<String>,
    /// Handler code directory, relative (`.` for the project directory itself).
    pub src: Option<String>,
    /// `module.function`.
    pub handler: Option<String>,
    /// The runtime and why it was chosen.
    pub runtime: Option<(Runtime, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{path} already exists\n  hint: pass --force to overwrite it, or edit it by hand")]
    Exists { path: PathBuf },
    #[error(
        "{path} already has a [tool.lpack] table\n  hint: edit it by hand, or remove it and run `lpack init --pyproject` again"
    )]
    TableExists { path: PathBuf },
    #[error(
        "{path} not found\n  hint: run `lpack init` (without --pyproject) to write an lpack.toml"
    )]
    NoPyproject { path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Look at `dir`.
pub fn detect(dir: &Path) -> Detected {
    let input = [
        "pylock.toml",
        "uv.lock",
        "requirements.txt",
        "pyproject.toml",
    ]
    .into_iter()
    .find(|n| dir.join(n).is_file())
    .map(str::to_string);
    let (src, handler) = match find_handler(dir) {
        Some((s, h)) => (Some(s), Some(h)),
        None => (None, None),
    };
    Detected {
        input,
        src,
        handler,
        runtime: runtime_for(dir),
    }
}

/// The first handler function found: files of `dir` first, then of its subdirectories, each in
/// name order. Hidden, virtual-environment and build directories are skipped.
fn find_handler(dir: &Path) -> Option<(String, String)> {
    let mut dirs = vec![(dir.to_path_buf(), ".".to_string())];
    let mut subdirs: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let skip = name.starts_with('.')
                || matches!(
                    name.as_str(),
                    "venv"
                        | "env"
                        | "dist"
                        | "build"
                        | "target"
                        | "node_modules"
                        | "tests"
                        | "test"
                        | "__pycache__"
                        | "site-packages"
                );
            (!skip).then(|| (e.path(), name))
        })
        .collect();
    subdirs.sort_by(|a, b| a.1.cmp(&b.1));
    dirs.extend(subdirs);
    for (d, rel) in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "py") && p.is_file())
            .collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Some(stem) = f.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            for func in ["lambda_handler", "handler"] {
                if text.lines().any(|l| {
                    l.starts_with(&format!("def {func}("))
                        || l.starts_with(&format!("async def {func}("))
                }) {
                    return Some((rel, format!("{stem}.{func}")));
                }
            }
        }
    }
    None
}

/// `.python-version` (a Lambda runtime's version), else the newest runtime `requires-python`
/// allows.
fn runtime_for(dir: &Path) -> Option<(Runtime, String)> {
    if let Ok(text) = std::fs::read_to_string(dir.join(".python-version"))
        && let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.split('.');
        if let (Some("3"), Some(minor)) = (parts.next(), parts.next())
            && let Some(rt) = Runtime::ALL
                .into_iter()
                .find(|r| r.minor().to_string() == minor)
        {
            return Some((rt, format!(".python-version says {line}")));
        }
    }
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    let spec = doc.get("project")?.get("requires-python")?.as_str()?;
    let specs: pep440_rs::VersionSpecifiers = spec.parse().ok()?;
    Runtime::ALL
        .into_iter()
        .rev()
        .find(|r| {
            let v: pep440_rs::Version = match r.full_version().parse() {
                Ok(v) => v,
                Err(_) => return false,
            };
            specs.contains(&v)
        })
        .map(|r| {
            (
                r,
                format!("the newest Lambda runtime requires-python = \"{spec}\" allows"),
            )
        })
}

/// The commented settings for `detected` (the body of lpack.toml, or of `[tool.lpack]` when
/// `pyproject`: then the example tables are `[tool.lpack.layers.NAME]`).
pub fn render(detected: &Detected, pyproject: bool) -> String {
    let tables = if pyproject { "tool.lpack." } else { "" };
    let mut out = String::from(
        "# ── Packages and target: shared by every function and layer ───────────────────────────\n\n",
    );
    let line = |out: &mut String, found: Option<String>, example: &str, comment: &str| {
        out.push_str(&format!("# {comment}\n"));
        match found {
            Some(v) => out.push_str(&format!("{v}\n\n")),
            None => out.push_str(&format!("# {example}\n\n")),
        }
    };
    line(
        &mut out,
        detected
            .input
            .as_ref()
            .map(|i| format!("requirements = \"{i}\"")),
        "requirements = \"requirements.txt\"",
        "Input: a requirements file, pyproject.toml, uv.lock or pylock.toml (paths are relative to this file)",
    );
    line(
        &mut out,
        detected
            .runtime
            .as_ref()
            .map(|(r, why)| format!("runtime = \"{}\"  # {why}", r.name())),
        "runtime = \"python3.12\"",
        "Lambda runtime (python3.9 … python3.14) and architecture (x86_64 or arm64)",
    );
    out.push_str("arch = \"x86_64\"\n\n");
    out.push_str(
        "# ── The function ─────────────────────────────────────────────────────────────────────\n\
         # src, handler, format and the image keys describe a function. Here they apply to the one\n\
         # build, or, once you add [functions.NAME] tables below, to every function (a table's own\n\
         # keys win); they never apply to a [layers.NAME] table, which holds packages only.\n\n",
    );
    line(
        &mut out,
        detected.src.as_ref().map(|s| format!("src = \"{s}\"")),
        "src = \"app\"",
        "Handler code, placed at the zip root beside the packages (files git ignores, virtual\n# environments and lpack's outputs are left out; exclude = [\"GLOB\"] / include = [\"GLOB\"] adjust)",
    );
    line(
        &mut out,
        detected
            .handler
            .as_ref()
            .map(|h| format!("handler = \"{h}\"")),
        "handler = \"app.handler\"",
        "The handler: `lpack build` checks it imports, `lpack bench` invokes it, and it is the image's CMD",
    );
    out.push_str(&format!(
        "# Artifact: \"zip\" (a function zip) or \"image\"; where it goes [default: dist/<project name>.zip]\n\
         format = \"zip\"\n\
         # output = \"dist/app.zip\"\n\n\
         # ── Also shared by every function and layer ───────────────────────────────────────────\n\n\
         # Slimming: \"safe\" or \"aggressive\"; globs to keep or drop whatever the recipes say\n\
         profile = \"safe\"\n\
         # keep = [\"pandas/io/formats/templates/**\"]\n\
         # drop = [\"**/tests/**\"]\n\n\
         # CI gates: fail (exit 1) above these sizes\n\
         # max-unzipped = \"250MiB\"\n\
         # max-zipped = \"50MiB\"\n\n\
         # A private index (never put credentials here: use $PIP_INDEX_URL or ~/.netrc)\n\
         # index-url = \"https://pypi.example.com/simple\"\n\n\
         # ── Several functions and layers ───────────────────────────────────────────────────────\n\
         # Add tables and this file grows into a multi-function one: `lpack build` then builds every\n\
         # table (or `lpack build NAME…`) into dist/NAME.zip; each inherits the settings above and\n\
         # overrides what it sets (move `output` into the tables: it names one file).\n\
         # [{tables}layers.deps]\n\
         # requirements = \"requirements/deps.txt\"\n\
         #\n\
         # [{tables}functions.api]\n\
         # layers = [\"deps\"]\n\
         # handler = \"api.handler\"\n"
    ));
    out
}

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub detected: Detected,
    /// An existing file was replaced (`force`).
    pub replaced: bool,
}

/// Write `lpack.toml` (or append `[tool.lpack]` to `pyproject.toml`) for the project in `dir`.
pub fn init(dir: &Path, pyproject: bool, force: bool) -> Result<Written, InitError> {
    let detected = detect(dir);
    let body = render(&detected, pyproject);
    let header = "# lpack's settings for this project: every command reads those it has a use for (build,\n\
                  # lock, explain, bench, verify); flags and LPACK_* variables override them, and\n\
                  # `lpack config` shows where each value comes from.\n\n";
    if pyproject {
        let path = dir.join("pyproject.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                InitError::NoPyproject { path: path.clone() }
            } else {
                InitError::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                }
            }
        })?;
        if super::pyproject_has_table(&text) {
            return Err(InitError::TableExists { path });
        }
        // In a pyproject the input is the pyproject itself unless a lock sits beside it.
        let mut new = text.clone();
        if !new.ends_with('\n') && !new.is_empty() {
            new.push('\n');
        }
        new.push('\n');
        new.push_str(header);
        new.push_str("[tool.lpack]\n");
        new.push_str(&body);
        crate::outfile::write_output(&path, new.as_bytes()).map_err(|source| InitError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
        return Ok(Written {
            path,
            detected,
            replaced: false,
        });
    }
    let path = dir.join("lpack.toml");
    let replaced = path.exists();
    if replaced && !force {
        return Err(InitError::Exists { path });
    }
    let text = format!("{header}{body}");
    crate::outfile::write_output(&path, text.as_bytes()).map_err(|source| InitError::Io {
        action: "write",
        path: path.clone(),
        source,
    })?;
    Ok(Written {
        path,
        detected,
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_input_handler_and_runtime() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("requirements.txt"), "numpy\n").unwrap();
        std::fs::write(
            d.join("pyproject.toml"),
            "[project]\nname = \"x\"\nrequires-python = \">=3.10,<3.13\"\n",
        )
        .unwrap();
        std::fs::create_dir(d.join("app")).unwrap();
        std::fs::create_dir(d.join(".venv")).unwrap();
        std::fs::write(d.join(".venv/h.py"), "def handler(e, c):\n    pass\n").unwrap();
        std::fs::write(d.join("app/util.py"), "x = 1\n").unwrap();
        std::fs::write(
            d.join("app/main.py"),
            "import json\n\ndef lambda_handler(event, context):\n    return 1\n",
        )
        .unwrap();
        let found = detect(d);
        assert_eq!(found.input.as_deref(), Some("requirements.txt"));
        assert_eq!(found.src.as_deref(), Some("app"));
        assert_eq!(found.handler.as_deref(), Some("main.lambda_handler"));
        assert_eq!(
            found.runtime.as_ref().map(|r| r.0),
            Some(Runtime::Python312)
        );
        std::fs::write(d.join(".python-version"), "3.11.9\n").unwrap();
        assert_eq!(detect(d).runtime.map(|r| r.0), Some(Runtime::Python311));
        // The rendered file is a valid config that says what was found.
        let text = render(&detect(d), false);
        let c = super::super::parse(Path::new("lpack.toml"), d, &text, false).unwrap();
        assert_eq!(
            c.root["handler"].value,
            super::super::Value::Str("main.lambda_handler".into())
        );
        assert!(c.warnings.is_empty());
        // It grows into a multi-function file by adding tables: the layer does not get the
        // function's keys, the function does.
        let grown = format!("{text}\n[layers.deps]\n\n[functions.api]\nlayers = [\"deps\"]\n");
        let c = super::super::parse(Path::new("lpack.toml"), d, &grown, false).unwrap();
        assert!(!c.root_for_layers().contains_key("src"));
        assert!(!c.root_for_layers().contains_key("format"));
        assert!(c.root.contains_key("src"));
        // In a pyproject, the example tables are under tool.lpack.
        assert!(render(&detect(d), true).contains("# [tool.lpack.layers.deps]"));
    }

    #[test]
    fn never_overwrites_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let first = init(d, false, false).unwrap();
        assert!(!first.replaced);
        std::fs::write(d.join("lpack.toml"), "# mine\n").unwrap();
        let e = init(d, false, false).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(
            std::fs::read_to_string(d.join("lpack.toml")).unwrap(),
            "# mine\n"
        );
        assert!(init(d, false, true).unwrap().replaced);
        // pyproject: appended once, refused the second time.
        std::fs::write(d.join("pyproject.toml"), "[project]\nname = \"x\"").unwrap();
        init(d, true, false).unwrap();
        let text = std::fs::read_to_string(d.join("pyproject.toml")).unwrap();
        assert!(text.starts_with("[project]\nname = \"x\"\n\n"), "{text}");
        assert!(super::super::pyproject_has_table(&text));
        assert!(init(d, true, true).is_err());
    }
}
