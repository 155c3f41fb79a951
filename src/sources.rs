//! Sources: opening the cache and the package sources (index settings merged from the flags,
//! the requirements file and the environment), reading an input, and turning it into a lock for
//! one target — and `lpack lock`'s writing of that lock.
//!
//! It sits at the resolve/fetch layer, above [`crate::resolve`] and [`crate::fetch`], so every
//! command that reads an input or fetches (`build`, `lock`, `explain`, `check`, bench) shares it
//! without reaching into a composition root. Its errors are [`SourcesError`].

use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::http::Http;
use crate::progress::Reporter;
use crate::requirements::{IndexOptions, PinnedSet, RequirementSet};
use crate::resolve::closure::check_closed;
use crate::resolve::index::{DEFAULT_INDEX, IndexClient};
use crate::resolve::inputs::{self, InputKind};
use crate::resolve::solver::{Prerelease, Provider};
use crate::resolve::{Lock, pylock, resolve_pinned};
use crate::target::Target;

/// Why opening sources, reading an input or locking it failed.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// The input cannot be read or locked as asked (a bad combination of settings or names).
    #[error("{0}")]
    Request(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Input(#[from] crate::resolve::inputs::InputError),
    #[error(transparent)]
    Requirements(#[from] crate::requirements::RequirementsError),
    #[error(transparent)]
    Lock(#[from] crate::resolve::pylock::LockError),
    #[error(transparent)]
    Solve(#[from] crate::resolve::solver::SolveError),
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
}

/// Where packages come from, as given on the command line (or by any other front end).
#[derive(Debug, Clone, Default)]
pub struct IndexSettings {
    /// Primary index; `None` falls back to the requirements file, then the environment.
    pub index_url: Option<String>,
    pub extra_index_url: Vec<String>,
    pub find_links: Vec<String>,
    pub no_index: bool,
    /// A second cache tier shared with other machines (`--remote-cache`), asked on local misses.
    pub remote: Option<std::sync::Arc<crate::cache::remote::RemoteTier>>,
}

/// Merge the given settings, the requirements file and the environment into index settings.
/// Precedence for the primary index: given, requirements file, environment, default.
pub fn index_sources(given: &IndexSettings, file: &IndexOptions) -> (Vec<String>, Vec<String>) {
    let no_index = given.no_index || file.no_index;
    let mut indexes = Vec::new();
    if !no_index {
        let env = std::env::var("PIP_INDEX_URL")
            .ok()
            .or_else(|| std::env::var("UV_INDEX_URL").ok())
            .filter(|s| !s.trim().is_empty());
        let primary = given
            .index_url
            .clone()
            .or_else(|| file.index_url.clone())
            .or(env)
            .unwrap_or_else(|| DEFAULT_INDEX.to_string());
        indexes.push(primary);
        for extra in file.extra_index_urls.iter().chain(&given.extra_index_url) {
            if !indexes.contains(extra) {
                indexes.push(extra.clone());
            }
        }
    }
    let mut find_links: Vec<String> = given.find_links.clone();
    for f in &file.find_links {
        if !find_links.contains(f) {
            find_links.push(f.clone());
        }
    }
    (indexes, find_links)
}

/// Cache, HTTP client and index client, set up the same way for every command that fetches.
pub struct Sources {
    pub cache: Cache,
    pub http: Option<Http>,
    pub client: IndexClient,
}

/// Open the cache and the package sources: `index` settings, then the requirements file's
/// options (`file`), then the environment (see [`index_sources`]).
pub fn open_sources(
    cache_dir: Option<&Path>,
    offline: bool,
    index: &IndexSettings,
    file: &IndexOptions,
) -> Result<Sources, SourcesError> {
    let root = cache_dir.map_or_else(Cache::default_root, Path::to_path_buf);
    // --offline touches no network: not a remote cache either.
    let remote = index.remote.clone().filter(|_| !offline);
    let cache = Cache::open(&root)?.with_remote(remote);
    let http = if offline { None } else { Some(Http::new()?) };
    let (indexes, find_links) = index_sources(index, file);
    let client = IndexClient::new(http.clone(), cache.clone(), indexes, find_links, offline);
    Ok(Sources {
        cache,
        http,
        client,
    })
}

/// What a command was asked to build or lock from.
pub struct Input {
    pub path: PathBuf,
    pub kind: InputKind,
    /// Requirements read from a requirements file or pyproject.toml (None for locks).
    pub set: Option<RequirementSet>,
}

/// Find and read the input: the given file, or the project's own in the current directory.
pub fn read_input(
    given: Option<&Path>,
    target: &Target,
    extras: &[String],
    groups: &[String],
) -> Result<Input, SourcesError> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => inputs::find_input(Path::new("."))?,
    };
    let kind = inputs::kind_of(&path);
    let set = match kind {
        InputKind::Requirements => Some(crate::requirements::read_requirements(&path, target)?),
        InputKind::Pyproject => Some(inputs::read_pyproject(&path, target, extras, groups)?),
        InputKind::Pylock | InputKind::UvLock => None,
    };
    if !extras.is_empty() && kind == InputKind::Requirements {
        return Err(SourcesError::Request(
            "--extra applies to pyproject.toml and uv.lock inputs; write `name[extra]` in a requirements file".to_string(),
        ));
    }
    Ok(Input { path, kind, set })
}

/// Turn an input into the wheels to use.
///
/// Only a complete lock is taken as it is: a `pylock.toml`, a `uv.lock`, or a requirements file
/// in pip's hash-checking mode (every line pinned and hashed); its pinned set is then checked to
/// be closed under its dependencies for the target. Anything else — loose requirements, and
/// plain `==` pins too — is resolved, so that pins bring their dependencies as with pip and uv.
/// `no_deps` (`--no-deps`) takes the requirements alone: no dependencies, no check. `req` gives
/// the extras and the pre-release policy; `sources` the index client, cache and HTTP client.
pub fn lock_input(
    input: &Input,
    req: &LockRequest<'_>,
    no_deps: bool,
    sources: &Sources,
    target: &Target,
    reporter: &dyn Reporter,
) -> Result<(Lock, PinnedSet), SourcesError> {
    let (extras, prerelease) = (req.extra, req.prerelease);
    let (client, cache, http) = (&sources.client, &sources.cache, sources.http.as_ref());
    let empty = || PinnedSet {
        pins: Vec::new(),
        index: Default::default(),
        skipped: Vec::new(),
    };
    let shown = input.path.file_name().map_or_else(
        || input.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let fetcher = crate::fetch::Fetcher {
        cache,
        http,
        offline: client.offline(),
        timings: reporter.timings(),
        landed: req.landed,
    };
    let Some(set) = &input.set else {
        let lock = match input.kind {
            InputKind::UvLock => inputs::read_uv_lock(&input.path, target, extras)?,
            _ => pylock::read(&input.path, target)?,
        };
        if !no_deps {
            check_closed(&lock, &[], target, client, http, &fetcher, &shown)?;
        }
        return Ok((lock, empty()));
    };
    let complete = set.hashed && set.unpinned.is_empty() && set.constraints.is_empty();
    if complete || (no_deps && set.unpinned.is_empty()) {
        let lock = resolve_pinned(&set.pinned, target, client, reporter)?;
        if !no_deps {
            check_closed(
                &lock,
                &set.requirements,
                target,
                client,
                http,
                &fetcher,
                &shown,
            )?;
        }
        return Ok((lock, set.pinned.clone()));
    }
    // Each pin's own files first: a pin without a wheel for the target is reported with the
    // tags on offer and a way out, before any resolution (index pages are read once per run).
    if !set.pinned.pins.is_empty() {
        resolve_pinned(&set.pinned, target, client, &crate::progress::Silent)?;
    }
    let provider = Provider::new(
        client,
        http,
        &fetcher,
        target,
        &set.requirements,
        &set.constraints,
        prerelease,
    )?;
    let provider = if no_deps {
        provider.without_dependencies()
    } else {
        provider
    };
    let pinned = pylock::resolve_requirements(set, &provider)?;
    let lock = resolve_pinned(&pinned, target, client, reporter)?;
    Ok((lock, pinned))
}

/// Everything a command needs after reading its input and locking it.
pub struct Locked {
    pub input: Input,
    pub sources: Sources,
    pub lock: Lock,
    pub pinned: PinnedSet,
}

/// How to read and lock an input (shared by `build` and `lock`).
pub struct LockRequest<'a> {
    pub requirements: Option<&'a Path>,
    pub extra: &'a [String],
    pub group: &'a [String],
    pub cache_dir: Option<&'a Path>,
    pub offline: bool,
    pub index: &'a IndexSettings,
    pub prerelease: Prerelease,
    /// Work on each wheel locking downloads (to read its metadata), as soon as it lands.
    pub landed: Option<&'a crate::fetch::Landed<'a>>,
}

/// Read the input, open the sources it names, and lock it for the target.
pub fn read_and_lock(
    req: &LockRequest<'_>,
    target: &Target,
    reporter: &dyn Reporter,
) -> Result<Locked, SourcesError> {
    read_and_lock_deps(req, false, target, reporter)
}

/// [`read_and_lock`], with `no_deps` (`--no-deps`: the requirements alone, see [`lock_input`]).
pub fn read_and_lock_deps(
    req: &LockRequest<'_>,
    no_deps: bool,
    target: &Target,
    reporter: &dyn Reporter,
) -> Result<Locked, SourcesError> {
    let input = read_input(req.requirements, target, req.extra, req.group)?;
    let file_index = input
        .set
        .as_ref()
        .map(|s| s.pinned.index.clone())
        .unwrap_or_default();
    let sources = open_sources(req.cache_dir, req.offline, req.index, &file_index)?;
    let key = lock_key(&input, req, no_deps, target);
    let (lock, pinned) = match key.as_deref().and_then(locked_before) {
        Some(done) => done,
        None => {
            let done = lock_input(&input, req, no_deps, &sources, target, reporter)?;
            if let (Some(key), Ok(mut locks)) = (key, LOCKS.lock()) {
                locks.push((key, done.0.clone(), done.1.clone()));
            }
            done
        }
    };
    Ok(Locked {
        input,
        sources,
        lock,
        pinned,
    })
}

/// The locks this process made, by [`lock_key`]: the builds of one run over many functions
/// usually share their input, which is then locked (index pages, the closure check) once.
static LOCKS: std::sync::Mutex<Vec<(String, Lock, PinnedSet)>> = std::sync::Mutex::new(Vec::new());

/// A lock this process made before for `key`.
fn locked_before(key: &str) -> Option<(Lock, PinnedSet)> {
    let locks = LOCKS.lock().ok()?;
    let (_, lock, pinned) = locks.iter().find(|(k, _, _)| k == key)?;
    Some((lock.clone(), pinned.clone()))
}

/// Everything that decides how `input` locks: its requirements as read (or a lock file's
/// bytes), the request's extras, groups, cache, indexes and policies, and the target. `None`
/// when a lock file cannot be read (locking it reports why).
fn lock_key(
    input: &Input,
    req: &LockRequest<'_>,
    no_deps: bool,
    target: &Target,
) -> Option<String> {
    let content = match &input.set {
        Some(set) => format!("{set:?}"),
        None => crate::digest::sha256_hex(&std::fs::read(&input.path).ok()?),
    };
    let i = req.index;
    Some(crate::digest::sha256_hex(
        format!(
            "{:?}|{:?}|{content}|{:?}|{:?}|{:?}|{}|{no_deps}|{:?}|{target}|{:?}|{:?}|{:?}|{}",
            input.path,
            input.kind,
            req.extra,
            req.group,
            req.cache_dir,
            req.offline,
            req.prerelease as u8,
            i.index_url,
            i.extra_index_url,
            i.find_links,
            i.no_index,
        )
        .as_bytes(),
    ))
}

/// What `lpack lock` wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// One wheel per package, sorted by name, each with its verified sha256.
    pub entries: Vec<(crate::resolve::LockedWheel, String)>,
    pub warnings: Vec<String>,
}

/// The lock format an output file's name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFormat {
    /// `pylock.toml` / `pylock.NAME.toml`: PEP 751.
    Pylock,
    /// `*.txt`: a requirements file, `name==version --hash=sha256:…` per package.
    Requirements,
}

impl LockFormat {
    /// The format `output`'s name asks for; any other name is refused (a file `build -r` would
    /// read as something else).
    pub fn of(output: &Path) -> Result<LockFormat, SourcesError> {
        if pylock::is_pylock(output) {
            return Ok(LockFormat::Pylock);
        }
        if output.extension().is_some_and(|e| e == "txt") {
            return Ok(LockFormat::Requirements);
        }
        Err(SourcesError::Request(format!(
            "{}: lpack cannot tell which lock format this name asks for\n  hint: -o pylock.toml (or pylock.NAME.toml) writes a PEP 751 lock; -o NAME.txt writes a requirements file with hashes (`name==version --hash=sha256:…`); `lpack build -r` reads both",
            output.display()
        )))
    }
}

/// A hashed requirements file for one target: what `pip install --require-hashes -r` and
/// `lpack build -r` read. The lock is for one target, so no line needs a marker; the target is
/// stated in the header.
pub fn render_requirements(
    target: &Target,
    wheels: &[(crate::resolve::LockedWheel, String)],
    requested: &[String],
) -> String {
    let mut out =
        String::from("# This file was written by lpack (`lpack lock`). Do not edit by hand.\n");
    out.push_str(&format!(
        "# For {target} only: python_version == '3.{}', platform_machine == '{}'; lock again for another target\n",
        target.runtime.minor(),
        target.arch.machine()
    ));
    if !requested.is_empty() {
        out.push_str(&format!("# requested: {}\n", requested.join(", ")));
    }
    for (w, sha) in wheels {
        out.push_str(&format!(
            "{}=={} \\\n    --hash=sha256:{sha}\n",
            w.name, w.version
        ));
        out.push_str(&format!("    # wheel: {}\n", w.filename));
    }
    out
}

/// `lpack lock`: lock the input for `target` and write it to `output`, in the format its name
/// asks for ([`LockFormat::of`]). A wheel whose index gave no sha256 is fetched (into the cache)
/// so that its hash is the file's own.
pub fn write_lock(
    req: &LockRequest<'_>,
    target: &Target,
    output: &Path,
    reporter: &dyn Reporter,
) -> Result<Written, SourcesError> {
    let format = LockFormat::of(output)?;
    let Locked {
        input,
        sources: Sources { cache, http, .. },
        lock,
        ..
    } = read_and_lock(req, target, reporter)?;
    let requested: Vec<String> = input
        .set
        .as_ref()
        .map(|s| s.requirements.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    let (missing, known): (Vec<_>, Vec<_>) = lock
        .wheels
        .iter()
        .cloned()
        .partition(|w| w.index_sha256.is_none());
    let mut entries: Vec<(crate::resolve::LockedWheel, String)> = known
        .into_iter()
        .map(|w| {
            let sha = w.index_sha256.clone().unwrap_or_default();
            (w, sha)
        })
        .collect();
    if !missing.is_empty() {
        let sub = Lock {
            wheels: missing,
            warnings: Vec::new(),
        };
        let (fetched, _) = crate::fetch::fetch(&sub, &cache, http.as_ref(), req.offline, reporter)?;
        entries.extend(fetched.into_iter().map(|f| (f.locked, f.sha256)));
    }
    entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let text = match format {
        LockFormat::Pylock => pylock::render(target, &entries, &requested),
        LockFormat::Requirements => render_requirements(target, &entries, &requested),
    };
    crate::outfile::write_output(output, text.as_bytes()).map_err(|source| {
        SourcesError::Write {
            path: output.to_path_buf(),
            source,
        }
    })?;
    Ok(Written {
        entries,
        warnings: lock.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_reused_only_for_the_same_bytes_and_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pylock.toml");
        let input = || Input {
            path: path.clone(),
            kind: InputKind::Pylock,
            set: None,
        };
        let index = IndexSettings::default();
        let extra = vec!["plot".to_string()];
        let req = |extra: &'static [String]| LockRequest {
            requirements: None,
            extra,
            group: &[],
            cache_dir: None,
            offline: false,
            index: Box::leak(Box::new(index.clone())),
            prerelease: Prerelease::default(),
            landed: None,
        };
        let target = Target::new(
            crate::target::Runtime::Python312,
            crate::target::Arch::X86_64,
        );
        std::fs::write(&path, "lock-version = \"1.0\"\n").expect("write");
        let key = |r: &LockRequest<'_>, no_deps| lock_key(&input(), r, no_deps, &target);
        let first = key(&req(&[]), false).expect("key");
        assert_eq!(key(&req(&[]), false), Some(first.clone()));
        assert_ne!(key(&req(&[]), true), Some(first.clone()));
        let extra: &'static [String] = Box::leak(extra.into_boxed_slice());
        assert_ne!(key(&req(extra), false), Some(first.clone()));
        std::fs::write(&path, "lock-version = \"1.0\"\n# edited\n").expect("write");
        assert_ne!(key(&req(&[]), false), Some(first));
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(key(&req(&[]), false), None);
    }

    #[test]
    fn the_output_name_picks_the_lock_format() {
        let of = |n: &str| LockFormat::of(Path::new(n)).ok();
        assert_eq!(of("pylock.toml"), Some(LockFormat::Pylock));
        assert_eq!(of("locks/pylock.api.toml"), Some(LockFormat::Pylock));
        assert_eq!(of("requirements.lock.txt"), Some(LockFormat::Requirements));
        assert_eq!(of("lock.toml"), None);
        assert_eq!(of("deps.lock"), None);
        let e = LockFormat::of(Path::new("deps.lock"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pylock.toml") && e.contains("NAME.txt"), "{e}");
    }
}
