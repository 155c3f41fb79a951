//! Resolve: from requirements to the exact wheel files that run on the target.
//!
//! For a pinned set (every requirement `name==version`), resolution is a choice per pin: among
//! the files the sources offer for that version, take the wheel whose best tag ranks highest in
//! the target's tag order (ties: higher build number, then the first source). Yanked files are
//! allowed because every pin is exact (PEP 592) but produce a warning; `Requires-Python` that
//! excludes the target rules a file out.
//!
//! When nothing fits, the error says why in the user's terms — the tags the files offer, the
//! tags the target takes, and a concrete way out (an older pin, another runtime, another
//! architecture, or `--find-links` for sdist-only packages).
//!
//! Which inputs are resolved and which are trusted is decided in `crate::sources::lock_input`;
//! a trusted lock is checked for completeness by [`closure::check_closed`].

pub mod closure;
pub mod index;
pub mod inputs;
pub mod pkg;
pub mod pylock;
pub mod report;
pub mod solver;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use crate::progress::{Phase, Reporter};
use crate::requirements::{Pin, PinnedSet};
use crate::target::{Arch, Runtime, Target};
use crate::wheel::WheelFilename;
use index::{DistFile, FileLocation, IndexClient, IndexError};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{name}: {source}")]
    Index {
        name: String,
        #[source]
        source: IndexError,
    },
    #[error(
        "package `{name}` ({location}) was not found on {sources}\n  hint: check the spelling, or point lpack at the index that has it with --index-url / --extra-index-url / --find-links"
    )]
    NotFound {
        name: String,
        location: String,
        sources: String,
    },
    #[error(
        "`{name}=={version}` ({location}) does not exist on {sources}; available versions include: {available}\n  hint: fix the pin, or re-lock the requirements"
    )]
    NoSuchVersion {
        name: String,
        version: String,
        location: String,
        sources: String,
        available: String,
    },
    #[error("{0}")]
    NoCompatibleWheel(Box<NoCompatibleWheel>),
    /// Reading a locked wheel's dependencies failed (the message names the wheel).
    #[error("{0}")]
    Metadata(String),
    /// A complete lock that lacks a dependency (one line per problem).
    #[error("{0}")]
    Incomplete(String),
}

/// Why no wheel of a pinned version fits the target.
#[derive(Debug, thiserror::Error)]
#[error(
    "no wheel of `{name}=={version}` runs on {target}\n  the files offer: {offered}\n  the target takes: {accepted}\n  hint: {hint}"
)]
pub struct NoCompatibleWheel {
    pub name: String,
    pub version: String,
    pub target: String,
    pub offered: String,
    pub accepted: String,
    pub hint: String,
}

/// One chosen wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedWheel {
    pub name: String,
    pub version: String,
    pub filename: String,
    pub location: FileLocation,
    /// Digest the index states for this file.
    pub index_sha256: Option<String>,
    /// Digests the requirements allow (`--hash`); empty = any.
    pub allowed_sha256: Vec<String>,
    pub source: String,
}

/// The wheels that make up an artifact, sorted by name.
#[derive(Debug, Clone)]
pub struct Lock {
    pub wheels: Vec<LockedWheel>,
    pub warnings: Vec<String>,
}

/// Downloads one wheel into the cache, verified against its hashes, and returns where it is.
/// The resolver reads a wheel's METADATA through this when the index serves no PEP 658 file;
/// the fetch stage implements it (`fetch::Fetcher`), so resolve never names fetch.
pub trait WheelFetch: Sync {
    fn fetch_wheel(&self, wheel: &LockedWheel) -> Result<std::path::PathBuf, String>;
}

/// Run `f` over `items` on up to `workers` threads, keeping input order in the output.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut g) = results.lock() {
                        g[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Choose one wheel per pin.
pub fn resolve_pinned(
    set: &PinnedSet,
    target: &Target,
    client: &IndexClient,
    reporter: &dyn Reporter,
) -> Result<Lock, ResolveError> {
    reporter.start(Phase::Index, set.pins.len() as u64);
    let results = parallel_map(&set.pins, 8, |pin| {
        if let Some((filename, location)) = &pin.direct {
            reporter.advance(Phase::Index, 1);
            return Ok((
                LockedWheel {
                    name: pin.name.clone(),
                    version: pin.version.to_string(),
                    filename: filename.clone(),
                    location: location.clone(),
                    index_sha256: None,
                    allowed_sha256: pin.hashes.clone(),
                    source: location.display(),
                },
                Vec::new(),
            ));
        }
        // A hashed pin resolved before for this target: the cache answers, no index needed.
        if let Some(found) = remembered(pin, target, client) {
            reporter.advance(Phase::Index, 1);
            return Ok(found);
        }
        // Offline with hashes: the cache alone can answer, no index page needed.
        if client.offline() && !pin.hashes.is_empty() {
            let cached = client.cached_files(&pin.hashes);
            if let Ok(found) = choose(pin, &cached, target, client) {
                reporter.advance(Phase::Index, 1);
                return Ok(found);
            }
        }
        let r = client
            .project_files(&pin.name)
            .map_err(|source| ResolveError::Index {
                name: pin.name.clone(),
                source,
            })
            .and_then(|files| choose(pin, &files, target, client));
        if let Ok((w, _)) = &r {
            remember(pin, target, client, w);
        }
        reporter.advance(Phase::Index, 1);
        r
    });
    reporter.finish(Phase::Index);
    let mut wheels = Vec::new();
    let mut warnings = Vec::new();
    for r in results {
        let (w, warn) = r?;
        wheels.push(w);
        warnings.extend(warn);
    }
    wheels.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Lock { wheels, warnings })
}

/// The cache's record directory for remembered wheel choices.
const CHOICES: &str = "choices-v1";

/// A remembered wheel choice: which file, its digest, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub sha256: String,
    pub filename: String,
    pub url: String,
    pub source: String,
}

fn choice_key(pin: &Pin, target: &Target) -> Option<String> {
    if pin.hashes.is_empty() {
        return None;
    }
    let mut hashes = pin.hashes.clone();
    hashes.sort();
    Some(crate::digest::sha256_hex(
        format!(
            "{}=={}|{}|{}",
            pin.name,
            pin.version,
            hashes.join(","),
            target.slug()
        )
        .as_bytes(),
    ))
}

/// The remembered choice for a hashed pin, if its wheel is still in the cache.
fn remembered(
    pin: &Pin,
    target: &Target,
    client: &IndexClient,
) -> Option<(LockedWheel, Vec<String>)> {
    let key = choice_key(pin, target)?;
    let c: Choice = serde_json::from_slice(&client.cache().read_record(CHOICES, &key)?).ok()?;
    // Only while the wheel itself is cached (here or in the remote tier, which then serves it
    // if the build needs it): otherwise ask the index as usual.
    if !client.cache().has_wheel(&c.sha256, &c.filename) {
        return None;
    }
    let wf = WheelFilename::parse(&c.filename).ok()?;
    wf.priority(target)?;
    Some((
        LockedWheel {
            name: pin.name.clone(),
            version: wf.version.clone(),
            filename: c.filename,
            location: FileLocation::Url(c.url),
            index_sha256: Some(c.sha256),
            allowed_sha256: pin.hashes.clone(),
            source: c.source,
        },
        Vec::new(),
    ))
}

fn remember(pin: &Pin, target: &Target, client: &IndexClient, w: &LockedWheel) {
    // Only a digest the lock allows makes a stable choice.
    if let (Some(key), Some(sha), FileLocation::Url(url)) = (
        choice_key(pin, target),
        w.index_sha256.as_ref(),
        &w.location,
    ) && pin.hashes.contains(sha)
    {
        let choice = Choice {
            sha256: sha.clone(),
            filename: w.filename.clone(),
            url: url.clone(),
            source: w.source.clone(),
        };
        let body = serde_json::to_vec(&choice).unwrap_or_default();
        // Valid forever: the pin's hash list fixes the candidate files, and the choice among
        // them depends only on tags.
        let _ = client.cache().write_record(CHOICES, &key, &body);
    }
}

/// Does a file's version match a pin? PEP 440: a pin without a local label (`==1.2.3`) takes
/// any local version of it (`1.2.3+cpu`).
fn version_eq(filename_version: &str, pin: &Version) -> bool {
    Version::from_str(filename_version).is_ok_and(|v| {
        &v == pin || (pin.local().is_empty() && v.is_local() && &v.without_local() == pin)
    })
}

fn python_ok(requires: &Option<String>, target: &Target) -> bool {
    let Some(req) = requires else { return true };
    let Ok(specs) = VersionSpecifiers::from_str(req) else {
        return true;
    };
    Version::from_str(target.runtime.full_version()).is_ok_and(|v| specs.contains(&v))
}

/// Choose the best wheel for one pin among `files`.
fn choose(
    pin: &Pin,
    files: &[DistFile],
    target: &Target,
    client: &IndexClient,
) -> Result<(LockedWheel, Vec<String>), ResolveError> {
    if files.is_empty() {
        return Err(ResolveError::NotFound {
            name: pin.name.clone(),
            location: pin.location.clone(),
            sources: client.describe_sources(),
        });
    }
    let of_version: Vec<&DistFile> = files
        .iter()
        .filter(|f| index::file_version(&f.filename).is_some_and(|v| version_eq(&v, &pin.version)))
        .collect();
    if of_version.is_empty() {
        let mut versions: Vec<Version> = files
            .iter()
            .filter_map(|f| index::file_version(&f.filename))
            .filter_map(|v| Version::from_str(&v).ok())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        versions.reverse();
        let mut available: Vec<String> = versions.iter().take(8).map(|v| v.to_string()).collect();
        if versions.len() > 8 {
            available.push(format!("… ({} in all)", versions.len()));
        }
        return Err(ResolveError::NoSuchVersion {
            name: pin.name.clone(),
            version: pin.version.to_string(),
            location: pin.location.clone(),
            sources: client.describe_sources(),
            available: available.join(", "),
        });
    }
    let mut best: Option<(
        usize,
        std::cmp::Reverse<u64>,
        usize,
        &DistFile,
        WheelFilename,
    )> = None;
    for (order, f) in of_version.iter().enumerate() {
        let Ok(wf) = WheelFilename::parse(&f.filename) else {
            continue;
        };
        if !python_ok(&f.requires_python, target) {
            continue;
        }
        let Some(prio) = wf.priority(target) else {
            continue;
        };
        let key = (prio, std::cmp::Reverse(wf.build_number()), order);
        if best.as_ref().is_none_or(|b| key < (b.0, b.1, b.2)) {
            best = Some((key.0, key.1, key.2, f, wf));
        }
    }
    let Some((_, _, _, file, wf)) = best else {
        return Err(no_compatible(pin, &of_version, target));
    };
    let mut warnings = Vec::new();
    if let Some(reason) = &file.yanked {
        let why = if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        };
        warnings.push(format!(
            "{} {} is yanked{why}; it is used because it is pinned exactly",
            pin.name, pin.version
        ));
    }
    Ok((
        LockedWheel {
            name: pin.name.clone(),
            version: wf.version.clone(),
            filename: file.filename.clone(),
            location: file.location.clone(),
            index_sha256: file.sha256.clone(),
            allowed_sha256: pin.hashes.clone(),
            source: file.source.clone(),
        },
        warnings,
    ))
}

fn no_compatible(pin: &Pin, files: &[&DistFile], target: &Target) -> ResolveError {
    let wheels: Vec<WheelFilename> = files
        .iter()
        .filter_map(|f| WheelFilename::parse(&f.filename).ok())
        .collect();
    let offered = offered_text(&wheels, files.len() - wheels.len());
    let hint = no_compatible_hint(pin, files, &wheels, target);
    let name = &pin.name;
    let version = &pin.version;
    ResolveError::NoCompatibleWheel(Box::new(NoCompatibleWheel {
        name: name.clone(),
        version: version.to_string(),
        target: target.to_string(),
        offered,
        accepted: target.describe_accepted(),
        hint,
    }))
}

/// What the index offers: the wheels' tag sets (at most 12) and the sdists.
fn offered_text(wheels: &[WheelFilename], sdists: usize) -> String {
    let offered: BTreeSet<String> = wheels.iter().map(WheelFilename::tag_string).collect();
    let mut offered_list: Vec<String> = offered.iter().take(12).cloned().collect();
    if offered.len() > 12 {
        offered_list.push(format!("… ({} tag sets in all)", offered.len()));
    }
    if sdists > 0 {
        offered_list.push(format!("{sdists} source distribution(s)"));
    }
    if offered_list.is_empty() {
        "nothing".to_string()
    } else {
        offered_list.join(", ")
    }
}

/// Why no file runs on the target (Requires-Python, sdist only, elsewhere) and what to do.
fn no_compatible_hint(
    pin: &Pin,
    files: &[&DistFile],
    wheels: &[WheelFilename],
    target: &Target,
) -> String {
    let (_, gmin) = target.glibc();
    let name = &pin.name;
    let version = &pin.version;
    let excluded_by_python = files.iter().find_map(|f| {
        let runs = WheelFilename::parse(&f.filename).is_ok_and(|w| w.priority(target).is_some());
        match &f.requires_python {
            Some(rp) if runs && !python_ok(&f.requires_python, target) => Some(rp.clone()),
            _ => None,
        }
    });
    if let Some(rp) = excluded_by_python {
        format!(
            "{name} {version} requires Python {rp}, not {}{}; pin a version that supports it, or change --runtime",
            target.runtime.full_version(),
            solver::upper_bound_note(&rp, target)
        )
    } else if wheels.is_empty() {
        format!(
            "`{name}` {version} ships only a source distribution, and Lambda needs wheels: build one for the target (e.g. `pip wheel {name}=={version}` in a manylinux_2_{gmin} container for {}) and pass its directory with --find-links",
            target.arch.machine()
        )
    } else {
        wheels_elsewhere_hint(pin, files, wheels, target)
    }
}

/// The hint when wheels exist for another glibc, runtime or architecture, or none.
fn wheels_elsewhere_hint(
    pin: &Pin,
    files: &[&DistFile],
    wheels: &[WheelFilename],
    target: &Target,
) -> String {
    let (gmaj, gmin) = target.glibc();
    let name = &pin.name;
    let version = &pin.version;
    // Would another runtime (same arch) or the other arch take one of these wheels? Only
    // where the file's Requires-Python admits that runtime's Python too.
    let fits = |t: &Target| {
        files.iter().any(|f| {
            python_ok(&f.requires_python, t)
                && WheelFilename::parse(&f.filename).is_ok_and(|w| w.priority(t).is_some())
        })
    };
    let other_runtimes: Vec<String> = Runtime::ALL
        .iter()
        .filter(|r| **r != target.runtime)
        .filter(|r| fits(&Target::new(**r, target.arch)))
        .map(|r| r.to_string())
        .collect();
    let other_arch = match target.arch {
        Arch::X86_64 => Arch::Arm64,
        Arch::Arm64 => Arch::X86_64,
    };
    let tag = target.python_tag();
    let needs_newer_glibc: BTreeSet<String> = wheels
        .iter()
        .filter(|w| w.pythons.iter().any(|p| p == &tag) || w.abis.iter().any(|a| a == "abi3"))
        .flat_map(|w| w.platforms.iter())
        .filter(|p| p.ends_with(target.arch.machine()))
        .filter_map(|p| {
            let rest = p.strip_prefix("manylinux_2_")?;
            let minor: u32 = rest.split('_').next()?.parse().ok()?;
            (minor > gmin).then(|| format!("manylinux_2_{minor}"))
        })
        .collect();
    if !needs_newer_glibc.is_empty() {
        let newer: Vec<String> = other_runtimes
            .iter()
            .filter(|r| r.parse::<Runtime>().is_ok_and(|r| r.glibc().1 > gmin))
            .cloned()
            .collect();
        format!(
            "{} runs on glibc {gmaj}.{gmin}; {name} {version} only ships {} wheels for it — pin an older {name}{}",
            target.runtime,
            needs_newer_glibc.into_iter().collect::<Vec<_>>().join("/"),
            newer
                .first()
                .map(|r| format!(" or use {r}"))
                .unwrap_or_default()
        )
    } else if !other_runtimes.is_empty() {
        format!(
            "{name} {version} has wheels for {} but not {}; pin a version that supports {}, or change --runtime",
            other_runtimes.join(", "),
            target.runtime,
            target.runtime
        )
    } else if fits(&Target::new(target.runtime, other_arch)) {
        format!(
            "{name} {version} has wheels for {} but not {}; use --arch {} or pin a version with {} wheels",
            other_arch.machine(),
            target.arch.machine(),
            other_arch,
            target.arch.machine()
        )
    } else {
        format!(
            "no wheel of {name} {version} is for Linux {}/CPython 3.{}; pin another version or supply a wheel with --find-links",
            target.arch.machine(),
            target.runtime.minor()
        )
    }
}

/// Among listed wheels (file name, item) — as a lock file lists them — the one the target
/// prefers by tag; `None` when none runs there.
pub fn best_listed<T>(
    items: impl IntoIterator<Item = (String, T)>,
    target: &Target,
) -> Option<(String, T)> {
    items
        .into_iter()
        .filter_map(|(f, t)| {
            let p = WheelFilename::parse(&f).ok()?.priority(target)?;
            Some((p, f, t))
        })
        .min_by_key(|(p, _, _)| *p)
        .map(|(_, f, t)| (f, t))
}

/// Group a lock's wheels by name (used by the manifest and reports).
pub fn by_name(lock: &Lock) -> BTreeMap<&str, &LockedWheel> {
    lock.wheels.iter().map(|w| (w.name.as_str(), w)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> DistFile {
        DistFile {
            filename: name.to_string(),
            location: FileLocation::Url(format!("https://x/{name}")),
            sha256: None,
            yanked: None,
            requires_python: None,
            core_metadata: false,
            source: "test".into(),
        }
    }

    fn pin(name: &str, v: &str) -> Pin {
        Pin {
            name: name.into(),
            version: Version::from_str(v).expect("version"),
            hashes: vec![],
            location: "req.txt:1".into(),
            direct: None,
        }
    }

    fn client() -> IndexClient {
        let dir = std::env::temp_dir().join("lpack-unit-cache");
        let cache = crate::cache::Cache::open(&dir).expect("cache");
        IndexClient::new(None, cache, vec!["https://idx".into()], vec![], true)
    }

    #[test]
    fn picks_best_tag() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let files = vec![
            file("numpy-2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            file("numpy-2.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
            file("numpy-2.0-cp312-cp312-musllinux_1_2_x86_64.whl"),
            file("numpy-2.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
            file("numpy-2.0.tar.gz"),
            file("numpy-1.9-cp312-cp312-manylinux_2_34_x86_64.whl"),
        ];
        let (w, _) = choose(&pin("numpy", "2.0.0"), &files, &t, &client()).expect("choose");
        assert_eq!(
            w.filename,
            "numpy-2.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        );
    }

    #[test]
    fn glibc_hint_for_al2() {
        let t = Target::new(Runtime::Python311, Arch::X86_64);
        let files = vec![
            file("numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl"),
            file("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.whl"),
            file("numpy-2.4.6-cp312-cp312-manylinux_2_28_x86_64.whl"),
        ];
        let err = choose(&pin("numpy", "2.4.6"), &files, &t, &client()).expect_err("no wheel");
        let msg = err.to_string();
        assert!(msg.contains("python3.11 runs on glibc 2.26"), "{msg}");
        assert!(msg.contains("manylinux_2_27/manylinux_2_28"), "{msg}");
        assert!(msg.contains("or use python3.12"), "{msg}");
    }

    #[test]
    fn arch_and_sdist_hints() {
        let t = Target::new(Runtime::Python312, Arch::Arm64);
        let files = vec![file("fastlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")];
        let msg = choose(&pin("fastlib", "1.0"), &files, &t, &client())
            .expect_err("no wheel")
            .to_string();
        assert!(msg.contains("use --arch x86_64"), "{msg}");
        let files = vec![file("slowlib-1.0.tar.gz")];
        let msg = choose(&pin("slowlib", "1.0"), &files, &t, &client())
            .expect_err("no wheel")
            .to_string();
        assert!(msg.contains("only a source distribution"), "{msg}");
        assert!(msg.contains("--find-links"), "{msg}");
    }

    #[test]
    fn missing_version_lists_available() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let files = vec![
            file("six-1.16.0-py2.py3-none-any.whl"),
            file("six-1.15.0.tar.gz"),
        ];
        let msg = choose(&pin("six", "9.9"), &files, &t, &client())
            .expect_err("no version")
            .to_string();
        assert!(msg.contains("1.16.0, 1.15.0"), "{msg}");
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        let out = parallel_map(&items, 4, |x| x * 2);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
