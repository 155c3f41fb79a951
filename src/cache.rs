//! The content-addressed cache: verified wheels by sha256, index pages for offline builds, and
//! small records by key.
//!
//! A foundation: it stores bytes and records (JSON the caller serialises) and knows nothing of
//! the stages above it; each stage owns the types of what it keeps here (the image layer
//! records, for instance, are `emit::image`'s, stored through [`Cache::write_record`]).
//!
//! Layout under the cache root (default `$XDG_CACHE_HOME/lpack` or the platform's user cache
//! dir; `--cache-dir` and `LPACK_CACHE_DIR` override):
//!
//! ```text
//! CACHEDIR.TAG                       marks the directory as a cache for backup tools
//! wheels-v1/<h[0..2]>/<h>/<filename> a wheel whose sha256 is <h>, verified before it entered
//! urls-v1/<sha256(url)>              sha256 of what a hashless URL served (skips re-downloads)
//! index-v1/<sha256(url)>.json        the last file list read from an index page (for --offline)
//! slim-v1/<k[0..2]>/<k>.zip|.json    a slimmed wheel (canonical zip fragment + records), keyed by
//!                                    wheel sha256, recipes, bytecode plan, target, lpack version
//! choices-v1/<key>                   the wheel a hashed pin chose for a target (skips the index)
//! checks-v1/<h>.json                 what the integrity check found in the wheel whose sha256 is <h>
//! trace-v1/<key>                     modules a handler's import loads (--bytecode-for-imports)
//! graph-v1/<key>                     a wheel's import graph (modules and what each imports)
//! guard-v1/<key>                     the import guard's verdicts for one set of wheels + recipes
//! verify-v1/<key>                    an artifact (+ layers, interpreter, handler) that passed verify;
//!                                     a top-level module's import from the unmodified wheels
//! blobs-v1/sha256/<hex>               OCI blobs: image layers built by lpack, configs, base layers
//! layers-v1/<key>                     which blob an image layer's content key produced
//! python-v1/<key>                     an interpreter's version, by its path, size and mtime
//! artifacts-v1/<name>/<key>/          whole artifacts a build wrote, by content key (hard links
//!                                     to the outputs where possible)
//! metadata-v1/<key>                 a wheel's core metadata (PEP 658 file or read from the wheel)
//! runtime/<key>/                     runtime-provided packages installed for verify and bench
//! uses-v1/                           what each lpack process used ([`uses`]; `lpack cache prune`)
//! tmp/                               in-flight writes (same filesystem, so renames are atomic)
//! ```
//!
//! With a remote tier ([`Cache::with_remote`], `--remote-cache`), a local miss of a wheel or a
//! record asks the remote (and keeps what it finds, verified, locally), and every new wheel and
//! record is also handed to the remote (uploaded in the background): see [`remote`].
//!
//! Every lookup and write *notes* the entry in the process's use log first ([`uses::UseLog`]),
//! so that [`prune::prune`] keeps what running builds use and can tell what went unused.
//!
//! Every write goes to a temporary file under `tmp/` and is renamed into place, so an interrupted
//! download never leaves a partial file at a final path, and two builds sharing a cache can write
//! the same entry concurrently: both renames install identical bytes. Nothing is ever written to a
//! wheel path before its sha256 has been checked.
//!
//! A build killed mid-write (SIGKILL, OOM killer) cannot remove its temp file, so every temp file
//! is held under an exclusive `flock` by its writer ([`locked_temp_in`]); the kernel releases the
//! lock when the process dies, however it dies. [`sweep_stale_temps`] (run when a cache is opened
//! and before an artifact is written) deletes temp files nobody holds: there are no lock files
//! that could outlive a build and block the next one.

pub mod prune;
pub mod remote;
pub mod transfer;
pub mod uses;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::NamedTempFile;

use crate::digest::sha256_hex;
use crate::outfile::{locked_temp_in, sweep_stale_temps};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "cache directory {path}: {source}\n  hint: pick another location with --cache-dir or LPACK_CACHE_DIR"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

const SUBDIRS: [&str; 15] = [
    "wheels-v1",
    "checks-v1",
    "graph-v1",
    "guard-v1",
    "verify-v1",
    "urls-v1",
    "index-v1",
    "slim-v1",
    "choices-v1",
    "trace-v1",
    "blobs-v1",
    "layers-v1",
    "python-v1",
    "artifacts-v1",
    "tmp",
];

/// The use logs of the caches open in this process, by root (see [`Cache::open`]).
static OPEN_LOGS: std::sync::Mutex<Vec<(PathBuf, std::sync::Weak<uses::UseLog>)>> =
    std::sync::Mutex::new(Vec::new());

/// The use log of a cache open at `root` in this process, if one still is.
fn open_log(root: &Path) -> Option<Arc<uses::UseLog>> {
    let open = OPEN_LOGS.lock().ok()?;
    open.iter()
        .filter(|(r, _)| r == root)
        .find_map(|(_, log)| log.upgrade())
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    uses: Arc<uses::UseLog>,
    remote: Option<Arc<remote::RemoteTier>>,
}

impl Cache {
    /// The default cache root for this user.
    pub fn default_root() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("lpack")
    }

    /// Open (creating if needed) a cache at `root`.
    ///
    /// Caches opened at the same root while another is still open in this process (the builds
    /// of one `lpack build` over many functions) share its use log, and skip creating its
    /// folders and sweeping its temporary files again: one log per process, not per build.
    pub fn open(root: &Path) -> Result<Cache, CacheError> {
        if let Some(uses) = open_log(root) {
            return Ok(Cache {
                root: root.to_path_buf(),
                uses,
                remote: None,
            });
        }
        for sub in SUBDIRS {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        sweep_stale_temps(&root.join("tmp"), TEMP_PREFIX, "");
        let tag = root.join("CACHEDIR.TAG");
        if !tag.exists() {
            let body = "Signature: 8a477f597d28d172789f06886806bc55\n# This file marks the lpack cache (https://bford.info/cachedir/).\n";
            let _ = write_atomic(root, &tag, body.as_bytes());
        }
        let uses = Arc::new(uses::UseLog::new(root));
        if let Ok(mut open) = OPEN_LOGS.lock() {
            open.retain(|(_, log)| log.strong_count() > 0);
            open.push((root.to_path_buf(), Arc::downgrade(&uses)));
        }
        Ok(Cache {
            root: root.to_path_buf(),
            uses,
            remote: None,
        })
    }

    /// This cache with a remote tier behind it.
    pub fn with_remote(mut self, remote: Option<Arc<remote::RemoteTier>>) -> Cache {
        self.remote = remote;
        self
    }

    /// The remote tier, if any.
    pub fn remote(&self) -> Option<&Arc<remote::RemoteTier>> {
        self.remote.as_ref()
    }

    /// Keep a wheel the remote had (already verified against `sha256`) in the local cache.
    fn keep_remote_wheel(&self, sha256: &str, filename: &str, data: &[u8]) -> Option<PathBuf> {
        let mut tmp = self.temp_file().ok()?;
        tmp.write_all(data).ok()?;
        self.install_wheel(tmp, sha256, filename).ok()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Record that this process uses the entry at `path` (under the root), before looking it
    /// up or writing it: `lpack cache prune` then keeps it while this process runs.
    pub fn note_path(&self, path: &Path) {
        if let Ok(rel) = path.strip_prefix(&self.root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            if let Some((_, entry)) = prune::entry_of(&rel) {
                self.uses.note(&entry);
            }
        }
    }

    fn note(&self, entry: String) {
        self.uses.note(&entry);
    }

    pub(crate) fn wheel_dir(&self, sha256: &str) -> PathBuf {
        let shard = &sha256[..2.min(sha256.len())];
        self.note(format!("wheels-v1/{shard}/{sha256}"));
        self.root.join("wheels-v1").join(shard).join(sha256)
    }

    /// A cached wheel with this digest and file name, if present.
    pub fn wheel(&self, sha256: &str, filename: &str) -> Option<PathBuf> {
        let p = self.wheel_dir(sha256).join(filename);
        if p.is_file() {
            return Some(p);
        }
        let data = self.remote.as_ref()?.get_wheel(sha256, filename)?;
        self.keep_remote_wheel(sha256, filename, &data)
    }

    /// Whether a wheel is here or in the remote tier, without downloading it.
    pub fn has_wheel(&self, sha256: &str, filename: &str) -> bool {
        self.wheel_dir(sha256).join(filename).is_file()
            || self
                .remote
                .as_ref()
                .is_some_and(|r| r.has_wheel(sha256, filename))
    }

    /// Whether `path` is a wheel stored in this cache (content-addressed, verified on entry).
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(self.root.join("wheels-v1"))
    }

    /// What the integrity check remembered about the wheel with this sha256 (raw JSON).
    pub fn read_check(&self, sha256: &str) -> Option<Vec<u8>> {
        self.note(format!("checks-v1/{sha256}.json"));
        let p = self.root.join("checks-v1").join(format!("{sha256}.json"));
        self.read_through(&p, "checks-v1", &format!("{sha256}.json"))
    }

    /// A local file, else the remote's record (kept locally).
    fn read_through(&self, local: &Path, kind: &str, key: &str) -> Option<Vec<u8>> {
        if let Ok(b) = fs::read(local) {
            return Some(b);
        }
        let body = self.remote.as_ref()?.get_record(kind, key)?;
        let _ = write_atomic(&self.root.join("tmp"), local, &body);
        Some(body)
    }

    fn push_record(&self, kind: &str, key: &str, body: &[u8]) {
        if let Some(r) = &self.remote {
            r.put_record(kind, key, body);
        }
    }

    /// Remember an integrity check's findings for a wheel.
    pub fn write_check(&self, sha256: &str, body: &[u8]) -> Result<(), CacheError> {
        self.note(format!("checks-v1/{sha256}.json"));
        write_atomic(
            &self.root.join("tmp"),
            &self.root.join("checks-v1").join(format!("{sha256}.json")),
            body,
        )?;
        self.push_record("checks-v1", &format!("{sha256}.json"), body);
        Ok(())
    }

    /// A small record (JSON) of `kind` (a versioned directory such as `graph-v1`) by key.
    pub fn read_record(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        self.note(format!("{kind}/{key}"));
        self.read_through(&self.root.join(kind).join(key), kind, key)
    }

    /// Store a small record atomically (temp file + rename).
    pub fn write_record(&self, kind: &str, key: &str, body: &[u8]) -> Result<(), CacheError> {
        self.note(format!("{kind}/{key}"));
        write_atomic(
            &self.root.join("tmp"),
            &self.root.join(kind).join(key),
            body,
        )?;
        self.push_record(kind, key, body);
        Ok(())
    }

    /// An OCI blob by digest (`sha256:<hex>`), if cached.
    pub fn blob(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        self.note(format!("blobs-v1/sha256/{hex}"));
        let p = self.root.join("blobs-v1").join("sha256").join(hex);
        p.is_file().then_some(p)
    }

    /// Store a fully written temp file as the blob `digest`.
    pub fn commit_blob(&self, tmp: NamedTempFile, digest: &str) -> Result<PathBuf, CacheError> {
        let hex = digest.trim_start_matches("sha256:");
        self.note(format!("blobs-v1/sha256/{hex}"));
        let dest = self.root.join("blobs-v1").join("sha256").join(hex);
        self.commit_file(tmp, &dest)
    }

    /// Store bytes as the blob `digest`.
    pub fn write_blob(&self, digest: &str, data: &[u8]) -> Result<PathBuf, CacheError> {
        let hex = digest.trim_start_matches("sha256:");
        self.note(format!("blobs-v1/sha256/{hex}"));
        let dir = self.root.join("blobs-v1").join("sha256");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let dest = dir.join(hex);
        if !dest.is_file() {
            write_atomic(&self.root.join("tmp"), &dest, data)?;
        }
        Ok(dest)
    }

    /// Any cached wheel with this digest: (path, file name).
    pub fn wheel_any_name(&self, sha256: &str) -> Option<(PathBuf, String)> {
        let dir = self.wheel_dir(sha256);
        let local = fs::read_dir(&dir).ok().and_then(|mut d| {
            d.by_ref()
                .flatten()
                .find(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".whl")))
        });
        if let Some(entry) = local {
            let name = entry.file_name().to_str()?.to_string();
            return Some((entry.path(), name));
        }
        let name = self.remote.as_ref()?.find_wheel(sha256)?;
        let path = self.wheel(sha256, &name)?;
        Some((path, name))
    }

    /// Where one library's strip result is remembered, by its content key (`strips-v1/ab/<key>`;
    /// see `slim::memo`). Local only: fragments, not these, are what a remote cache shares.
    pub fn strip_memo_path(&self, key: &str) -> PathBuf {
        let shard = &key[..2.min(key.len())];
        self.note(format!("strips-v1/{shard}/{key}"));
        self.root.join("strips-v1").join(shard).join(key)
    }

    /// A temporary file for an in-flight write (locked by this process until dropped).
    pub fn temp_file(&self) -> Result<NamedTempFile, CacheError> {
        let dir = self.root.join("tmp");
        locked_temp_in(&dir, TEMP_PREFIX, "").map_err(io_err(&dir))
    }

    /// Move a fully written, already verified temp file into place as a wheel.
    pub fn commit_wheel(
        &self,
        tmp: NamedTempFile,
        sha256: &str,
        filename: &str,
    ) -> Result<PathBuf, CacheError> {
        let dest = self.install_wheel(tmp, sha256, filename)?;
        if let Some(r) = &self.remote {
            r.put_wheel(sha256, filename, &dest);
        }
        Ok(dest)
    }

    pub(crate) fn install_wheel(
        &self,
        tmp: NamedTempFile,
        sha256: &str,
        filename: &str,
    ) -> Result<PathBuf, CacheError> {
        let dir = self.wheel_dir(sha256);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let dest = dir.join(filename);
        tmp.as_file().sync_all().map_err(io_err(&dest))?;
        tmp.persist(&dest).map_err(|e| CacheError::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(dest)
    }

    /// Paths of a slim fragment and its metadata sidecar.
    pub fn fragment_paths(&self, key: &str) -> (PathBuf, PathBuf) {
        let shard = &key[..2.min(key.len())];
        self.note(format!("slim-v1/{shard}/{key}"));
        let dir = self.root.join("slim-v1").join(shard);
        (
            dir.join(format!("{key}.zip")),
            dir.join(format!("{key}.json")),
        )
    }

    /// A slim fragment and its sidecar from the remote tier into `frag`/`meta` (both or
    /// neither; each checked against its envelope), when they are not here.
    pub fn fragment_from_remote(&self, key: &str, frag: &Path, meta: &Path) {
        let Some(r) = &self.remote else { return };
        if frag.is_file() && meta.is_file() {
            return;
        }
        let Some(m) = r.get_record("slim-v1", &format!("{key}.json")) else {
            return;
        };
        let Some(z) = r.get_record("slim-v1", &format!("{key}.zip")) else {
            return;
        };
        if let Some(dir) = frag.parent()
            && fs::create_dir_all(dir).is_ok()
            && write_atomic(&self.root.join("tmp"), frag, &z).is_ok()
        {
            let _ = write_atomic(&self.root.join("tmp"), meta, &m);
        }
    }

    /// Hand a slim fragment this process wrote to the remote tier.
    pub fn fragment_to_remote(&self, key: &str, frag: &Path, meta: &Path) {
        let Some(r) = &self.remote else { return };
        if let (Ok(z), Ok(m)) = (fs::read(frag), fs::read(meta)) {
            r.put_record("slim-v1", &format!("{key}.zip"), &z);
            r.put_record("slim-v1", &format!("{key}.json"), &m);
        }
    }

    /// Move a fully written temp file to `dest` (creating its directory).
    pub fn commit_file(&self, tmp: NamedTempFile, dest: &Path) -> Result<PathBuf, CacheError> {
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        tmp.persist(dest).map_err(|e| CacheError::Io {
            path: dest.to_path_buf(),
            source: e.error,
        })?;
        Ok(dest.to_path_buf())
    }

    fn url_key(url: &str) -> String {
        sha256_hex(url.as_bytes())
    }

    /// The sha256 a hashless URL served last time.
    pub fn url_digest(&self, url: &str) -> Option<String> {
        let p = self.root.join("urls-v1").join(Self::url_key(url));
        self.note_path(&p);
        let s = fs::read_to_string(p).ok()?;
        let s = s.trim();
        (s.len() == 64).then(|| s.to_string())
    }

    pub fn record_url_digest(&self, url: &str, sha256: &str) -> Result<(), CacheError> {
        let p = self.root.join("urls-v1").join(Self::url_key(url));
        self.note_path(&p);
        write_atomic(&self.root.join("tmp"), &p, sha256.as_bytes())
    }

    /// Path of the stored file list of an index page.
    pub fn index_page_path(&self, url: &str) -> PathBuf {
        let p = self
            .root
            .join("index-v1")
            .join(format!("{}.json", Self::url_key(url)));
        self.note_path(&p);
        p
    }

    pub fn read_index_page(&self, url: &str) -> Option<Vec<u8>> {
        fs::read(self.index_page_path(url)).ok()
    }

    pub fn write_index_page(&self, url: &str, body: &[u8]) -> Result<(), CacheError> {
        write_atomic(&self.root.join("tmp"), &self.index_page_path(url), body)
    }

    /// Remove everything in the cache. Returns bytes freed.
    pub fn clean(&self) -> Result<u64, CacheError> {
        let mut freed = 0;
        for sub in SUBDIRS {
            let p = self.root.join(sub);
            freed += dir_size(&p);
            if p.exists() {
                fs::remove_dir_all(&p).map_err(io_err(&p))?;
            }
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        Ok(freed)
    }

    /// Total bytes and wheel count in the cache.
    pub fn usage(&self) -> (u64, usize) {
        let wheels = walkdir::WalkDir::new(self.root.join("wheels-v1"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .count();
        (dir_size(&self.root), wheels)
    }
}

pub(crate) fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Prefix of the cache's temp files under `tmp/`.
pub(crate) const TEMP_PREFIX: &str = ".tmp";
/// Write `data` to `dest` atomically via a temp file in `tmp_dir`.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, data: &[u8]) -> Result<(), CacheError> {
    let mut tmp = locked_temp_in(tmp_dir, TEMP_PREFIX, "").map_err(io_err(tmp_dir))?;
    tmp.write_all(data).map_err(io_err(dest))?;
    {
        // Temp files are created 0600; what we publish is readable like any other output.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644));
    }
    tmp.persist(dest).map_err(|e| CacheError::Io {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_open_at_once_share_one_use_log_and_later_ones_start_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = || {
            let mut n: Vec<String> = fs::read_dir(dir.path().join(uses::USES_DIR))
                .expect("uses")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".log"))
                .collect();
            n.sort();
            n
        };
        let a = Cache::open(dir.path()).expect("open");
        let b = Cache::open(dir.path()).expect("open");
        let _ = a.read_record("graph-v1", "one");
        let _ = b.read_record("graph-v1", "two");
        drop((a, b));
        assert_eq!(logs().len(), 1, "{:?}", logs());
        let c = Cache::open(dir.path()).expect("open");
        let _ = c.read_record("graph-v1", "three");
        drop(c);
        assert_eq!(logs().len(), 2, "{:?}", logs());
    }

    #[test]
    fn commit_and_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path()).expect("open");
        let mut tmp = cache.temp_file().expect("tmp");
        tmp.write_all(b"hello").expect("write");
        let sha = sha256_hex(b"hello");
        let p = cache
            .commit_wheel(tmp, &sha, "x-1-py3-none-any.whl")
            .expect("commit");
        assert_eq!(fs::read(&p).expect("read"), b"hello");
        assert_eq!(cache.wheel(&sha, "x-1-py3-none-any.whl"), Some(p.clone()));
        assert_eq!(
            cache.wheel_any_name(&sha).map(|x| x.1),
            Some("x-1-py3-none-any.whl".to_string())
        );
        assert!(cache.wheel(&sha, "other.whl").is_none());
        // tmp dir is empty after commit
        assert_eq!(fs::read_dir(dir.path().join("tmp")).expect("ls").count(), 0);
    }
}
