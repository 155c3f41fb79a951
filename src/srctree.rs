//! Handler code: which files of a `src` directory are code to ship.
//!
//! `src` is often a working tree (`lpack init` writes `src = "."` for a handler at the project
//! root), which also holds earlier artifacts, benchmark results, virtual environments and lock
//! files. This is the one walk of `src`: the function zip, the image's handler layer, the input
//! hash, the import trace and the ABI audit all take the file list it returns, so they agree.
//!
//! Skipped by default:
//! - what git ignores: `.gitignore` and `.ignore` files in `src` and in its parent directories up
//!   to the repository root (the nearest one holding `.git`), read even outside a git repository.
//!   Nothing from this machine alone (global excludes, `.git/info/exclude`), so two clones pack
//!   the same files;
//! - version control and tool folders (`.git`, `.hg`, `.svn`, `__pycache__`, `.mypy_cache`,
//!   `.pytest_cache`), `*.pyc`, `.DS_Store`;
//! - virtual environments: any folder holding `pyvenv.cfg` (or a conda `conda-meta`);
//! - every output lpack writes: the build's own outputs and the folder they go in (when inside
//!   `src`), any file or folder with a `NAME.lpack.json` manifest beside it, `*.lpack.json`,
//!   OCI layouts, bench results (`bench-results/`, or a folder holding bench's `summary.json` and
//!   `samples.json`), lock files (`pylock.toml`, `pylock.*.toml`, and `*.lock.txt` that lpack
//!   wrote), the build's input file, lpack's config `lpack.toml`, caches (a folder holding
//!   `CACHEDIR.TAG`, as lpack's cache does), `.gitignore` / `.ignore` files and lpack's
//!   temporary files (`.lpack-*`);
//! - whatever matches an `exclude` glob (gitignore syntax, relative to `src`).
//!
//! An `include` glob (same syntax) brings back a file (or a folder's files) any of these
//! skipped, except version control and tool folders, `*.pyc`, virtual environments and the files
//! this very build writes. The list is sorted by archive path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::wheel::ArchivePath;

/// A build whose `src` holds more than this gets a warning naming its largest files.
pub const LARGE_SRC: u64 = 5 * 1000 * 1000;

/// Why a walk of `src` failed.
#[derive(Debug, thiserror::Error)]
pub enum SrcError {
    #[error("--src {}: {detail}", path.display())]
    Walk { path: PathBuf, detail: String },
    #[error(
        "{what} glob `{glob}`: {detail}\n  hint: globs use .gitignore syntax, relative to src (e.g. `data/*.csv`, `*.bin`, `models/`)"
    )]
    Glob {
        what: &'static str,
        glob: String,
        detail: String,
    },
}

/// What the user adds to or removes from the default selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrcFilter {
    /// Globs (gitignore syntax, relative to `src`) of files not to pack.
    pub exclude: Vec<String>,
    /// Globs of files to pack although a default skip or an `exclude` says otherwise.
    pub include: Vec<String>,
}

/// One handler file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrcFile {
    /// Where it goes, relative to the artifact's code root.
    pub path: ArchivePath,
    /// Where it is on disk.
    pub disk: PathBuf,
    pub executable: bool,
    pub size: u64,
}

/// The files of `src` to pack, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrcTree {
    pub root: PathBuf,
    pub files: Vec<SrcFile>,
}

impl SrcTree {
    /// Bytes of all files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The `n` largest files, largest first (ties by path).
    pub fn largest(&self, n: usize) -> Vec<&SrcFile> {
        let mut v: Vec<&SrcFile> = self.files.iter().collect();
        v.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        v.truncate(n);
        v
    }

    /// sha256 of every file (with `+x` for executables), by archive path: part of a build's
    /// input hash.
    pub fn digests(&self) -> Result<Vec<(String, String)>, SrcError> {
        use rayon::prelude::*;
        self.files
            .par_iter()
            .map(|f| {
                let digest = crate::digest::sha256_file(&f.disk).map_err(|e| SrcError::Walk {
                    path: f.disk.clone(),
                    detail: e.to_string(),
                })?;
                Ok((
                    f.path.to_string(),
                    format!("{digest}{}", if f.executable { "+x" } else { "" }),
                ))
            })
            .collect()
    }
}

/// Folders never packed, and never brought back by `include`.
const NEVER_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
];

/// Why the default selection skips a path (`None`: it does not).
fn default_skip(path: &Path, name: &str, is_dir: bool, outputs: &Outputs) -> Option<Skip> {
    if outputs.own(path) {
        return Some(Skip::Own);
    }
    if name.starts_with(crate::outfile::OUTPUT_TEMP_PREFIX) {
        return Some(Skip::Never);
    }
    if is_dir {
        if NEVER_DIRS.contains(&name) || path.join("CACHEDIR.TAG").is_file() {
            return Some(Skip::Never);
        }
        if path.join("pyvenv.cfg").is_file() || path.join("conda-meta").is_dir() {
            return Some(Skip::Never);
        }
        if name == "bench-results"
            || (path.join("summary.json").is_file() && path.join("samples.json").is_file())
            || (path.join("oci-layout").is_file() && path.join("index.json").is_file())
            || outputs.dirs.iter().any(|d| d == path)
        {
            return Some(Skip::Output);
        }
    } else {
        if name == ".DS_Store" || name.ends_with(".pyc") {
            return Some(Skip::Never);
        }
        if name == "lpack.toml"
            || name == ".gitignore"
            || name == ".ignore"
            || outputs.inputs.iter().any(|i| i == path)
            || name.ends_with(".lpack.json")
            || name == "pylock.toml"
            || (name.starts_with("pylock.") && name.ends_with(".toml"))
            || (name.ends_with(".lock.txt") && written_by_lpack(path))
            || is_packaging_input(name)
        {
            return Some(Skip::Output);
        }
    }
    // An artifact (zip, image layout, docker archive) with its manifest beside it.
    let mut m = path.as_os_str().to_os_string();
    m.push(".lpack.json");
    if Path::new(&m).is_file() {
        return Some(Skip::Output);
    }
    None
}

/// What says which packages to install, not code the handler runs: requirements files
/// (`requirements*.txt` / `.in`, whichever one this build reads), `uv.lock` and
/// `.python-version`. (`pyproject.toml` stays: code may read it.) Without this, the old input
/// was packed once a build moved to a lock file.
fn is_packaging_input(name: &str) -> bool {
    let requirements =
        name.starts_with("requirements") && (name.ends_with(".txt") || name.ends_with(".in"));
    requirements || name == "uv.lock" || name == ".python-version"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Never packed (version control, caches, virtual environments).
    Never,
    /// This build's own outputs.
    Own,
    /// lpack's outputs (earlier builds, bench, locks, config): `include` may bring them back.
    Output,
}

fn written_by_lpack(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]);
    head.lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .any(|l| l.contains("lpack"))
}

/// The build's own outputs and inputs (absolute paths, made canonical where they exist).
struct Outputs {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    /// The requirements or lock file the build reads.
    inputs: Vec<PathBuf>,
}

impl Outputs {
    fn own(&self, path: &Path) -> bool {
        self.files.iter().any(|f| f == path)
    }
}

/// `p` made absolute and canonical as far as it exists (an output may not exist yet).
fn absolute(p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(d) => d.join(p),
            Err(_) => return p.to_path_buf(),
        }
    };
    let mut rest = Vec::new();
    let mut base = p.as_path();
    loop {
        if let Ok(c) = base.canonicalize() {
            return rest.iter().rev().fold(c, |acc, n| acc.join(n));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return p.clone(),
        }
    }
}

fn globs(root: &Path, what: &'static str, list: &[String]) -> Result<Gitignore, SrcError> {
    let mut b = GitignoreBuilder::new(root);
    for g in list {
        b.add_line(None, g).map_err(|e| SrcError::Glob {
            what,
            glob: g.clone(),
            detail: e.to_string(),
        })?;
    }
    b.build().map_err(|e| SrcError::Glob {
        what,
        glob: list.join(", "),
        detail: e.to_string(),
    })
}

/// `.gitignore` / `.ignore` files of the folders above `root` up to the repository root
/// (nearest first); none outside a repository.
fn parent_ignores(root: &Path) -> Vec<Gitignore> {
    let Some(repo) = root.ancestors().skip(1).find(|d| d.join(".git").exists()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for dir in root.ancestors().skip(1) {
        let mut b = GitignoreBuilder::new(dir);
        let mut any = false;
        // `.ignore` wins over `.gitignore` in one folder: added last, it matches last.
        for name in [".gitignore", ".ignore"] {
            let f = dir.join(name);
            if f.is_file() {
                any = true;
                let _ = b.add(&f);
            }
        }
        if any && let Ok(gi) = b.build() {
            out.push(gi);
        }
        if dir == repo {
            break;
        }
    }
    out
}

/// Whether a parent folder's ignore files skip `path` (nearest file decides).
fn parent_ignored(parents: &[Gitignore], path: &Path, is_dir: bool) -> bool {
    for gi in parents {
        let m = gi.matched(path, is_dir);
        if m.is_ignore() {
            return true;
        }
        if m.is_whitelist() {
            return false;
        }
    }
    false
}

/// The handler files of `src`, without what is not code (see the module doc). `outputs` are the
/// files and folders this build writes; the folder an output goes in is skipped when it lies
/// inside `src` (and is not `src` itself). `inputs` are the requirements or lock files the
/// build reads (skipped unless `include` names them).
pub fn walk(
    src: &Path,
    filter: &SrcFilter,
    outputs: &[PathBuf],
    inputs: &[PathBuf],
) -> Result<SrcTree, SrcError> {
    if !src.is_dir() {
        return Err(walk_error(src, "is not a directory".to_string()));
    }
    let root = src
        .canonicalize()
        .map_err(|e| walk_error(src, e.to_string()))?;
    let outputs = std::sync::Arc::new(outputs_of(&root, outputs, inputs));
    let exclude = globs(&root, "exclude", &filter.exclude)?;
    let include = globs(&root, "include", &filter.include)?;
    let parents = parent_ignores(&root);

    let mut found: BTreeMap<String, SrcFile> = BTreeMap::new();
    // 1. The default selection, less `exclude`.
    walk_default(&root, &outputs, &exclude, &parents, &mut found)?;
    // 2. `include`: files the first walk skipped that the user asked for.
    if !filter.include.is_empty() {
        walk_include(&root, &outputs, &include, &mut found)?;
    }
    Ok(SrcTree {
        root,
        files: found.into_values().collect(),
    })
}

/// The error of a walk at `path`.
fn walk_error(path: &Path, detail: String) -> SrcError {
    SrcError::Walk {
        path: path.to_path_buf(),
        detail,
    }
}

/// The build's outputs and inputs made absolute, and the output folders inside `root`.
fn outputs_of(root: &Path, outputs: &[PathBuf], inputs: &[PathBuf]) -> Outputs {
    let files: Vec<PathBuf> = outputs.iter().map(|p| absolute(p)).collect();
    let dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent())
        .filter(|d| d.starts_with(root) && *d != root)
        .map(Path::to_path_buf)
        .collect();
    let inputs = inputs.iter().map(|p| absolute(p)).collect();
    Outputs {
        files,
        dirs,
        inputs,
    }
}

/// Record the file at `path` (below `root`) in `found`, by its path relative to `root`.
fn add_file(
    found: &mut BTreeMap<String, SrcFile>,
    root: &Path,
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(), SrcError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel_str = rel
        .to_str()
        .ok_or_else(|| walk_error(path, "file name is not valid UTF-8".to_string()))?;
    let ap = ArchivePath::new(rel_str).map_err(|why| walk_error(path, format!("path {why}")))?;
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    };
    found.insert(
        rel_str.to_string(),
        SrcFile {
            path: ap,
            disk: path.to_path_buf(),
            executable,
            size: meta.len(),
        },
    );
    Ok(())
}

/// The default selection: files that ignore files, default skips and `exclude` leave in.
fn walk_default(
    root: &Path,
    outputs: &std::sync::Arc<Outputs>,
    exclude: &Gitignore,
    parents: &[Gitignore],
    found: &mut BTreeMap<String, SrcFile>,
) -> Result<(), SrcError> {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .standard_filters(false)
        .git_ignore(true)
        .ignore(true)
        .require_git(false)
        .parents(false)
        .follow_links(true)
        .sort_by_file_name(|a, b| a.cmp(b));
    {
        let root = root.to_path_buf();
        let outputs = outputs.clone();
        let exclude = exclude.clone();
        let parents = parents.to_vec();
        builder.filter_entry(move |e| {
            let path = e.path();
            if path == root {
                return true;
            }
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            let name = e.file_name().to_string_lossy();
            if default_skip(path, &name, is_dir, &outputs).is_some() {
                return false;
            }
            let rel = path.strip_prefix(&root).unwrap_or(path);
            !exclude.matched(rel, is_dir).is_ignore() && !parent_ignored(&parents, path, is_dir)
        });
    }
    for entry in builder.build() {
        let entry = entry.map_err(|e| walk_error(root, e.to_string()))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| walk_error(entry.path(), e.to_string()))?;
        add_file(found, root, entry.path(), &meta)?;
    }
    Ok(())
}

/// The files `include` names that the default selection skipped.
fn walk_include(
    root: &Path,
    outputs: &Outputs,
    include: &Gitignore,
    found: &mut BTreeMap<String, SrcFile>,
) -> Result<(), SrcError> {
    let mut it = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = entry.map_err(|e| {
            walk_error(
                e.path().unwrap_or(root),
                e.io_error()
                    .map_or_else(|| e.to_string(), ToString::to_string),
            )
        })?;
        let path = entry.path();
        if path == root {
            continue;
        }
        let is_dir = entry.file_type().is_dir();
        let name = entry.file_name().to_string_lossy();
        match default_skip(path, &name, is_dir, outputs) {
            Some(Skip::Never | Skip::Own) => {
                if is_dir {
                    it.skip_current_dir();
                }
                continue;
            }
            Some(Skip::Output) | None => {}
        }
        if is_dir || !entry.file_type().is_file() {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(path);
        if include.matched_path_or_any_parents(rel, false).is_ignore() {
            let meta = entry
                .metadata()
                .map_err(|e| walk_error(path, e.to_string()))?;
            add_file(found, root, path, &meta)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    fn names(t: &SrcTree) -> Vec<String> {
        t.files.iter().map(|f| f.path.to_string()).collect()
    }

    fn project() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, "app.py", b"def handler(e, c): pass\n");
        write(r, "pkg/__init__.py", b"");
        write(r, "pkg/__pycache__/x.cpython-312.pyc", b"x");
        write(r, "lpack.toml", b"src = \".\"\n");
        write(r, "pylock.toml", b"lock-version = \"1.0\"\n");
        write(
            r,
            "requirements.lock.txt",
            b"# written by lpack\nnumpy==2\n",
        );
        write(r, "notes.lock.txt", b"mine\n");
        write(r, "dist/old.zip", b"PK");
        write(r, "dist/old.zip.lpack.json", b"{}");
        write(r, "build/other.zip", b"PK");
        write(r, "build/other.zip.lpack.json", b"{}");
        write(r, "bench-results/summary.json", b"{}");
        write(r, "results2/summary.json", b"{}");
        write(r, "results2/samples.json", b"[]");
        write(r, ".venv/pyvenv.cfg", b"home = /usr\n");
        write(r, ".venv/lib/site.py", b"");
        write(r, "env2/pyvenv.cfg", b"");
        write(r, ".git/HEAD", b"ref");
        write(r, ".gitignore", b"secret.txt\n/data/\n");
        write(r, "secret.txt", b"s");
        write(r, "data/big.bin", b"0123456789");
        write(r, "sub/.ignore", b"*.tmp\n");
        write(r, "sub/a.tmp", b"t");
        write(r, "sub/b.py", b"");
        write(r, ".lpack-x.tmp", b"");
        write(
            r,
            "cache/CACHEDIR.TAG",
            b"Signature: 8a477f597d28d172789f06886806bc55",
        );
        write(r, "cache/wheels/x.whl", b"PK");
        d
    }

    #[test]
    fn default_selection_is_the_code() {
        let d = project();
        let t = walk(d.path(), &SrcFilter::default(), &[], &[]).unwrap();
        assert_eq!(
            names(&t),
            ["app.py", "notes.lock.txt", "pkg/__init__.py", "sub/b.py"]
        );
    }

    #[test]
    fn packaging_inputs_are_not_code() {
        for n in [
            "requirements.txt",
            "requirements-dev.txt",
            "requirements.in",
            "uv.lock",
            ".python-version",
        ] {
            assert!(is_packaging_input(n), "{n}");
        }
        for n in ["app.py", "pyproject.toml", "data.txt", "requirements.py"] {
            assert!(!is_packaging_input(n), "{n}");
        }
    }

    #[test]
    fn exclude_and_include() {
        let d = project();
        let f = SrcFilter {
            exclude: vec!["sub/".into(), "*.txt".into()],
            include: vec!["data/".into(), "pylock.toml".into(), "*.pyc".into()],
        };
        let t = walk(d.path(), &f, &[], &[]).unwrap();
        assert_eq!(
            names(&t),
            ["app.py", "data/big.bin", "pkg/__init__.py", "pylock.toml"]
        );
    }

    #[test]
    fn own_outputs_and_their_folder_are_skipped() {
        let d = project();
        write(d.path(), "out/x.zip", b"PK");
        let out = d.path().join("out/x.zip");
        let t = walk(
            d.path(),
            &SrcFilter {
                include: vec!["out/".into()],
                ..Default::default()
            },
            &[out],
            &[],
        )
        .unwrap();
        assert!(!names(&t).iter().any(|n| n.starts_with("out/")));
    }

    #[test]
    fn parent_ignores_apply_up_to_the_repository_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, ".gitignore", b"*.log\n");
        write(r, "repo/.git/HEAD", b"");
        write(r, "repo/.gitignore", b"*.bak\n");
        write(r, "repo/fn/a.py", b"");
        write(r, "repo/fn/a.bak", b"");
        write(r, "repo/fn/a.log", b"");
        let t = walk(&r.join("repo/fn"), &SrcFilter::default(), &[], &[]).unwrap();
        assert_eq!(names(&t), ["a.log", "a.py"]);
    }

    #[test]
    fn bad_glob_is_an_error_naming_it() {
        let d = project();
        let f = SrcFilter {
            exclude: vec!["[z-a]".into()],
            ..Default::default()
        };
        let e = walk(d.path(), &f, &[], &[]).unwrap_err().to_string();
        assert!(e.contains("`[z-a]`"), "{e}");
    }
}
