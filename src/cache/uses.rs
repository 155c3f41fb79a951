//! What each lpack process uses from the cache, so that `lpack cache prune` can tell what is
//! still needed and never removes what a running build uses.
//!
//! Every entry a process looks up or writes is *noted* first ([`UseLog::note`]): one line, the
//! entry's path relative to the cache root (`wheels-v1/ab/<sha256>`, `slim-v1/ab/<key>`,
//! `graph-v1/<key>`, …), appended to `uses-v1/run-<pid>-<nanos>.log`. The process holds that
//! file under an exclusive `flock` while it runs (the kernel drops the lock when it dies,
//! however it dies) and renames it `done-<secs>-<pid>-<nanos>.log` when the cache is dropped.
//!
//! Appends happen under a *shared* lock of `uses-v1/gate.lock`; prune holds it *exclusively*
//! while it reads the logs and deletes. So a use is either appended before prune looks (and the
//! entry is kept) or after prune has finished (and the lookup that follows the note sees the
//! entry gone: an ordinary cache miss, refilled). Noting before looking is what makes this safe.
//!
//! A cache nobody prunes does not collect logs forever: past [`MAX_LOGS`] logs, a
//! finishing process folds those older than a day into `last-used.json`
//! ([`fold_old_logs`]).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The directory of the logs, under the cache root.
pub const USES_DIR: &str = "uses-v1";
/// The lock prune takes exclusively and appends take shared.
pub const GATE: &str = "gate.lock";

#[derive(Debug, Default)]
struct State {
    /// The open log (created on the first note) and its path.
    log: Option<(File, PathBuf)>,
    gate: Option<File>,
    seen: HashSet<String>,
    /// Logging failed once (read-only cache, full disk): stay quiet, never fail a build for it.
    broken: bool,
}

/// One process's log of used entries (shared by every clone of a [`super::Cache`]).
#[derive(Debug)]
pub struct UseLog {
    dir: PathBuf,
    state: Mutex<State>,
}

impl UseLog {
    pub fn new(root: &Path) -> UseLog {
        UseLog {
            dir: root.join(USES_DIR),
            state: Mutex::new(State::default()),
        }
    }

    /// Record that this process uses `entry` (a path relative to the cache root). Best effort.
    pub fn note(&self, entry: &str) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.broken || st.seen.contains(entry) {
            return;
        }
        if self.append(&mut st, entry).is_err() {
            st.broken = true;
            return;
        }
        st.seen.insert(entry.to_string());
    }

    fn append(&self, st: &mut State, entry: &str) -> std::io::Result<()> {
        if st.gate.is_none() {
            fs::create_dir_all(&self.dir)?;
            st.gate = Some(
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(self.dir.join(GATE))?,
            );
        }
        let gate = st
            .gate
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no gate"))?;
        gate.lock_shared().map_err(std::io::Error::other)?;
        let result = (|| {
            if st.log.is_none() {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let path = self
                    .dir
                    .join(format!("run-{}-{nanos}.log", std::process::id()));
                let mut f = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(&path)?;
                f.try_lock().map_err(std::io::Error::other)?;
                writeln!(f, "lpack {}", env!("CARGO_PKG_VERSION"))?;
                st.log = Some((f, path));
            }
            match st.log.as_mut() {
                Some((f, _)) => writeln!(f, "{entry}"),
                None => Ok(()),
            }
        })();
        let _ = gate.unlock();
        result
    }
}

impl Drop for UseLog {
    fn drop(&mut self) {
        let Ok(st) = self.state.get_mut() else { return };
        if let Some((_, path)) = st.log.take() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let done = name.replacen("run-", &format!("done-{secs}-"), 1);
            let _ = fs::rename(&path, self.dir.join(done));
            // A cache nobody prunes keeps at most about MAX_LOGS logs younger than a day.
            let logs = fs::read_dir(&self.dir).map(|rd| rd.count()).unwrap_or(0);
            if logs > MAX_LOGS
                && let Some(root) = self.dir.parent()
            {
                fold_old_logs(root, std::time::Duration::from_secs(86_400));
            }
        }
    }
}

/// A finished (or abandoned) log read back.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub path: PathBuf,
    /// The lpack version that wrote it.
    pub version: String,
    /// When it was last written (seconds since the epoch).
    pub finished: u64,
    pub entries: Vec<String>,
}

/// The logs under `root`: those of running processes (locked) and the finished ones.
pub fn read_runs(root: &Path) -> (Vec<Run>, Vec<Run>) {
    let dir = root.join(USES_DIR);
    let (mut running, mut finished) = (Vec::new(), Vec::new());
    let Ok(rd) = fs::read_dir(&dir) else {
        return (running, finished);
    };
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    paths.sort();
    for path in paths {
        let Ok(f) = File::open(&path) else { continue };
        let live = f.try_lock().is_err();
        if !live {
            let _ = f.unlock();
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let version = lines
            .next()
            .and_then(|l| l.strip_prefix("lpack "))
            .unwrap_or("")
            .to_string();
        let finished_at = fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let run = Run {
            path,
            version,
            finished: finished_at,
            entries: lines.map(str::to_string).collect(),
        };
        if live {
            running.push(run);
        } else {
            finished.push(run);
        }
    }
    (running, finished)
}

/// One entry's last recorded use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct LastUse {
    /// Seconds since the epoch.
    pub(super) t: u64,
    /// The lpack version that used it.
    pub(super) v: String,
}

pub(super) const LAST_USED: &str = "last-used.json";

pub(super) fn read_last_used(path: &Path) -> BTreeMap<String, LastUse> {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Fold one finished run into the last-use records.
pub(super) fn record_run(last: &mut BTreeMap<String, LastUse>, run: &Run) {
    for e in &run.entries {
        if last.get(e).is_none_or(|l| l.t <= run.finished) {
            last.insert(
                e.clone(),
                LastUse {
                    t: run.finished,
                    v: run.version.clone(),
                },
            );
        }
    }
}

/// Logs a cache keeps before old ones are folded into `last-used.json` without a prune.
pub const MAX_LOGS: usize = 256;

/// Fold finished logs older than `min_age` into `last-used.json` and delete them, so that a
/// cache nobody prunes does not collect one log per lpack run forever. Only when the gate is
/// free (never waits on a running prune); recent logs stay for `prune --ci`. Best effort.
pub fn fold_old_logs(root: &Path, min_age: Duration) {
    let dir = root.join(USES_DIR);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Nothing old enough: return before opening, locking and reading every log (hundreds in a
    // busy day of many-function builds, and this runs as each process finishes).
    if !any_log_older(&dir, now, min_age) {
        return;
    }
    let Ok(gate) = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(GATE))
    else {
        return;
    };
    if gate.try_lock().is_err() {
        return;
    }
    let (_, finished) = read_runs(root);
    let old: Vec<&Run> = finished
        .iter()
        .filter(|r| now.saturating_sub(r.finished) >= min_age.as_secs())
        .collect();
    if !old.is_empty() {
        let last_path = dir.join(LAST_USED);
        let mut last = read_last_used(&last_path);
        for run in &old {
            record_run(&mut last, run);
        }
        let body = serde_json::to_vec(&last).unwrap_or_default();
        if super::write_atomic(&root.join("tmp"), &last_path, &body).is_ok() {
            for run in old {
                let _ = fs::remove_file(&run.path);
            }
        }
    }
    let _ = gate.unlock();
}

/// Whether any log in `dir` finished at least `min_age` before `now`: from the name of a
/// finished log (`done-<secs>-…`), else from the file's modification time (an abandoned
/// `run-…` log). Reads no log.
fn any_log_older(dir: &Path, now: u64, min_age: Duration) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let name = e.file_name();
        let Some(name) = name.to_str().filter(|n| n.ends_with(".log")) else {
            return false;
        };
        let finished = name
            .strip_prefix("done-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|secs| secs.parse::<u64>().ok())
            .or_else(|| {
                e.metadata()
                    .ok()?
                    .modified()
                    .ok()?
                    .duration_since(UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs())
            });
        finished.is_some_and(|t| now.saturating_sub(t) >= min_age.as_secs())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_once_and_finishes_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = UseLog::new(dir.path());
        log.note("wheels-v1/ab/abc");
        log.note("wheels-v1/ab/abc");
        log.note("graph-v1/k");
        let (running, finished) = read_runs(dir.path());
        // This process holds its own log: another open file description sees it locked.
        assert_eq!((running.len(), finished.len()), (1, 0));
        assert_eq!(running[0].entries, ["wheels-v1/ab/abc", "graph-v1/k"]);
        assert_eq!(running[0].version, env!("CARGO_PKG_VERSION"));
        drop(log);
        let (running, finished) = read_runs(dir.path());
        assert_eq!((running.len(), finished.len()), (0, 1));
        let name = finished[0]
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        assert!(name.starts_with("done-"), "{name}");
    }

    #[test]
    fn old_logs_fold_into_last_used_and_recent_ones_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uses = dir.path().join(USES_DIR);
        fs::create_dir_all(&uses).expect("mkdir");
        fs::create_dir_all(dir.path().join("tmp")).expect("mkdir");
        let old = uses.join("done-1-1-1.log");
        fs::write(&old, "lpack 0.0.1\ngraph-v1/a\n").expect("log");
        fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400)))
            .expect("mtime");
        let recent = uses.join("done-2-2-2.log");
        fs::write(&recent, "lpack 0.0.1\ngraph-v1/b\n").expect("log");
        fold_old_logs(dir.path(), Duration::from_secs(86_400));
        assert!(!old.exists() && recent.exists());
        let last = read_last_used(&uses.join(LAST_USED));
        assert_eq!(last.keys().collect::<Vec<_>>(), ["graph-v1/a"]);
        assert_eq!(last["graph-v1/a"].v, "0.0.1");
    }

    #[test]
    fn recent_logs_are_not_read_to_find_old_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = 1_800_000_000u64;
        let day = Duration::from_secs(86_400);
        fs::write(dir.path().join(format!("done-{}-1-1.log", now - 60)), "x").expect("log");
        fs::write(dir.path().join("notes.txt"), "x").expect("other");
        assert!(!any_log_older(dir.path(), now, day));
        fs::write(
            dir.path()
                .join(format!("done-{}-2-2.log", now - 2 * 86_400)),
            "x",
        )
        .expect("log");
        assert!(any_log_older(dir.path(), now, day));
    }
}
