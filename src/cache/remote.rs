//! The remote tier: a second cache behind the local one, shared by many machines (CI runners).
//!
//! A [`RemoteStore`] moves opaque objects by key (`file://` directories here; `s3://` buckets
//! in [`s3`] with the `aws` feature). The [`RemoteTier`] on top of it is what [`super::Cache`]
//! asks on a local miss (read-through) and hands new entries to (write-behind: uploads run on
//! background threads and [`RemoteTier::finish`] waits for them at the end of the run).
//!
//! A remote is trusted no more than an index: every object is checked before use — a wheel
//! against the sha256 its key names, a record against the digest in its envelope — and a corrupt
//! or truncated object is ignored (with a warning) and overwritten by the entry this run writes.
//! A remote that fails or is slow (connect and read timeouts) is switched off for the rest of
//! the run with one warning: the build goes on with the local cache and the indexes.
//!
//! Object layout under the store's root (the prefix of an `s3://` URL, or the directory):
//!
//! ```text
//! lpack-v1/wheels/<sha256>/<filename>  a wheel, by the sha256 of its bytes
//! lpack-v1/records/<kind>/<key>        a cache record (wheel choices, checks, verify results…)
//!                                      as `lpack-record <sha256 of body>\n` + body
//! lpack-v1/artifacts/<key>/<file>      whole artifacts and their manifests, by content key
//! ```
//!
//! `lpack-v1` is [`SCHEMA`]: a layout change bumps it, so versions never read each other's
//! objects wrongly (record kinds carry their own version, such as `choices-v1`).

#[cfg(feature = "aws")]
pub mod s3;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::SystemTime;

/// The version of the remote layout; the first component of every key.
pub const SCHEMA: &str = "lpack-v1";

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "remote cache URL `{url}`: {why}\n  hint: use s3://BUCKET/PREFIX or file:///shared/path"
    )]
    Url { url: String, why: String },
    #[error(
        "remote cache {location}: {message}\n  hint: check the URL, the endpoint (--remote-endpoint / AWS_ENDPOINT_URL) and that your credentials may list, read and write it (docs/remote-cache.md lists the permissions)"
    )]
    Store { location: String, message: String },
    #[error("remote cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One object's key, size and age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// A store of objects by key (`/`-separated, relative to the store's root).
pub trait RemoteStore: Send + Sync {
    /// `s3://bucket/prefix` or `file:///dir`, for messages (never with credentials).
    fn describe(&self) -> String;
    /// The object's bytes, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RemoteError>;
    /// Store bytes under `key` (replacing what was there), atomically for readers.
    fn put(&self, key: &str, data: &[u8]) -> Result<(), RemoteError>;
    /// Size and age of the object, `None` when absent.
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError>;
    /// Every object whose key starts with `prefix`.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError>;
    fn delete(&self, key: &str) -> Result<(), RemoteError>;
}

/// Which way objects go: `--remote-cache-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RemoteMode {
    Read,
    Write,
    #[default]
    ReadWrite,
}

impl std::str::FromStr for RemoteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(RemoteMode::Read),
            "write" => Ok(RemoteMode::Write),
            "read-write" => Ok(RemoteMode::ReadWrite),
            other => Err(format!(
                "`{other}` is not a remote cache mode: read, write or read-write"
            )),
        }
    }
}

/// How to reach a remote cache (what `--remote-cache`, `--remote-cache-mode` and
/// `--remote-endpoint` say).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteSettings {
    pub url: String,
    pub mode: RemoteMode,
    /// S3 endpoint (else `AWS_ENDPOINT_URL`, else AWS's).
    pub endpoint: Option<String>,
}

/// The directory a `file://` URL names.
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file://")?;
    (rest.starts_with('/')).then(|| PathBuf::from(rest))
}

/// Open the store a URL names. Only a malformed URL is an error; a store that cannot be reached
/// is found out (and warned about) on first use.
pub fn open_store(
    url: &str,
    endpoint: Option<&str>,
) -> Result<Result<Box<dyn RemoteStore>, String>, RemoteError> {
    if url.starts_with("file://") {
        let dir = file_url_path(url).ok_or_else(|| RemoteError::Url {
            url: url.to_string(),
            why: "a file:// URL needs an absolute path (file:///shared/path)".to_string(),
        })?;
        return Ok(Ok(Box::new(FileStore::new(dir))));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(RemoteError::Url {
                url: url.to_string(),
                why: "no bucket name".to_string(),
            });
        }
        #[cfg(feature = "aws")]
        {
            return Ok(s3::S3Store::connect(bucket, prefix, endpoint)
                .map(|s| Box::new(s) as Box<dyn RemoteStore>));
        }
        #[cfg(not(feature = "aws"))]
        {
            let _ = (prefix, endpoint);
            return Err(RemoteError::Url {
                url: url.to_string(),
                why: "this lpack was built without the `aws` feature, which s3:// needs (file:// works without it)".to_string(),
            });
        }
    }
    Err(RemoteError::Url {
        url: url.to_string(),
        why: "unknown scheme".to_string(),
    })
}

/// A directory on a (shared) filesystem. Writes go to a temp file in `.tmp/` under the root and
/// are renamed into place, so concurrent writers of one key each install whole objects.
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: PathBuf) -> FileStore {
        FileStore { root }
    }

    fn path(&self, key: &str) -> Result<PathBuf, RemoteError> {
        let ok = !key.is_empty()
            && key
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
        if !ok {
            return Err(RemoteError::Store {
                location: self.describe(),
                message: format!("refusing the key `{key}`"),
            });
        }
        Ok(self.root.join(key))
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RemoteError + '_ {
        move |source| RemoteError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl RemoteStore for FileStore {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let p = self.path(key)?;
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&p)(e)),
        }
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), RemoteError> {
        let dest = self.path(key)?;
        let tmp_dir = self.root.join(".tmp");
        fs::create_dir_all(&tmp_dir).map_err(Self::io(&tmp_dir))?;
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(Self::io(dir))?;
        }
        let mut tmp = crate::outfile::locked_temp_in(&tmp_dir, super::TEMP_PREFIX, "")
            .map_err(Self::io(&tmp_dir))?;
        tmp.write_all(data).map_err(Self::io(&dest))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644));
        }
        tmp.persist(&dest).map_err(|e| Self::io(&dest)(e.error))?;
        Ok(())
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        let p = self.path(key)?;
        match fs::metadata(&p) {
            Ok(m) if m.is_file() => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: m.len(),
                modified: m.modified().ok(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&p)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        // Walk the deepest directory the prefix names completely.
        let dir_part = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path(dir_part)?
        };
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(&start)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if !e.file_type().is_file() {
                continue;
            }
            let Ok(rel) = e.path().strip_prefix(&self.root) else {
                continue;
            };
            let key = rel.to_string_lossy().replace('\\', "/");
            if key.starts_with(".tmp/") || !key.starts_with(prefix) {
                continue;
            }
            let m = e.metadata().ok();
            out.push(ObjectInfo {
                key,
                size: m.as_ref().map_or(0, |m| m.len()),
                modified: m.and_then(|m| m.modified().ok()),
            });
        }
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let p = self.path(key)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(&p)(e)),
        }
    }
}

/// What the remote tier did in this run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RemoteStats {
    /// Objects found and used.
    pub hits: u64,
    /// Lookups that found nothing (or nothing usable).
    pub misses: u64,
    pub bytes_down: u64,
    /// Objects uploaded, and their bytes.
    pub uploads: u64,
    pub bytes_up: u64,
}

enum Job {
    Put(String, Vec<u8>),
    PutFile(String, PathBuf),
}

/// The remote cache of one run: a store, the mode, the health of the connection, and the
/// write-behind queue.
pub struct RemoteTier {
    store: Option<Arc<dyn RemoteStore>>,
    describe: String,
    mode: RemoteMode,
    down: AtomicBool,
    warnings: Mutex<Vec<String>>,
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_down: AtomicU64,
    uploads: Arc<AtomicU64>,
    bytes_up: Arc<AtomicU64>,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Upload failures reported by the workers (the first one turns the tier off).
    failed: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for RemoteTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTier")
            .field("store", &self.describe)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Uploads in flight at once.
const WORKERS: usize = 4;

impl RemoteTier {
    /// The tier for `settings`. A malformed URL or mode is an error; a store that cannot be set
    /// up (no credentials, say) gives a tier that is off, with its one warning.
    pub fn open(settings: &RemoteSettings) -> Result<RemoteTier, RemoteError> {
        let mode = settings.mode;
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|s| !s.is_empty());
        let store = open_store(&settings.url, endpoint.as_deref())?;
        Ok(match store {
            Ok(s) => RemoteTier::new(Arc::from(s), mode),
            Err(why) => {
                let t = RemoteTier::new_off(settings.url.clone(), mode);
                t.fail(&why);
                t
            }
        })
    }

    pub fn new(store: Arc<dyn RemoteStore>, mode: RemoteMode) -> RemoteTier {
        let describe = store.describe();
        let mut t = RemoteTier::new_off(describe, mode);
        t.store = Some(store);
        t
    }

    fn new_off(describe: String, mode: RemoteMode) -> RemoteTier {
        RemoteTier {
            store: None,
            describe,
            mode,
            down: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            uploads: Arc::new(AtomicU64::new(0)),
            bytes_up: Arc::new(AtomicU64::new(0)),
            queue: Mutex::new(None),
            workers: Mutex::new(Vec::new()),
            failed: Arc::new(Mutex::new(None)),
        }
    }

    /// `s3://…` / `file://…`.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    pub fn mode(&self) -> RemoteMode {
        self.mode
    }

    /// The store, while the tier is up.
    fn live(&self) -> Option<&Arc<dyn RemoteStore>> {
        if self.down.load(Ordering::Relaxed) {
            return None;
        }
        if let Ok(f) = self.failed.lock()
            && let Some(why) = f.clone()
        {
            drop(f);
            self.fail(&why);
            return None;
        }
        self.store.as_ref()
    }

    /// Turn the tier off for the rest of the run, with one warning.
    fn fail(&self, why: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            self.warn(format!(
                "remote cache {} is unavailable ({}); building from the local cache and the indexes for the rest of this run",
                self.describe,
                why.lines().next().unwrap_or(why)
            ));
        }
    }

    /// An object the caller found corrupt (checked against digests it knows): one warning.
    pub fn report_corrupt(&self, key: &str) {
        self.warn(format!(
            "remote cache object {SCHEMA}/{key} is corrupt or truncated (digest does not match); ignored, and replaced by this build's"
        ));
    }

    fn warn(&self, w: String) {
        if let Ok(mut ws) = self.warnings.lock()
            && !ws.contains(&w)
        {
            ws.push(w);
        }
    }

    fn reads(&self) -> bool {
        self.mode != RemoteMode::Write
    }

    fn writes(&self) -> bool {
        self.mode != RemoteMode::Read
    }

    /// Fetch an object and check it with `valid` (which returns the usable bytes); a failing
    /// store turns the tier off, an invalid object is a miss with a warning.
    fn fetch_checked(
        &self,
        key: &str,
        valid: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        if !self.reads() {
            return None;
        }
        let store = self.live()?;
        match store.get(&format!("{SCHEMA}/{key}")) {
            Ok(Some(bytes)) => {
                let n = bytes.len() as u64;
                self.bytes_down.fetch_add(n, Ordering::Relaxed);
                match valid(bytes) {
                    Some(b) => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        Some(b)
                    }
                    None => {
                        self.misses.fetch_add(1, Ordering::Relaxed);
                        self.warn(format!(
                            "remote cache object {SCHEMA}/{key} is corrupt or truncated ({n} bytes, digest does not match); ignored, and replaced by this build's"
                        ));
                        None
                    }
                }
            }
            Ok(None) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                self.fail(&e.to_string());
                None
            }
        }
    }

    /// A wheel by sha256 and file name: its bytes, verified.
    pub fn get_wheel(&self, sha256: &str, filename: &str) -> Option<Vec<u8>> {
        self.fetch_checked(&wheel_key(sha256, filename), |b| {
            (crate::digest::sha256_hex(&b) == sha256).then_some(b)
        })
    }

    /// Whether the remote holds this wheel (not downloaded, not checked: [`Self::get_wheel`]
    /// checks it when it is needed).
    pub fn has_wheel(&self, sha256: &str, filename: &str) -> bool {
        if !self.reads() {
            return false;
        }
        let Some(store) = self.live() else {
            return false;
        };
        match store.head(&format!("{SCHEMA}/{}", wheel_key(sha256, filename))) {
            Ok(found) => found.is_some(),
            Err(e) => {
                self.fail(&e.to_string());
                false
            }
        }
    }

    /// The file name of a wheel with this sha256 in the remote.
    pub fn find_wheel(&self, sha256: &str) -> Option<String> {
        if !self.reads() {
            return None;
        }
        let store = self.live()?;
        let prefix = format!("{SCHEMA}/wheels/{sha256}/");
        match store.list(&prefix) {
            Ok(objs) => objs
                .into_iter()
                .filter_map(|o| o.key.strip_prefix(&prefix).map(str::to_string))
                .find(|n| n.ends_with(".whl") && !n.contains('/')),
            Err(e) => {
                self.fail(&e.to_string());
                None
            }
        }
    }

    /// A record's body, its envelope checked.
    pub fn get_record(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        self.fetch_checked(&format!("records/{kind}/{key}"), open_envelope)
    }

    /// Queue a record for upload.
    pub fn put_record(&self, kind: &str, key: &str, body: &[u8]) {
        self.enqueue(Job::Put(
            format!("{SCHEMA}/records/{kind}/{key}"),
            envelope(body),
        ));
    }

    /// Queue a verified wheel (a file in the local cache) for upload.
    pub fn put_wheel(&self, sha256: &str, filename: &str, path: &Path) {
        self.enqueue(Job::PutFile(
            format!("{SCHEMA}/{}", wheel_key(sha256, filename)),
            path.to_path_buf(),
        ));
    }

    /// An object under `artifacts/<key>/` (whole artifacts; the caller checks the bytes
    /// against the digests the manifest states).
    pub fn get_artifact_object(&self, key: &str, name: &str) -> Option<Vec<u8>> {
        self.fetch_checked(&format!("artifacts/{key}/{name}"), Some)
    }

    /// Queue an artifact object for upload (its bytes are taken now: the output file may be
    /// replaced by the next build before the upload runs).
    pub fn put_artifact_object(&self, key: &str, name: &str, data: &[u8]) {
        self.enqueue(Job::Put(
            format!("{SCHEMA}/artifacts/{key}/{name}"),
            data.to_vec(),
        ));
    }

    fn enqueue(&self, job: Job) {
        if !self.writes() || self.live().is_none() {
            return;
        }
        let Some(store) = self.store.clone() else {
            return;
        };
        let Ok(mut q) = self.queue.lock() else { return };
        if q.is_none() {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            let mut workers = match self.workers.lock() {
                Ok(w) => w,
                Err(_) => return,
            };
            for _ in 0..WORKERS {
                let rx = Arc::clone(&rx);
                let store = Arc::clone(&store);
                let failed = Arc::clone(&self.failed);
                let uploads = Arc::clone(&self.uploads);
                let bytes_up = Arc::clone(&self.bytes_up);
                workers.push(std::thread::spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                            continue;
                        }
                        let r = match job {
                            Job::Put(key, data) => {
                                store.put(&key, &data).map(|()| data.len() as u64)
                            }
                            Job::PutFile(key, path) => match fs::read(&path) {
                                Ok(data) => store.put(&key, &data).map(|()| data.len() as u64),
                                // Gone from the local cache meanwhile: nothing to share.
                                Err(_) => Ok(0),
                            },
                        };
                        match r {
                            Ok(0) => {}
                            Ok(n) => {
                                uploads.fetch_add(1, Ordering::Relaxed);
                                bytes_up.fetch_add(n, Ordering::Relaxed);
                            }
                            Err(e) => {
                                if let Ok(mut f) = failed.lock() {
                                    f.get_or_insert(e.to_string());
                                }
                            }
                        }
                    }
                }));
            }
            *q = Some(tx);
        }
        if let Some(tx) = q.as_ref() {
            let _ = tx.send(job);
        }
    }

    /// Wait for queued uploads, then say what happened: the stats and the warnings (each once).
    pub fn finish(&self) -> (RemoteStats, Vec<String>) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        let workers: Vec<_> = match self.workers.lock() {
            Ok(mut w) => w.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for w in workers {
            let _ = w.join();
        }
        let _ = self.live();
        (self.stats(), self.warnings())
    }

    pub fn stats(&self) -> RemoteStats {
        RemoteStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
            uploads: self.uploads.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
        }
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// The store itself (for `lpack cache push|pull|prune`), while the tier is up.
    pub fn store(&self) -> Option<&Arc<dyn RemoteStore>> {
        self.live()
    }
}

/// `wheels/<sha256>/<filename>`.
fn wheel_key(sha256: &str, filename: &str) -> String {
    format!("wheels/{sha256}/{filename}")
}

const ENVELOPE: &str = "lpack-record ";

/// A record as stored remotely: a header with the body's sha256, then the body.
pub fn envelope(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{ENVELOPE}{}\n", crate::digest::sha256_hex(body)).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The body of an enveloped record whose digest matches.
pub fn open_envelope(bytes: Vec<u8>) -> Option<Vec<u8>> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&bytes[..nl]).ok()?;
    let want = head.strip_prefix(ENVELOPE)?;
    let body = &bytes[nl + 1..];
    (crate::digest::sha256_hex(body) == want).then(|| body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(dir: &Path) -> RemoteTier {
        RemoteTier::new(
            Arc::new(FileStore::new(dir.to_path_buf())),
            RemoteMode::ReadWrite,
        )
    }

    #[test]
    fn envelope_round_trip_and_corruption() {
        let e = envelope(b"{\"a\":1}");
        assert_eq!(open_envelope(e.clone()).as_deref(), Some(&b"{\"a\":1}"[..]));
        let mut bad = e.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open_envelope(bad).is_none());
        assert!(open_envelope(e[..e.len() - 2].to_vec()).is_none());
        assert!(open_envelope(b"garbage".to_vec()).is_none());
    }

    #[test]
    fn file_tier_records_and_wheels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = tier(dir.path());
        t.put_record("choices-v1", "k", b"body");
        let whl = dir.path().join("local.whl");
        fs::write(&whl, b"wheel bytes").expect("write");
        let sha = crate::digest::sha256_hex(b"wheel bytes");
        t.put_wheel(&sha, "x-1-py3-none-any.whl", &whl);
        let (stats, warnings) = t.finish();
        assert_eq!(stats.uploads, 2);
        assert!(warnings.is_empty());
        let t = tier(dir.path());
        assert_eq!(
            t.get_record("choices-v1", "k").as_deref(),
            Some(&b"body"[..])
        );
        assert_eq!(t.find_wheel(&sha).as_deref(), Some("x-1-py3-none-any.whl"));
        assert_eq!(
            t.get_wheel(&sha, "x-1-py3-none-any.whl").as_deref(),
            Some(&b"wheel bytes"[..])
        );
        // A truncated wheel is a miss, with a warning.
        let obj = dir
            .path()
            .join(SCHEMA)
            .join("wheels")
            .join(&sha)
            .join("x-1-py3-none-any.whl");
        fs::write(&obj, b"wheel").expect("truncate");
        assert!(t.get_wheel(&sha, "x-1-py3-none-any.whl").is_none());
        assert_eq!(t.warnings().len(), 1);
        assert!(t.warnings()[0].contains("corrupt"), "{:?}", t.warnings());
    }

    #[test]
    fn a_failing_store_turns_the_tier_off_with_one_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A file where the store's root directory should be: every operation fails.
        let root = dir.path().join("not-a-dir");
        fs::write(&root, b"").expect("write");
        let t = tier(&root);
        t.put_record("graph-v1", "a", b"x");
        assert!(t.get_record("graph-v1", "a").is_none());
        assert!(t.get_record("graph-v1", "b").is_none());
        let (_, warnings) = t.finish();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("unavailable"));
    }

    #[test]
    fn modes_and_urls() {
        assert_eq!("read".parse::<RemoteMode>(), Ok(RemoteMode::Read));
        assert!("both".parse::<RemoteMode>().is_err());
        assert!(open_store("file://relative", None).is_err());
        assert!(open_store("ftp://x", None).is_err());
        assert!(open_store("s3:///prefix", None).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FileStore::new(dir.path().to_path_buf());
        assert!(s.put("../escape", b"x").is_err());
    }
}
