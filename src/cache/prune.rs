//! What the cache holds per kind (`lpack cache info`) and removing what no longer serves
//! (`lpack cache prune`).
//!
//! An *entry* is what one key names: a wheel directory (`wheels-v1/ab/<sha256>`), a slim
//! fragment with its sidecar (`slim-v1/ab/<key>`), a record (`graph-v1/<key>`), a blob, an
//! installed runtime directory. Prune decides per entry, from the use logs ([`super::uses`]):
//!
//! 1. an entry a running lpack process has noted is never removed;
//! 2. derived entries (slim fragments, traces, graphs, guard verdicts, verify results, choices,
//!    image layers and layer records) last used by another lpack version are removed;
//! 3. an entry not used for `older_than` (its last use recorded in a log, else its mtime) is
//!    removed;
//! 4. with `ci`, every entry that the runs recorded since the previous plain prune did not use
//!    is removed (in a CI job: a plain prune after the cache is restored, `--ci` before it is
//!    saved, and the saved cache holds what this job's builds used, however many there were).
//!
//! Prune holds `uses-v1/gate.lock` exclusively while it reads the logs and deletes, then records
//! the finished runs in `uses-v1/last-used.json` (entry → last use, lpack version); a plain
//! prune also deletes those logs (`--ci` keeps them for the next `--ci`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::uses::{GATE, LAST_USED, USES_DIR, read_last_used, read_runs, record_run};
use super::{CacheError, io_err};

/// The kinds of entries, with a human name: `(directory, name, derived)`. Derived entries are
/// computed by this lpack version from other entries (and its recipes); the rest are inputs
/// fetched from elsewhere.
pub const KINDS: &[(&str, &str, bool)] = &[
    ("wheels-v1", "wheels", false),
    ("metadata-v1", "wheel metadata", false),
    ("index-v1", "index pages", false),
    ("urls-v1", "URL digests", false),
    ("checks-v1", "wheel checks", true),
    ("choices-v1", "wheel choices", true),
    ("slim-v1", "slim fragments", true),
    ("strips-v1", "stripped libraries", true),
    ("graph-v1", "import graphs", true),
    ("guard-v1", "import guard verdicts", true),
    ("trace-v1", "import traces", true),
    ("verify-v1", "verify results", true),
    ("blobs-v1", "image blobs", false),
    ("layers-v1", "image layer records", true),
    ("python-v1", "interpreter versions", true),
    ("artifacts-v1", "whole artifacts", true),
    ("runtime", "runtime directories", false),
];

/// How many entries and bytes of one kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct KindUsage {
    pub kind: String,
    pub name: String,
    pub entries: usize,
    pub bytes: u64,
}

/// The entry a file belongs to (a path relative to the root), and its kind; `None` for files
/// that are not entries (temp files, logs, the cache tag).
pub fn entry_of(rel: &str) -> Option<(&'static str, String)> {
    let parts: Vec<&str> = rel.split('/').collect();
    let (kind, _, _) = KINDS.iter().find(|(k, _, _)| *k == parts[0])?;
    let entry = match *kind {
        // wheels-v1/ab/<sha>/<file>, runtime/<key>/…
        "wheels-v1" if parts.len() >= 3 => parts[..3].join("/"),
        "runtime" if parts.len() >= 2 && !parts[1].starts_with('.') => parts[..2].join("/"),
        // artifacts-v1/<name>/<key>/…
        "artifacts-v1" if parts.len() >= 3 => parts[..3].join("/"),
        // slim-v1/ab/<key>.zip|.json
        "slim-v1" if parts.len() == 3 => {
            let stem = parts[2]
                .strip_suffix(".zip")
                .or_else(|| parts[2].strip_suffix(".json"))?;
            format!("{}/{}/{stem}", parts[0], parts[1])
        }
        "wheels-v1" | "runtime" | "slim-v1" | "artifacts-v1" => return None,
        _ => rel.to_string(),
    };
    Some((kind, entry))
}

#[derive(Debug, Default)]
struct Entry {
    kind: &'static str,
    bytes: u64,
    /// Newest mtime of its files (seconds since the epoch).
    mtime: u64,
    files: Vec<std::path::PathBuf>,
}

/// Every entry under `root`, by entry path.
fn scan(root: &Path) -> BTreeMap<String, Entry> {
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    for (kind, _, _) in KINDS {
        for e in walkdir::WalkDir::new(root.join(kind)).into_iter().flatten() {
            if !e.file_type().is_file() {
                continue;
            }
            let Ok(rel) = e.path().strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let Some((k, entry)) = entry_of(&rel) else {
                continue;
            };
            let meta = e.metadata().ok();
            let slot = out.entry(entry).or_default();
            slot.kind = k;
            slot.bytes += meta.as_ref().map(|m| m.len()).unwrap_or(0);
            let mtime = meta
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            slot.mtime = slot.mtime.max(mtime);
            slot.files.push(e.path().to_path_buf());
        }
    }
    out
}

/// Sizes per kind (every kind listed, empty ones too), plus what is not an entry (`other`).
pub fn usage(root: &Path) -> Vec<KindUsage> {
    let entries = scan(root);
    let mut out: Vec<KindUsage> = KINDS
        .iter()
        .map(|(k, name, _)| KindUsage {
            kind: k.to_string(),
            name: name.to_string(),
            entries: 0,
            bytes: 0,
        })
        .collect();
    for e in entries.values() {
        if let Some(u) = out.iter_mut().find(|u| u.kind == e.kind) {
            u.entries += 1;
            u.bytes += e.bytes;
        }
    }
    let counted: u64 = out.iter().map(|u| u.bytes).sum();
    let total = super::dir_size(root);
    out.push(KindUsage {
        kind: "other".into(),
        name: "temp files, use logs".into(),
        entries: 0,
        bytes: total.saturating_sub(counted),
    });
    out
}

/// What prune should remove.
#[derive(Debug, Clone)]
pub struct PrunePolicy {
    /// Remove entries not used for this long.
    pub older_than: Duration,
    /// Keep only what the runs since the previous plain prune used.
    pub ci: bool,
    /// Decide and report, remove nothing.
    pub dry_run: bool,
}

/// Why an entry went.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Removed {
    pub entry: String,
    pub kind: String,
    pub bytes: u64,
    /// `other-version`, `unused`, `not-used-by-last-run`.
    pub reason: String,
}

/// What prune did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PruneReport {
    pub removed: Vec<Removed>,
    pub removed_bytes: u64,
    pub kept_entries: usize,
    pub kept_bytes: u64,
    /// Entries kept because a running lpack process uses them.
    pub in_use: usize,
    /// Finished runs read from the logs.
    pub runs: usize,
    pub dry_run: bool,
    pub notes: Vec<String>,
}

/// Remove what no longer serves (see the module docs).
pub fn prune(root: &Path, policy: &PrunePolicy) -> Result<PruneReport, CacheError> {
    let dir = root.join(USES_DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let gate_path = dir.join(GATE);
    let gate = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&gate_path)
        .map_err(io_err(&gate_path))?;
    gate.lock().map_err(|e| CacheError::Io {
        path: gate_path.clone(),
        source: e,
    })?;
    let report = prune_locked(root, policy);
    let _ = gate.unlock();
    report
}

fn prune_locked(root: &Path, policy: &PrunePolicy) -> Result<PruneReport, CacheError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let version = env!("CARGO_PKG_VERSION");
    let (running, finished) = read_runs(root);
    let in_use: BTreeSet<&str> = running
        .iter()
        .flat_map(|r| r.entries.iter().map(String::as_str))
        .collect();
    let last_path = root.join(USES_DIR).join(LAST_USED);
    let mut last = read_last_used(&last_path);
    let mut recent: BTreeSet<&str> = BTreeSet::new();
    for run in &finished {
        recent.extend(run.entries.iter().map(String::as_str));
        record_run(&mut last, run);
    }
    let mut report = PruneReport {
        runs: finished.len(),
        dry_run: policy.dry_run,
        ..PruneReport::default()
    };
    if policy.ci && finished.is_empty() {
        report.notes.push(
            "--ci: no lpack run was recorded since the last plain prune, so nothing counts as unused by it"
                .to_string(),
        );
    }
    let limit = policy.older_than.as_secs();
    for (entry, e) in scan(root) {
        let derived = KINDS.iter().any(|(k, _, d)| *k == e.kind && *d);
        let recorded = last.get(&entry);
        let reason = if in_use.contains(entry.as_str()) {
            report.in_use += 1;
            None
        } else if policy.ci && !finished.is_empty() && !recent.contains(entry.as_str()) {
            Some("not-used-by-last-run")
        } else if derived && recorded.is_some_and(|l| l.v != version) {
            Some("other-version")
        } else if now.saturating_sub(recorded.map_or(e.mtime, |l| l.t.max(e.mtime))) >= limit {
            Some("unused")
        } else {
            None
        };
        match reason {
            Some(reason) => {
                if !policy.dry_run {
                    for f in &e.files {
                        match fs::remove_file(f) {
                            Ok(()) => {}
                            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                            Err(err) => return Err(io_err(f)(err)),
                        }
                    }
                    remove_empty_parents(root, &e.files);
                    last.remove(&entry);
                }
                report.removed_bytes += e.bytes;
                report.removed.push(Removed {
                    entry,
                    kind: e.kind.to_string(),
                    bytes: e.bytes,
                    reason: reason.to_string(),
                });
            }
            None => {
                report.kept_entries += 1;
                report.kept_bytes += e.bytes;
            }
        }
    }
    if !policy.dry_run {
        // The finished logs are folded into last-used.json; forget entries that are gone.
        last.retain(|k, _| entry_exists(root, k));
        let body = serde_json::to_vec(&last).unwrap_or_default();
        super::write_atomic(&root.join("tmp"), &last_path, &body)?;
        // A plain prune folds the finished logs away; `--ci` keeps them, so that every run
        // since the last plain prune (several builds in one CI job) keeps what it used.
        if !policy.ci {
            for run in &finished {
                let _ = fs::remove_file(&run.path);
            }
        }
        crate::outfile::sweep_stale_temps(&root.join("tmp"), super::TEMP_PREFIX, "");
    }
    Ok(report)
}

fn entry_exists(root: &Path, entry: &str) -> bool {
    let p = root.join(entry);
    if entry.starts_with("slim-v1/") {
        return p.with_extension("zip").exists() || p.with_extension("json").exists();
    }
    p.exists()
}

/// Remove the directories an entry leaves empty (a wheel's `<sha>` directory, a runtime
/// directory), never a kind's own directory.
fn remove_empty_parents(root: &Path, files: &[std::path::PathBuf]) {
    let mut dirs: BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    while let Some(d) = dirs.pop_last() {
        let depth = d
            .strip_prefix(root)
            .map(|r| r.components().count())
            .unwrap_or(0);
        if depth <= 1 {
            continue;
        }
        if fs::remove_dir(d).is_ok()
            && let Some(parent) = d.parent()
        {
            dirs.insert(parent);
        }
    }
}

/// Parse a duration: `30d`, `12h`, `90m`, `45s`, `2w` (a bare number is days).
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not an age (e.g. 30d, 12h, 90m)"))?;
    let secs = match unit.trim() {
        "" | "d" => 86_400,
        "w" => 7 * 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}` (use s, m, h, d, w)"
            ));
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_group_files() {
        assert_eq!(
            entry_of("wheels-v1/ab/abcd/x-1-py3-none-any.whl"),
            Some(("wheels-v1", "wheels-v1/ab/abcd".to_string()))
        );
        assert_eq!(
            entry_of("slim-v1/ab/abkey.json"),
            Some(("slim-v1", "slim-v1/ab/abkey".to_string()))
        );
        assert_eq!(
            entry_of("runtime/0123/boto3/__init__.py"),
            Some(("runtime", "runtime/0123".to_string()))
        );
        assert_eq!(entry_of("runtime/.staging-x/a"), None);
        assert_eq!(entry_of("tmp/.tmpabc"), None);
        assert_eq!(entry_of("uses-v1/run-1-2.log"), None);
        assert_eq!(
            entry_of("graph-v1/k"),
            Some(("graph-v1", "graph-v1/k".to_string()))
        );
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_age("2"), Ok(Duration::from_secs(2 * 86_400)));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("3y").is_err());
    }

    #[test]
    fn prune_keeps_what_runs_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = super::super::Cache::open(dir.path()).expect("open");
        cache.write_record("graph-v1", "old", b"{}").expect("write");
        cache
            .write_record("graph-v1", "used", b"{}")
            .expect("write");
        drop(cache); // its log (which noted both writes) is finished
        // A running process (this one, through a new cache and so a new log) uses `used`.
        let user = super::super::Cache::open(dir.path()).expect("open");
        let _ = user.read_record("graph-v1", "used");
        let policy = PrunePolicy {
            older_than: Duration::ZERO,
            ci: false,
            dry_run: false,
        };
        let r = prune(dir.path(), &policy).expect("prune");
        assert_eq!(r.in_use, 1);
        assert!(dir.path().join("graph-v1/used").exists());
        assert!(!dir.path().join("graph-v1/old").exists());
        assert_eq!(r.removed.len(), 1);
        assert_eq!(r.removed[0].reason, "unused");
    }
}
