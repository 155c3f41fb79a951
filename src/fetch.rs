//! Fetch: bring every locked wheel into the cache, verified.
//!
//! A wheel is looked up in the cache by the digest the index states (or, when the index states
//! none, by the digests the requirements allow, or by what its URL served last time). Missing
//! wheels are downloaded in parallel, streamed to a temp file in the cache while being hashed,
//! checked against the index digest *and* the `--hash` list, and only then renamed into place. A
//! mismatch is an error and nothing enters the cache. Local `--find-links` files are hashed and
//! used where they are.
//!
//! `--offline` never touches the network and names every wheel that is not cached.
//!
//! [`check_wheels`] then checks every fetched wheel's integrity and declared size
//! ([`crate::wheel::integrity`]) once per wheel sha256, remembering the findings in the cache.
//!
//! A caller that wants to work on each wheel as soon as it arrives, while the others are still
//! downloading, passes a [`Landed`] hook ([`fetch_then`], [`Fetcher::landed`]): it runs on the
//! downloading thread, once per wheel this fetch downloaded.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::cache::{Cache, CacheError};
use crate::digest::{hex, sha256_file};
use crate::http::{Http, HttpError};
use crate::progress::{Phase, Reporter};
use crate::resolve::index::FileLocation;
use crate::resolve::{Lock, LockedWheel, parallel_map};
use crate::timings::{Recorder, Stage};
use crate::wheel::integrity::{FACTS_FORMAT, Facts, IntegrityError, SizeLimit, inspect};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "sha256 mismatch for {filename} from {url}\n  expected: {expected}\n  got:      {actual}\n  hint: the file changed on the index or the lock's hashes are stale; re-lock, or check the index. Nothing was cached."
    )]
    HashMismatch {
        filename: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "--offline: {count} wheel(s) are not in the cache:\n{list}\n  hint: run the same build once without --offline to fill the cache"
    )]
    OfflineMissing { count: usize, list: String },
    #[error("downloading {filename}: {source}")]
    Http {
        filename: String,
        #[source]
        source: HttpError,
    },
    #[error("writing {path}: {source}\n  hint: free space there, or point --cache-dir elsewhere")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
}

/// A wheel available on local disk with a verified digest.
#[derive(Debug, Clone)]
pub struct FetchedWheel {
    pub locked: LockedWheel,
    pub path: PathBuf,
    pub sha256: String,
    /// Whether this build downloaded it (false: cache hit or local file).
    pub downloaded: bool,
}

/// Summary numbers of a fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchStats {
    /// Wheels this process downloaded, for this fetch or earlier (to read their metadata while
    /// resolving).
    pub downloaded: usize,
    pub downloaded_bytes: u64,
    /// Wheels that were in the cache before this process ran.
    pub cached: usize,
    /// Wheels read from local files (`--find-links DIR`, `file://`), never downloaded nor cached.
    pub local: usize,
}

/// The sha256 of every wheel this process downloaded: the resolver downloads wheels whose index
/// serves no metadata file, and the build's own fetch then finds them in the cache; they are
/// still this run's downloads, not cache hits.
static DOWNLOADED_HERE: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

fn note_download(sha256: &str) {
    if let Ok(mut d) = DOWNLOADED_HERE.lock() {
        d.insert(sha256.to_string());
    }
}

fn downloaded_here(sha256: &str) -> bool {
    DOWNLOADED_HERE.lock().is_ok_and(|d| d.contains(sha256))
}

fn expected_of(w: &LockedWheel) -> String {
    match (&w.index_sha256, w.allowed_sha256.is_empty()) {
        (Some(h), _) => h.clone(),
        (None, false) => w.allowed_sha256.join(" or "),
        (None, true) => "(no digest known)".to_string(),
    }
}

fn verify(w: &LockedWheel, actual: &str) -> Result<(), FetchError> {
    let index_ok = w.index_sha256.as_deref().is_none_or(|h| h == actual);
    let allowed_ok = w.allowed_sha256.is_empty() || w.allowed_sha256.iter().any(|h| h == actual);
    if index_ok && allowed_ok {
        return Ok(());
    }
    let expected = if !index_ok {
        expected_of(w)
    } else {
        format!("one of the --hash values: {}", w.allowed_sha256.join(", "))
    };
    Err(FetchError::HashMismatch {
        filename: w.filename.clone(),
        url: w.location.display(),
        expected,
        actual: actual.to_string(),
    })
}

/// Find a wheel in the cache without the network.
fn cached(cache: &Cache, w: &LockedWheel) -> Option<(PathBuf, String)> {
    let mut candidates: Vec<String> = w.index_sha256.iter().cloned().collect();
    if w.index_sha256.is_none() {
        candidates.extend(w.allowed_sha256.iter().cloned());
        if let FileLocation::Url(u) = &w.location
            && let Some(h) = cache.url_digest(u)
        {
            candidates.push(h);
        }
    }
    candidates.into_iter().find_map(|h| {
        let p = cache.wheel(&h, &w.filename)?;
        verify(w, &h).ok()?;
        Some((p, h))
    })
}

/// Work to do on a wheel as soon as it is downloaded and verified, on the downloading thread
/// (the other downloads go on meanwhile). Not called for wheels that were already cached.
pub type Landed<'a> = dyn Fn(&FetchedWheel, &Cache) + Sync + 'a;

/// Make every wheel of `lock` available locally.
pub fn fetch(
    lock: &Lock,
    cache: &Cache,
    http: Option<&Http>,
    offline: bool,
    reporter: &dyn Reporter,
) -> Result<(Vec<FetchedWheel>, FetchStats), FetchError> {
    fetch_then(lock, cache, http, offline, reporter, None)
}

/// [`fetch`], running `landed` on each wheel it downloads as soon as that wheel is in the cache.
pub fn fetch_then(
    lock: &Lock,
    cache: &Cache,
    http: Option<&Http>,
    offline: bool,
    reporter: &dyn Reporter,
    landed: Option<&Landed<'_>>,
) -> Result<(Vec<FetchedWheel>, FetchStats), FetchError> {
    // Resolve what is already here first, so offline errors list everything missing at once.
    let mut plan: Vec<(LockedWheel, Option<(PathBuf, String)>)> = Vec::new();
    let mut missing = Vec::new();
    for w in &lock.wheels {
        let hit = match &w.location {
            // A wheel found in the cache by digest was verified when it entered: no re-hash.
            FileLocation::Path(p) if cache.contains(p) => {
                w.index_sha256.clone().map(|h| (p.clone(), h))
            }
            FileLocation::Path(_) => None,
            FileLocation::Url(_) => cached(cache, w),
        };
        if hit.is_none() && offline && matches!(w.location, FileLocation::Url(_)) {
            missing.push(format!("    {} ({}=={})", w.filename, w.name, w.version));
        }
        plan.push((w.clone(), hit));
    }
    if !missing.is_empty() {
        return Err(FetchError::OfflineMissing {
            count: missing.len(),
            list: missing.join("\n"),
        });
    }
    reporter.start(Phase::Download, plan.len() as u64);
    let rec = reporter.timings();
    let results = parallel_map(&plan, 8, |(w, hit)| {
        let span = crate::timings::thread_span(rec, Stage::Download, Some(&w.name));
        let r = match (hit, &w.location) {
            (Some((path, sha)), _) => Ok(FetchedWheel {
                locked: w.clone(),
                path: path.clone(),
                sha256: sha.clone(),
                downloaded: false,
            }),
            (None, FileLocation::Path(p)) => local(w, p),
            (None, FileLocation::Url(u)) => match http {
                Some(http) => download(w, u, cache, http, reporter),
                None => Err(FetchError::OfflineMissing {
                    count: 1,
                    list: format!("    {}", w.filename),
                }),
            },
        };
        reporter.advance(Phase::Download, 1);
        span.end();
        if let (Some(landed), Ok(w)) = (landed, &r)
            && w.downloaded
        {
            landed(w, cache);
        }
        r
    });
    reporter.finish(Phase::Download);
    let mut out = Vec::with_capacity(results.len());
    let mut stats = FetchStats::default();
    for r in results {
        let f = r?;
        let local = matches!(f.locked.location, FileLocation::Path(ref p) if !cache.contains(p));
        if f.downloaded || downloaded_here(&f.sha256) {
            stats.downloaded += 1;
            stats.downloaded_bytes += std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
        } else if local {
            stats.local += 1;
        } else {
            stats.cached += 1;
        }
        out.push(f);
    }
    Ok((out, stats))
}

fn local(w: &LockedWheel, p: &std::path::Path) -> Result<FetchedWheel, FetchError> {
    let sha = sha256_file(p).map_err(|source| FetchError::Local {
        path: p.to_path_buf(),
        source,
    })?;
    verify(w, &sha)?;
    Ok(FetchedWheel {
        locked: w.clone(),
        path: p.to_path_buf(),
        sha256: sha,
        downloaded: false,
    })
}

fn download(
    w: &LockedWheel,
    url: &str,
    cache: &Cache,
    http: &Http,
    reporter: &dyn Reporter,
) -> Result<FetchedWheel, FetchError> {
    let http_err = |source| FetchError::Http {
        filename: w.filename.clone(),
        source,
    };
    let mut resp = http.get_ok(url, None).map_err(http_err)?;
    let mut tmp = cache.temp_file()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(http_err(Http::transfer_error(url, &e))),
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|source| FetchError::Write {
                path: tmp.path().to_path_buf(),
                source,
            })?;
        reporter.bytes(Phase::Download, n as u64);
    }
    let sha = hex(&hasher.finalize());
    // On mismatch `tmp` is dropped here, which deletes it: nothing enters the cache.
    verify(w, &sha)?;
    let path = cache.commit_wheel(tmp, &sha, &w.filename)?;
    note_download(&sha);
    if w.index_sha256.is_none() {
        let _ = cache.record_url_digest(url, &sha);
    }
    Ok(FetchedWheel {
        locked: w.clone(),
        path,
        sha256: sha,
        downloaded: true,
    })
}

/// What [`check_wheels`] enforces.
#[derive(Debug, Clone)]
pub struct CheckPolicy {
    pub limit: SizeLimit,
    /// `false` (`--no-verify-record`): RECORD problems become warnings.
    pub verify_record: bool,
}

/// Check every wheel's integrity and size ([`crate::wheel::integrity`]); findings are cached by
/// wheel sha256, so each wheel is inflated for hashing once. Returns warnings (RECORD problems
/// shipped anyway under `--no-verify-record`).
pub fn check_wheels(
    wheels: &[FetchedWheel],
    cache: &Cache,
    policy: &CheckPolicy,
) -> Result<Vec<String>, FetchError> {
    check_wheels_timed(wheels, cache, policy, None)
}

/// [`check_wheels`], each wheel's check recorded as an `integrity` span.
pub fn check_wheels_timed(
    wheels: &[FetchedWheel],
    cache: &Cache,
    policy: &CheckPolicy,
    rec: Option<&Recorder>,
) -> Result<Vec<String>, FetchError> {
    use rayon::prelude::*;
    // Largest first (as slim does): the longest checks start at once.
    let mut order: Vec<(std::cmp::Reverse<u64>, usize)> = wheels
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let size = std::fs::metadata(&w.path).map_or(0, |m| m.len());
            (std::cmp::Reverse(size), i)
        })
        .collect();
    order.sort();
    let mut done: Vec<(usize, Result<Option<String>, FetchError>)> = order
        .into_par_iter()
        .with_max_len(1)
        .map(|(_, i)| {
            let w = &wheels[i];
            let _span = crate::timings::thread_span(rec, Stage::Integrity, Some(&w.locked.name));
            (i, check_wheel(w, cache, policy))
        })
        .collect();
    done.sort_by_key(|(i, _)| *i);
    let results: Vec<Result<Option<String>, FetchError>> =
        done.into_iter().map(|(_, r)| r).collect();
    let mut warnings = Vec::new();
    for r in results {
        warnings.extend(r?);
    }
    Ok(warnings)
}

/// Check one wheel as [`check_wheels`] does (its findings remembered in the cache): a warning
/// under `--no-verify-record`, or the error.
pub fn check_wheel(
    w: &FetchedWheel,
    cache: &Cache,
    policy: &CheckPolicy,
) -> Result<Option<String>, FetchError> {
    let name = &w.locked.filename;
    let remembered = cache
        .read_check(&w.sha256)
        .and_then(|b| serde_json::from_slice::<Facts>(&b).ok())
        .filter(|f| f.format == FACTS_FORMAT && &f.filename == name);
    let facts = match remembered {
        Some(f) => {
            f.check_size(name, &policy.limit)?;
            f
        }
        None => {
            let f = inspect(&w.path, name, &policy.limit)?;
            if let Ok(body) = serde_json::to_vec(&f) {
                cache.write_check(&w.sha256, &body)?;
            }
            f
        }
    };
    match facts.record_problem {
        None => Ok(None),
        Some(problem) if policy.verify_record => Err(IntegrityError::Record {
            wheel: name.clone(),
            problem,
        }
        .into()),
        Some(problem) => Ok(Some(format!(
            "--no-verify-record: shipping {name} although its RECORD check failed: {problem}"
        ))),
    }
}

/// [`crate::resolve::WheelFetch`] through [`fetch`]: one wheel into the cache, verified, quietly
/// (the resolver reads its METADATA).
pub struct Fetcher<'a> {
    pub cache: &'a Cache,
    pub http: Option<&'a Http>,
    pub offline: bool,
    /// Where its downloads are timed.
    pub timings: Option<&'a Recorder>,
    /// Run on each wheel it downloads.
    pub landed: Option<&'a Landed<'a>>,
}

impl crate::resolve::WheelFetch for Fetcher<'_> {
    fn fetch_wheel(&self, wheel: &LockedWheel) -> Result<PathBuf, String> {
        let lock = Lock {
            wheels: vec![wheel.clone()],
            warnings: vec![],
        };
        let quiet = crate::progress::TimingsOnly(self.timings);
        let (fetched, _) = fetch_then(
            &lock,
            self.cache,
            self.http,
            self.offline,
            &quiet,
            self.landed,
        )
        .map_err(|e| e.to_string())?;
        fetched
            .into_iter()
            .next()
            .map(|w| w.path)
            .ok_or_else(|| format!("{}: nothing fetched", wheel.filename))
    }
}
