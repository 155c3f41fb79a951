//! `lpack cache push|pull|prune --remote-cache`: seed a remote from a local cache, warm a local
//! cache from a remote, and remove old objects from a remote. Transfers go through the same
//! checks as builds: a wheel is checked against its sha256, a record against its envelope, and
//! nothing already at the other end is sent again.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::Cache;
use super::remote::{RemoteError, SCHEMA};
use crate::digest::sha256_hex;

/// The record kinds a remote shares (those keyed by content or by a hashed pin; not index pages
/// or URL digests, which describe one index at one time, nor image blobs and slim fragments,
/// which are large and rebuilt from the shared wheels).
pub const RECORD_KINDS: &[&str] = &[
    "choices-v1",
    "checks-v1",
    "metadata-v1",
    "graph-v1",
    "guard-v1",
    "trace-v1",
    "verify-v1",
];

/// What a push or pull moved.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Transfer {
    pub wheels: usize,
    pub records: usize,
    pub bytes: u64,
    /// Already at the other end.
    pub present: usize,
    /// Objects that failed their check (not used, listed by key).
    pub corrupt: Vec<String>,
}

fn no_remote() -> RemoteError {
    RemoteError::Store {
        location: "(none)".to_string(),
        message: "no remote cache, or it is unavailable".to_string(),
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Upload every wheel and shared record of the local cache the remote lacks.
pub fn push(cache: &Cache) -> Result<Transfer, RemoteError> {
    let tier = cache.remote().ok_or_else(no_remote)?;
    let store = tier.store().ok_or_else(no_remote)?.clone();
    let root = cache.root();
    let mut t = Transfer::default();
    let wheels = root.join("wheels-v1");
    for e in walkdir::WalkDir::new(&wheels)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !e.file_type().is_file() {
            continue;
        }
        let Some(name) = e.file_name().to_str().filter(|n| n.ends_with(".whl")) else {
            continue;
        };
        let Some(sha) = e
            .path()
            .parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
            .filter(|s| is_sha(s))
        else {
            continue;
        };
        let key = format!("{SCHEMA}/wheels/{sha}/{name}");
        if store.head(&key)?.is_some() {
            t.present += 1;
            continue;
        }
        let data = std::fs::read(e.path()).map_err(|source| RemoteError::Io {
            path: e.path().to_path_buf(),
            source,
        })?;
        // Verified on entry, and checked again: a local disk is not trusted for others either.
        if sha256_hex(&data) != sha {
            t.corrupt.push(e.path().display().to_string());
            continue;
        }
        store.put(&key, &data)?;
        t.wheels += 1;
        t.bytes += data.len() as u64;
    }
    for kind in RECORD_KINDS {
        let dir = root.join(kind);
        for e in walkdir::WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if !e.file_type().is_file() {
                continue;
            }
            let Ok(rel) = e.path().strip_prefix(&dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let key = format!("{SCHEMA}/records/{kind}/{rel}");
            if store.head(&key)?.is_some() {
                t.present += 1;
                continue;
            }
            let Ok(body) = std::fs::read(e.path()) else {
                continue;
            };
            let env = super::remote::envelope(&body);
            store.put(&key, &env)?;
            t.records += 1;
            t.bytes += env.len() as u64;
        }
    }
    Ok(t)
}

/// Download every wheel and shared record of the remote the local cache lacks, checked.
pub fn pull(cache: &Cache) -> Result<Transfer, RemoteError> {
    let tier = cache.remote().ok_or_else(no_remote)?;
    let store = tier.store().ok_or_else(no_remote)?.clone();
    let mut t = Transfer::default();
    let prefix = format!("{SCHEMA}/wheels/");
    for o in store.list(&prefix)? {
        let Some((sha, name)) = o.key.strip_prefix(&prefix).and_then(|r| r.split_once('/')) else {
            continue;
        };
        if !is_sha(sha) || !name.ends_with(".whl") || name.contains('/') {
            continue;
        }
        if cache.wheel_dir(sha).join(name).is_file() {
            t.present += 1;
            continue;
        }
        let Some(data) = store.get(&o.key)? else {
            continue;
        };
        if sha256_hex(&data) != sha {
            t.corrupt.push(o.key.clone());
            continue;
        }
        let mut tmp = cache.temp_file().map_err(|e| RemoteError::Store {
            location: cache.root().display().to_string(),
            message: e.to_string(),
        })?;
        std::io::Write::write_all(&mut tmp, &data).map_err(|source| RemoteError::Io {
            path: cache.root().to_path_buf(),
            source,
        })?;
        cache
            .install_wheel(tmp, sha, name)
            .map_err(|e| RemoteError::Store {
                location: cache.root().display().to_string(),
                message: e.to_string(),
            })?;
        t.wheels += 1;
        t.bytes += data.len() as u64;
    }
    for kind in RECORD_KINDS {
        let prefix = format!("{SCHEMA}/records/{kind}/");
        for o in store.list(&prefix)? {
            let Some(rel) = o.key.strip_prefix(&prefix) else {
                continue;
            };
            if rel
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            {
                continue;
            }
            let local = cache.root().join(kind).join(rel);
            if local.is_file() {
                t.present += 1;
                continue;
            }
            let Some(bytes) = store.get(&o.key)? else {
                continue;
            };
            let n = bytes.len() as u64;
            let Some(body) = super::remote::open_envelope(bytes) else {
                t.corrupt.push(o.key.clone());
                continue;
            };
            if let Some(dir) = local.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if super::write_atomic(&cache.root().join("tmp"), &local, &body).is_ok() {
                t.records += 1;
                t.bytes += n;
            }
        }
    }
    Ok(t)
}

/// `lpack-v<digits>/…`: an object of one of lpack's remote layouts.
fn is_layout_key(key: &str) -> bool {
    key.strip_prefix("lpack-v")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(v, obj)| {
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && !obj.is_empty()
        })
}

/// What a remote prune removed (or would remove).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RemotePrune {
    pub removed: usize,
    pub removed_bytes: u64,
    pub kept: usize,
    pub kept_bytes: u64,
}

/// Remove the remote's objects older than `older_than` (by their store's modification time),
/// and every object of another layout version (`lpack-vN/` other than [`SCHEMA`]).
pub fn prune_remote(
    cache: &Cache,
    older_than: Duration,
    dry_run: bool,
) -> Result<RemotePrune, RemoteError> {
    let tier = cache.remote().ok_or_else(no_remote)?;
    let store = tier.store().ok_or_else(no_remote)?.clone();
    let now = SystemTime::now();
    let mut r = RemotePrune::default();
    // Only what lpack wrote: objects under an `lpack-vN/` layout directory (a user's
    // `lpack-vault/` or `notes.txt` beside them in a shared remote is not ours).
    for o in store
        .list("lpack-v")?
        .into_iter()
        .filter(|o| is_layout_key(&o.key))
    {
        let other_layout = !o.key.starts_with(&format!("{SCHEMA}/"));
        let old = o
            .modified
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= older_than);
        if other_layout || old {
            if !dry_run {
                store.delete(&o.key)?;
            }
            r.removed += 1;
            r.removed_bytes += o.size;
        } else {
            r.kept += 1;
            r.kept_bytes += o.size;
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout_keys_are_lpacks_own() {
        assert!(super::is_layout_key("lpack-v1/wheels/ab"));
        assert!(super::is_layout_key("lpack-v0/x"));
        assert!(!super::is_layout_key("lpack-vault/keep.txt"));
        assert!(!super::is_layout_key("lpack-v1"));
        assert!(!super::is_layout_key("lpack-v/x"));
        assert!(!super::is_layout_key("notes.txt"));
    }

    use super::*;
    use crate::cache::remote::{FileStore, RemoteMode, RemoteTier};
    use std::sync::Arc;

    fn with_remote(local: &Path, remote: &Path) -> Cache {
        Cache::open(local)
            .expect("open")
            .with_remote(Some(Arc::new(RemoteTier::new(
                Arc::new(FileStore::new(remote.to_path_buf())),
                RemoteMode::ReadWrite,
            ))))
    }

    #[test]
    fn push_then_pull_then_prune() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = Cache::open(&dir.path().join("a")).expect("open");
        let mut tmp = plain.temp_file().expect("tmp");
        std::io::Write::write_all(&mut tmp, b"wheel").expect("write");
        let sha = sha256_hex(b"wheel");
        plain
            .commit_wheel(tmp, &sha, "w-1-py3-none-any.whl")
            .expect("commit");
        plain
            .write_record("choices-v1", "k", b"{}")
            .expect("record");
        let a = with_remote(&dir.path().join("a"), &dir.path().join("r"));
        let t = push(&a).expect("push");
        assert_eq!((t.wheels, t.records, t.present), (1, 1, 0));
        assert_eq!(push(&a).expect("push").present, 2, "nothing sent twice");
        let b = with_remote(&dir.path().join("b"), &dir.path().join("r"));
        let t = pull(&b).expect("pull");
        assert_eq!((t.wheels, t.records), (1, 1));
        assert!(b.wheel_dir(&sha).join("w-1-py3-none-any.whl").is_file());
        assert_eq!(
            std::fs::read(b.root().join("choices-v1/k")).expect("r"),
            b"{}"
        );
        let kept = prune_remote(&b, Duration::from_secs(3600), false).expect("prune");
        assert_eq!((kept.removed, kept.kept), (0, 2));
        let gone = prune_remote(&b, Duration::ZERO, true).expect("dry run");
        assert_eq!(gone.removed, 2);
        assert_eq!(
            prune_remote(&b, Duration::ZERO, false)
                .expect("prune")
                .removed,
            2
        );
        assert_eq!(
            prune_remote(&b, Duration::ZERO, false).expect("prune").kept,
            0
        );
    }
}
