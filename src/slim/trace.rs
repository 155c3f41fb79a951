//! Which modules does importing the handler load? (for `--bytecode-for-imports`)
//!
//! The slimmed fragments and the handler code are unpacked into a temporary directory, the
//! handler module is imported there by an interpreter of the target version, and every `.py` file
//! under that directory found in `sys.modules` is reported, grouped by distribution. Directories
//! in `behind` (the runtime-provided packages of an aggressive build) follow it on `sys.path`. Only those
//! files then get bytecode, which keeps the size cost of compiling small.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use super::bytecode::{BytecodeError, BytecodePlan};
use super::{SlimError, SlimmedWheel};
use crate::wheel::{WheelError, open_archive};

const TRACER: &str = r#"
import sys, os, importlib
root, mods, strict = os.path.realpath(sys.argv[1]), sys.argv[2].split(","), sys.argv[3] == "strict"
sys.path[0:0] = [root] + sys.argv[4:]
for mod in mods:
    if strict:
        importlib.import_module(mod)
    else:
        try:
            importlib.import_module(mod)
        except BaseException:
            pass
for m in list(sys.modules.values()):
    f = getattr(m, '__file__', None)
    if f and f.endswith('.py'):
        f = os.path.realpath(f)
        if f.startswith(root + os.sep):
            print(os.path.relpath(f, root))
"#;

/// Unpack fragments (and `src`) into `dest`. Returns installed path → distribution.
pub fn unpack(
    slimmed: &[SlimmedWheel],
    src: &[crate::srctree::SrcFile],
    dest: &Path,
) -> Result<BTreeMap<String, String>, SlimError> {
    let io =
        |e: std::io::Error| SlimError::Write(format!("unpacking into {}: {e}", dest.display()));
    let mut owners = BTreeMap::new();
    for s in slimmed {
        let name = &s.wheel.locked.filename;
        let mut archive = open_archive(&s.fragment, name)?;
        for e in &s.entries {
            let mut f = archive
                .by_index(e.index)
                .map_err(|source| WheelError::Corrupt {
                    wheel: name.clone(),
                    source,
                })?;
            let mut buf = Vec::with_capacity(e.size as usize);
            f.read_to_end(&mut buf).map_err(io)?;
            let target = dest.join(e.path.as_str());
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::write(&target, buf).map_err(io)?;
            owners.insert(e.path.to_string(), s.wheel.locked.name.clone());
        }
    }
    for f in src {
        let target = dest.join(f.path.as_str());
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::copy(&f.disk, &target).map_err(io)?;
    }
    Ok(owners)
}

/// What to import for a trace.
pub enum TraceRoots<'a> {
    /// A Lambda handler (`module.function`): its import must succeed.
    Handler(&'a str),
    /// Every top-level module of every distribution; failures are skipped.
    TopLevel,
}

/// Top-level importable modules of the slimmed wheels (package directories holding Python code,
/// top-level `.py` files and extension modules).
pub fn top_level_modules(slimmed: &[SlimmedWheel]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for s in slimmed {
        for e in &s.entries {
            let p = e.path.as_str();
            let first = p.split('/').next().unwrap_or(p);
            let name = if p.contains('/') {
                if !(p.ends_with(".py") || p.ends_with(".so")) {
                    continue;
                }
                first
            } else {
                match super::imports::module_name(p) {
                    Some(_) => first.split('.').next().unwrap_or(first),
                    None => continue,
                }
            };
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if ident && name != "__pycache__" {
                out.insert(name.to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// The `.py` files (installed paths, by distribution) that importing the roots loads.
pub fn imported_files(
    slimmed: &[SlimmedWheel],
    src: &[crate::srctree::SrcFile],
    roots: TraceRoots<'_>,
    plan: &BytecodePlan,
    behind: &[std::path::PathBuf],
) -> Result<BTreeMap<String, BTreeSet<String>>, SlimError> {
    let Some(python) = &plan.python else {
        return Ok(BTreeMap::new());
    };
    let dir = tempfile::tempdir().map_err(|e| SlimError::Write(e.to_string()))?;
    let owners = unpack(slimmed, src, dir.path())?;
    let (module, strict) = match roots {
        // Lambda handler names are `module.function`, the module possibly a path (`dir/mod`).
        TraceRoots::Handler(handler) => (
            handler
                .rsplit_once('.')
                .map_or(handler, |(m, _)| m)
                .replace('/', "."),
            "strict",
        ),
        TraceRoots::TopLevel => (top_level_modules(slimmed).join(","), "lenient"),
    };
    let out = Command::new(python)
        .args(["-I", "-B", "-S", "-c", TRACER])
        .arg(dir.path())
        .arg(&module)
        .arg(strict)
        .args(behind)
        .output()
        .map_err(|e| BytecodeError::Python {
            python: python.display().to_string(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").to_string();
        return Err(SlimError::Write(format!(
            "--bytecode-for-imports: importing `{module}` failed: {last}\n  hint: the handler must import with only the bundle on sys.path (check --src)"
        )));
    }
    let mut by_dist: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(dist) = owners.get(line) {
            by_dist
                .entry(dist.clone())
                .or_default()
                .insert(line.to_string());
        }
    }
    Ok(by_dist)
}
