//! Bytecode for the target Python.
//!
//! `/var/task` and `/opt` are read-only on Lambda, so without bytecode of the *exact* target
//! version every cold start recompiles every imported module. lpack compiles with a real
//! interpreter of the target version (found on PATH or in pyenv, or given with `--python`) into
//! *unchecked-hash* pyc files (PEP 552): they are byte-reproducible (no timestamps) and never
//! considered stale, which matters because archive mtimes are normalised.
//!
//! Modes: `none`; `compile` puts `__pycache__/x.cpython-3XY.pyc` beside each `x.py`; `only` ships
//! sourceless `x.pyc` in place of `x.py`. A subset (the modules importing the handler actually
//! loads, see `--bytecode-for-imports`) can limit compilation to what a cold start needs.
//!
//! Sources go in batches to long-lived compiler processes shared by every wheel of a run
//! ([`super::compiler`]: one interpreter start per core, not per wheel); a file that does not
//! compile (e.g. Python-2-only test data) is shipped as source with a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::target::Target;
use crate::wheel::ArchivePath;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BytecodeMode {
    /// Ship sources only (every cold start compiles what it imports)
    None,
    /// Add __pycache__/*.cpython-3XY.pyc beside the sources
    Compile,
    /// Ship sourceless .pyc in place of .py
    Only,
}

#[derive(Debug, thiserror::Error)]
pub enum BytecodeError {
    #[error(
        "{python}: {detail}\n  hint: pass --python with an interpreter of the target version, or --bytecode none"
    )]
    Python { python: String, detail: String },
}

/// The bytecode decision of one build.
#[derive(Debug, Clone)]
pub struct BytecodePlan {
    pub mode: BytecodeMode,
    pub python: Option<PathBuf>,
    /// `sys.version` of that interpreter (part of cache keys).
    pub python_version: String,
    /// Only these paths, by distribution (from an import trace).
    pub subset: Option<BTreeMap<String, BTreeSet<String>>>,
}

pub struct CompileRequest {
    pub path: ArchivePath,
    pub source: Vec<u8>,
}

pub struct Compiled {
    pub path: ArchivePath,
    pub result: Result<Vec<u8>, String>,
}

/// Find an interpreter for Python 3.`minor`: `python3.Y` on PATH, then pyenv's versions.
pub fn find_python(minor: u32) -> Option<PathBuf> {
    let exe = format!("python3.{minor}");
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(&exe);
            if p.is_file() && !dir.to_string_lossy().contains("shims") {
                return Some(p);
            }
        }
    }
    let root = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".pyenv")))
        .ok()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin").join(&exe))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// What an interpreter reports about itself: `sys.version_info[:2]` and `sys.version`.
type Version = ((u32, u32), String);

/// An interpreter's identity without running it: its path, size and modification time.
fn identity(python: &Path) -> Option<String> {
    let real = std::fs::canonicalize(python).ok()?;
    let m = std::fs::metadata(&real).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{} {} {mtime}", real.display(), m.len()))
}

/// Versions already asked in this process, by identity.
static ASKED: std::sync::Mutex<BTreeMap<String, Version>> = std::sync::Mutex::new(BTreeMap::new());

/// [`python_version`], remembered by the interpreter's identity (path, size, mtime) in `cache`
/// (`python-v1`) and in this process: a build whose interpreter did not change starts no
/// Python to learn its version.
pub fn python_version_cached(
    python: &Path,
    cache: &crate::cache::Cache,
) -> Result<Version, BytecodeError> {
    let Some(id) = identity(python) else {
        return python_version(python);
    };
    let key = crate::digest::sha256_hex(format!("python 1\n{id}\n").as_bytes());
    if let Some(v) = cache
        .read_record("python-v1", &key)
        .and_then(|b| serde_json::from_slice::<Version>(&b).ok())
    {
        return Ok(v);
    }
    let v = python_version(python)?;
    if let Ok(body) = serde_json::to_vec(&v) {
        // A cache that cannot be written only costs the next build one interpreter start.
        let _ = cache.write_record("python-v1", &key, &body);
    }
    Ok(v)
}

/// `sys.version_info[:2]` and `sys.version` of an interpreter (asked once per process and
/// interpreter identity).
pub fn python_version(python: &Path) -> Result<((u32, u32), String), BytecodeError> {
    let id = identity(python);
    if let Some(v) = id
        .as_ref()
        .and_then(|id| ASKED.lock().ok()?.get(id).cloned())
    {
        return Ok(v);
    }
    let v = ask_version(python)?;
    if let (Some(id), Ok(mut asked)) = (id, ASKED.lock()) {
        asked.insert(id, v.clone());
    }
    Ok(v)
}

fn ask_version(python: &Path) -> Result<((u32, u32), String), BytecodeError> {
    let err = |detail: String| BytecodeError::Python {
        python: python.display().to_string(),
        detail,
    };
    let out = Command::new(python)
        .args([
            "-I",
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1]); print(sys.version)",
        ])
        .output()
        .map_err(|e| err(format!("cannot run it: {e}")))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let mut nums = lines.next().unwrap_or("").split_whitespace();
    let major = nums.next().and_then(|s| s.parse().ok());
    let minor = nums.next().and_then(|s| s.parse().ok());
    let version = lines.next().unwrap_or("").trim().to_string();
    match (major, minor) {
        (Some(a), Some(b)) => Ok(((a, b), version)),
        _ => Err(err("could not read its version".to_string())),
    }
}

impl BytecodePlan {
    pub fn none() -> BytecodePlan {
        BytecodePlan {
            mode: BytecodeMode::None,
            python: None,
            python_version: String::new(),
            subset: None,
        }
    }

    /// A plan for `mode` with an interpreter checked against the target.
    pub fn new(
        mode: BytecodeMode,
        python: &Path,
        target: &Target,
    ) -> Result<BytecodePlan, BytecodeError> {
        BytecodePlan::with_version(mode, python, target, python_version(python)?)
    }

    /// [`BytecodePlan::new`], the interpreter's version remembered in `cache`.
    pub fn new_cached(
        mode: BytecodeMode,
        python: &Path,
        target: &Target,
        cache: &crate::cache::Cache,
    ) -> Result<BytecodePlan, BytecodeError> {
        let version = python_version_cached(python, cache)?;
        BytecodePlan::with_version(mode, python, target, version)
    }

    fn with_version(
        mode: BytecodeMode,
        python: &Path,
        target: &Target,
        ((major, minor), version): Version,
    ) -> Result<BytecodePlan, BytecodeError> {
        if (major, minor) != (3, target.runtime.minor()) {
            return Err(BytecodeError::Python {
                python: python.display().to_string(),
                detail: format!(
                    "is Python {major}.{minor}, but {} needs bytecode for 3.{}",
                    target.runtime,
                    target.runtime.minor()
                ),
            });
        }
        Ok(BytecodePlan {
            mode,
            python: Some(python.to_path_buf()),
            python_version: version,
            subset: None,
        })
    }

    /// The part of a fragment's cache key this plan contributes for one distribution.
    pub fn key_for(&self, dist: &str) -> String {
        // Nothing to compile for this distribution: the same fragment as a bytecode-free build.
        let nothing = self.mode == BytecodeMode::None
            || self
                .subset
                .as_ref()
                .is_some_and(|m| m.get(dist).is_none_or(BTreeSet::is_empty));
        if nothing {
            return "none".to_string();
        }
        let subset = match &self.subset {
            None => "all".to_string(),
            Some(m) => crate::digest::sha256_hex(
                m.get(dist)
                    .map(|s| s.iter().cloned().collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default()
                    .as_bytes(),
            ),
        };
        format!("{:?}|{}|{subset}", self.mode, self.python_version)
    }

    /// The whole plan as a string for input hashes (mode, interpreter, subset).
    pub fn fingerprint(&self) -> String {
        let subset = self
            .subset
            .as_ref()
            .map(|m| crate::digest::sha256_hex(format!("{m:?}").as_bytes()));
        format!("{:?}|{}|{subset:?}", self.mode, self.python_version)
    }

    /// Should `path` of `dist` be compiled?
    pub fn wants(&self, dist: &str, path: &str) -> bool {
        if self.mode == BytecodeMode::None || !path.ends_with(".py") {
            return false;
        }
        match &self.subset {
            None => true,
            Some(m) => m.get(dist).is_some_and(|s| s.contains(path)),
        }
    }

    pub fn rule_id(&self) -> &'static str {
        match self.mode {
            BytecodeMode::Only => "bytecode.sourceless",
            _ => "bytecode.compile",
        }
    }

    pub fn replaces_source(&self) -> bool {
        self.mode == BytecodeMode::Only
    }

    /// Where the pyc of `source` goes.
    pub fn output_path(&self, target: &Target, source: &ArchivePath) -> ArchivePath {
        let s = source.as_str();
        let stem = s.strip_suffix(".py").unwrap_or(s);
        let out = match self.mode {
            BytecodeMode::Only => format!("{stem}.pyc"),
            _ => {
                let (dir, file) = match stem.rsplit_once('/') {
                    Some((d, f)) => (format!("{d}/"), f),
                    None => (String::new(), stem),
                };
                format!("{dir}__pycache__/{file}.{}.pyc", target.bytecode_tag())
            }
        };
        ArchivePath::new(&out).unwrap_or_else(|_| source.clone())
    }

    /// Compile `requests` with the plan's interpreter.
    pub fn compile(
        &self,
        target: &Target,
        requests: &[CompileRequest],
    ) -> Result<Vec<Compiled>, BytecodeError> {
        Ok(self.compile_timed(target, requests)?.0)
    }

    /// [`BytecodePlan::compile`], with the CPU seconds the interpreter used.
    ///
    /// A large wheel's modules are split into chunks of about [`CHUNK_BYTES`] of source, each
    /// compiled by its own worker at the same time as the others (pandas or botocore alone
    /// would otherwise keep one core busy while the other waits). Each source is compiled on
    /// its own, so the bytes depend neither on the chunks nor on the worker.
    pub fn compile_timed(
        &self,
        _target: &Target,
        requests: &[CompileRequest],
    ) -> Result<(Vec<Compiled>, std::time::Duration), BytecodeError> {
        let Some(python) = &self.python else {
            return Ok((Vec::new(), std::time::Duration::ZERO));
        };
        compile_chunked(python, requests, CHUNK_BYTES)
    }
}

/// Compile `requests` in chunks of at most `max` source bytes, the chunks at the same time.
fn compile_chunked(
    python: &Path,
    requests: &[CompileRequest],
    max: u64,
) -> Result<(Vec<Compiled>, std::time::Duration), BytecodeError> {
    use rayon::prelude::*;
    let chunks = chunks(requests, max);
    if chunks.len() <= 1 {
        return compile_in_one(python, requests);
    }
    let done: Vec<(Vec<Compiled>, std::time::Duration)> = chunks
        .par_iter()
        .with_max_len(1)
        .map(|c| compile_in_one(python, c))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(requests.len());
    let mut cpu = std::time::Duration::ZERO;
    for (compiled, c) in done {
        out.extend(compiled);
        cpu += c;
    }
    Ok((out, cpu))
}

/// Source bytes one batch holds at most, when a wheel has more.
pub const CHUNK_BYTES: u64 = 4 << 20;

/// `requests` in consecutive chunks of at most `max` source bytes (at least one request each).
fn chunks(requests: &[CompileRequest], max: u64) -> Vec<&[CompileRequest]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, r) in requests.iter().enumerate() {
        let n = r.source.len() as u64;
        if i > start && bytes + n > max {
            out.push(&requests[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += n;
    }
    if start < requests.len() {
        out.push(&requests[start..]);
    }
    out
}

/// Compile `requests` in order with one compiler process of `python` (see [`super::compiler`]).
fn compile_in_one(
    python: &Path,
    requests: &[CompileRequest],
) -> Result<(Vec<Compiled>, std::time::Duration), BytecodeError> {
    let (out, cpu) = super::compiler::compile_batch(python, requests).map_err(|detail| {
        BytecodeError::Python {
            python: python.display().to_string(),
            detail,
        }
    })?;
    // The worker lives on, so its CPU never reaches this process's children's rusage.
    crate::timings::add_helper_cpu(cpu);
    Ok((out, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    #[test]
    fn output_paths() {
        let t = Target::new(Runtime::Python311, Arch::X86_64);
        let mut plan = BytecodePlan::none();
        plan.mode = BytecodeMode::Compile;
        let src = ArchivePath::new("pkg/sub/mod.py").expect("path");
        assert_eq!(
            plan.output_path(&t, &src).as_str(),
            "pkg/sub/__pycache__/mod.cpython-311.pyc"
        );
        let top = ArchivePath::new("six.py").expect("path");
        assert_eq!(
            plan.output_path(&t, &top).as_str(),
            "__pycache__/six.cpython-311.pyc"
        );
        plan.mode = BytecodeMode::Only;
        assert_eq!(plan.output_path(&t, &src).as_str(), "pkg/sub/mod.pyc");
        assert!(plan.wants("x", "pkg/a.py"));
        assert!(!plan.wants("x", "pkg/a.txt"));
    }

    fn requests(n: usize) -> Vec<CompileRequest> {
        (0..n)
            .map(|i| CompileRequest {
                path: ArchivePath::new(&format!("pkg/m{i}.py")).expect("path"),
                source: format!("X{i} = {i}\ndef f():\n    return 'm{i}' * X{i}\n").into_bytes(),
            })
            .collect()
    }

    #[test]
    fn chunks_keep_order_and_size() {
        let r = requests(10);
        let each = r[0].source.len() as u64;
        let c = chunks(&r, each * 3);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        assert_eq!(c.iter().map(|c| c.len()).sum::<usize>(), 10);
        // A request larger than the limit still gets a chunk of its own.
        assert_eq!(chunks(&r, 1).len(), 10);
        assert_eq!(chunks(&r, u64::MAX).len(), 1);
        assert!(chunks(&[], 10).is_empty());
    }

    /// Compiling in chunks, each by a worker of its own, gives the bytes one batch gives.
    #[test]
    fn chunked_compile_matches_one_interpreter() {
        let Some(python) = (9..=14).rev().find_map(find_python) else {
            eprintln!("skipped: no python3.9-3.14 found on PATH or in pyenv");
            return;
        };
        let r = requests(40);
        let (one, _) = compile_in_one(&python, &r).expect("compile");
        let (chunked, cpu) = compile_chunked(&python, &r, 200).expect("compile");
        assert!(chunks(&r, 200).len() > 3);
        assert_eq!(one.len(), chunked.len());
        for (a, b) in one.iter().zip(&chunked) {
            assert_eq!(a.path, b.path);
            assert_eq!(a.result, b.result, "{}", a.path);
        }
        assert!(cpu > std::time::Duration::ZERO);
    }
}
