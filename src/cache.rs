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
//! metadata-v1/<key>                 a wheel's core metadata (PEP 658 file or read from the wheel)
//! runtime/<key>/                     runtime-provided packages installed for verify and bench
//! uses-v1/                           what each lpack process used ([`uses`]; `lpack cache prune`)
//! tmp/                               in-flight writes (same filesystem, so renames are atomic)
//! ```
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
pub mod uses;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

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

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// sha256 of bytes, as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

const SUBDIRS: [&str; 14] = [
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
    "tmp",
];

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    uses: Arc<uses::UseLog>,
}

impl Cache {
    /// The default cache root for this user.
    pub fn default_root() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("lpack")
    }

    /// Open (creating if needed) a cache at `root`.
    pub fn open(root: &Path) -> Result<Cache, CacheError> {
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
        Ok(Cache {
            root: root.to_path_buf(),
            uses: Arc::new(uses::UseLog::new(root)),
        })
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

    fn wheel_dir(&self, sha256: &str) -> PathBuf {
        let shard = &sha256[..2.min(sha256.len())];
        self.note(format!("wheels-v1/{shard}/{sha256}"));
        self.root.join("wheels-v1").join(shard).join(sha256)
    }

    /// A cached wheel with this digest and file name, if present.
    pub fn wheel(&self, sha256: &str, filename: &str) -> Option<PathBuf> {
        let p = self.wheel_dir(sha256).join(filename);
        p.is_file().then_some(p)
    }

    /// Whether `path` is a wheel stored in this cache (content-addressed, verified on entry).
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(self.root.join("wheels-v1"))
    }

    /// What the integrity check remembered about the wheel with this sha256 (raw JSON).
    pub fn read_check(&self, sha256: &str) -> Option<Vec<u8>> {
        self.note(format!("checks-v1/{sha256}.json"));
        fs::read(self.root.join("checks-v1").join(format!("{sha256}.json"))).ok()
    }

    /// Remember an integrity check's findings for a wheel.
    pub fn write_check(&self, sha256: &str, body: &[u8]) -> Result<(), CacheError> {
        self.note(format!("checks-v1/{sha256}.json"));
        write_atomic(
            &self.root.join("tmp"),
            &self.root.join("checks-v1").join(format!("{sha256}.json")),
            body,
        )
    }

    /// A small record (JSON) of `kind` (a versioned directory such as `graph-v1`) by key.
    pub fn read_record(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        self.note(format!("{kind}/{key}"));
        fs::read(self.root.join(kind).join(key)).ok()
    }

    /// Store a small record atomically (temp file + rename).
    pub fn write_record(&self, kind: &str, key: &str, body: &[u8]) -> Result<(), CacheError> {
        self.note(format!("{kind}/{key}"));
        write_atomic(
            &self.root.join("tmp"),
            &self.root.join(kind).join(key),
            body,
        )
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
        let entry = fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".whl")))?;
        let name = entry.file_name().to_str()?.to_string();
        Some((entry.path(), name))
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
/// Prefix and suffix of in-flight output files beside an artifact.
pub const OUTPUT_TEMP_PREFIX: &str = ".lpack-";
pub const OUTPUT_TEMP_SUFFIX: &str = ".tmp";
/// A temp file younger than this is never swept: its writer may not have locked it yet.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// A temp file in `dir`, exclusively `flock`ed by this process until the file is closed.
pub fn locked_temp_in(dir: &Path, prefix: &str, suffix: &str) -> std::io::Result<NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .tempfile_in(dir)?;
    tmp.as_file().try_lock().map_err(std::io::Error::other)?;
    Ok(tmp)
}

/// An in-flight output file beside an artifact in `dir` (after sweeping what killed builds left).
pub fn output_temp(dir: &Path) -> std::io::Result<NamedTempFile> {
    sweep_stale_temps(dir, OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX);
    locked_temp_in(dir, OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX)
}

/// Delete temp files (or staging directories) in `dir`, named `prefix…suffix`, that no live
/// process holds locked: litter of builds that were killed. Best effort; returns how many were
/// removed.
pub fn sweep_stale_temps(dir: &Path, prefix: &str, suffix: &str) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(prefix) || !name.ends_with(suffix) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if !old {
            continue;
        }
        // Directories (an image layout being staged) are locked the same way, on the directory.
        let Ok(f) = fs::File::open(entry.path()) else {
            continue;
        };
        if f.try_lock().is_err() {
            continue;
        }
        let gone = if meta.is_dir() {
            fs::remove_dir_all(entry.path())
        } else {
            fs::remove_file(entry.path())
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Write a user-facing output file atomically: its directory is created, the bytes go to a
/// temp file beside it, which is made 0644 and renamed over `dest`.
pub fn write_output(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = output_temp(dir)?;
    tmp.write_all(data)?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

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
    fn sweeps_only_temp_files_nobody_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        // Held by a live writer (this process), even though old.
        let held = locked_temp_in(dir.path(), OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX).expect("tmp");
        held.as_file().set_modified(old).expect("mtime");
        // Left by a killed writer: nobody holds its lock.
        let orphan = dir.path().join(".lpack-orphan.tmp");
        let f = fs::File::create(&orphan).expect("create");
        f.set_modified(old).expect("mtime");
        drop(f);
        // Too young to judge, and not a temp file at all.
        let young = dir.path().join(".lpack-young.tmp");
        fs::write(&young, b"").expect("write");
        let other = dir.path().join("fn.zip");
        fs::File::create(&other)
            .and_then(|f| f.set_modified(old))
            .expect("other");
        // A staging directory of a killed build.
        let orphan_dir = dir.path().join(".lpack-stage.tmp");
        fs::create_dir_all(orphan_dir.join("blobs")).expect("mkdir");
        fs::File::open(&orphan_dir)
            .and_then(|f| f.set_modified(old))
            .expect("dir mtime");
        assert_eq!(
            sweep_stale_temps(dir.path(), OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX),
            2
        );
        assert!(!orphan.exists() && !orphan_dir.exists());
        assert!(held.path().exists() && young.exists() && other.exists());
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

    #[test]
    fn hex_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
