//! The local tier of whole artifacts ([`super::shared`]): what this machine built, by content
//! key, under `artifacts-v1/<name>/<key>/` in the cache (`<name>`: 16 hex digits of the output
//! file name's sha256, so the builds of one output sit together and the oldest can go).
//!
//! An entry holds `record.json` (each artifact's file name, sha256, size, its manifest's sha256,
//! and the stamp — size, modification time, inode — its kept copy had when it was kept) and
//! `files/<file>` with `files/<file>.lpack.json`. The kept copy is a hard link to the output when
//! both are on one file system (no second copy of a 100 MB zip), else a copy. A kept file whose
//! stamp no longer matches (something wrote to the output in place) is not trusted: a miss, and
//! the build runs. Restoring copies the kept file beside the output (`copy_file_range`, no
//! hashing: the stamp vouches for the bytes lpack hashed when it wrote them).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::artifact::{ArtifactManifest, manifest_path};
use crate::cache::Cache;
use crate::digest::sha256_hex;

/// The directory under the cache root.
pub const KIND: &str = "artifacts-v1";
/// Keys kept per output file name: the newest ones (a handler edited back and forth hits).
pub const KEEP_PER_NAME: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stamp {
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    ino: u64,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            size: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            ino: m.ino(),
        }
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Record {
    artifacts: Vec<KeptFile>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct KeptFile {
    file: String,
    sha256: String,
    size: u64,
    manifest_sha256: String,
    stamp: Stamp,
}

/// One artifact found in the local tier, checked and ready to copy.
pub struct Found {
    /// The kept copy.
    pub kept: PathBuf,
    /// Its file name (the output beside the requested one).
    pub file: String,
    /// The manifest's bytes, as the build wrote them (their sha256 checked against the record).
    pub manifest_bytes: Vec<u8>,
    /// The artifact's sha256 the record names.
    sha256: String,
}

impl Found {
    /// The manifest, read from its bytes; `None` when it does not name the recorded artifact.
    /// (Apart from [`find`], so that a large one is read while the artifact is being copied.)
    pub fn manifest(&self) -> Option<ArtifactManifest> {
        let manifest: ArtifactManifest = serde_json::from_slice(&self.manifest_bytes).ok()?;
        (manifest.artifact.sha256 == self.sha256).then_some(manifest)
    }
}

/// A plain file name (what a record may name; nothing with a directory in it).
pub fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

fn name_dir(cache: &Cache, output_name: &str) -> PathBuf {
    let id = sha256_hex(output_name.as_bytes());
    cache.root().join(KIND).join(&id[..16])
}

fn entry_dir(cache: &Cache, output_name: &str, key: &str) -> PathBuf {
    name_dir(cache, output_name).join(key)
}

/// The artifacts kept under `key` for outputs named `output_name`, each checked against its
/// stamp and its manifest against the record; `None` when anything is missing or changed.
pub fn find(cache: &Cache, output_name: &str, key: &str) -> Option<Vec<Found>> {
    let dir = entry_dir(cache, output_name, key);
    cache.note_path(&dir);
    let record: Record = serde_json::from_slice(&fs::read(dir.join("record.json")).ok()?).ok()?;
    if record.artifacts.is_empty() || !record.artifacts.iter().all(|a| plain(&a.file)) {
        return None;
    }
    let mut found = Vec::new();
    for a in record.artifacts {
        let kept = dir.join("files").join(&a.file);
        let meta = fs::metadata(&kept).ok()?;
        if Stamp::of(&meta) != a.stamp || meta.len() != a.size {
            return None;
        }
        let manifest_bytes = fs::read(manifest_path(&kept)).ok()?;
        if sha256_hex(&manifest_bytes) != a.manifest_sha256 {
            return None;
        }
        found.push(Found {
            kept,
            file: a.file,
            manifest_bytes,
            sha256: a.sha256,
        });
    }
    // Touched, so that the newest entries of a name are the ones used last.
    let _ = fs::File::open(dir.join("record.json"))
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    Some(found)
}

/// Whether `output` is the kept file itself (a hard link of it): nothing to copy.
pub fn same_file(kept: &Path, output: &Path) -> bool {
    match (fs::metadata(kept), fs::metadata(output)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// One artifact a build wrote, to keep: its output, manifest file, and the sha256 it was
/// written with.
pub struct ToKeep<'a> {
    pub output: &'a Path,
    pub manifest_file: &'a Path,
    pub sha256: &'a str,
}

/// Keep a build's artifacts under `key` (best effort: a cache that cannot take them costs the
/// next build its shortcut, nothing else), then drop the oldest keys of the same output name.
pub fn keep(cache: &Cache, output_name: &str, key: &str, artifacts: &[ToKeep<'_>]) {
    let dest = entry_dir(cache, output_name, key);
    cache.note_path(&dest);
    if dest.join("record.json").is_file() && find(cache, output_name, key).is_some() {
        return;
    }
    if stage(cache, &dest, artifacts).is_some() {
        evict(&name_dir(cache, output_name), KEEP_PER_NAME);
    }
}

/// Write the entry in a staging directory under `tmp/` and rename it into place.
fn stage(cache: &Cache, dest: &Path, artifacts: &[ToKeep<'_>]) -> Option<()> {
    let staging = tempfile::Builder::new()
        .prefix(".tmp-kept-")
        .tempdir_in(cache.root().join("tmp"))
        .ok()?;
    let files = staging.path().join("files");
    fs::create_dir_all(&files).ok()?;
    let mut record = Record {
        artifacts: Vec::new(),
    };
    for a in artifacts {
        let file = a.output.file_name()?.to_str()?.to_string();
        if !plain(&file) {
            return None;
        }
        let kept = files.join(&file);
        if fs::hard_link(a.output, &kept).is_err() {
            fs::copy(a.output, &kept).ok()?;
        }
        let meta = fs::metadata(&kept).ok()?;
        let manifest_bytes = fs::read(a.manifest_file).ok()?;
        fs::write(manifest_path(&kept), &manifest_bytes).ok()?;
        record.artifacts.push(KeptFile {
            file,
            sha256: a.sha256.to_string(),
            size: meta.len(),
            manifest_sha256: sha256_hex(&manifest_bytes),
            stamp: Stamp::of(&meta),
        });
    }
    fs::write(
        staging.path().join("record.json"),
        serde_json::to_vec(&record).ok()?,
    )
    .ok()?;
    fs::create_dir_all(dest.parent()?).ok()?;
    // An older entry of this key whose files changed: replaced.
    if dest.exists() {
        let _ = fs::remove_dir_all(dest);
    }
    let staged = staging.keep();
    if fs::rename(&staged, dest).is_err() {
        // Another build kept the same key a moment ago.
        let _ = fs::remove_dir_all(&staged);
    }
    Some(())
}

/// Keep the `keep` most recently used entries of one output name, remove the rest.
fn evict(name_dir: &Path, keep: usize) {
    let Ok(rd) = fs::read_dir(name_dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        // Only entries this module wrote: a 64-hex key directory holding a record. Anything
        // else someone put here is left alone.
        .filter(|e| {
            e.file_type().is_ok_and(|t| t.is_dir())
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                && e.path().join("record.json").is_file()
        })
        .map(|e| {
            let used = fs::metadata(e.path().join("record.json"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (used, e.path())
        })
        .collect();
    entries.sort();
    let excess = entries.len().saturating_sub(keep);
    for (_, dir) in entries.into_iter().take(excess) {
        let _ = fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(&dir.path().join("cache")).expect("open");
        (dir, cache)
    }

    fn manifest_json(sha: &str) -> Vec<u8> {
        let mut m = serde_json::json!({});
        m["artifact"] = serde_json::json!({"sha256": sha});
        serde_json::to_vec(&m).expect("json")
    }

    #[test]
    fn plain_names_only() {
        assert!(plain("fn.zip"));
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0"] {
            assert!(!plain(bad), "{bad:?}");
        }
    }

    #[test]
    fn evicts_the_least_recently_used_beyond_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = std::time::SystemTime::now();
        let keys: Vec<String> = ["a", "b", "c"].iter().map(|c| c.repeat(64)).collect();
        for (i, k) in keys.iter().enumerate() {
            let d = dir.path().join(k);
            fs::create_dir_all(&d).expect("mkdir");
            let f = fs::File::create(d.join("record.json")).expect("create");
            f.set_modified(base - std::time::Duration::from_secs(100 - i as u64 * 10))
                .expect("mtime");
        }
        // Not entries: a user's file and folder (even an old one) are left alone.
        fs::write(dir.path().join("notes.txt"), "x").expect("write");
        fs::create_dir_all(dir.path().join("mine")).expect("mkdir");
        fs::write(dir.path().join("mine/record.json"), "{}").expect("write");
        evict(dir.path(), 2);
        assert!(!dir.path().join(&keys[0]).exists());
        assert!(dir.path().join(&keys[1]).exists() && dir.path().join(&keys[2]).exists());
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("mine/record.json").exists());
    }

    #[test]
    fn a_kept_file_changed_in_place_is_not_trusted() {
        let (dir, cache) = cache();
        let out = dir.path().join("fn.zip");
        let mf = dir.path().join("fn.zip.lpack.json");
        fs::write(&out, b"zip bytes").expect("write");
        fs::write(&mf, manifest_json("abc")).expect("write");
        keep(
            &cache,
            "fn.zip",
            "k1",
            &[ToKeep {
                output: &out,
                manifest_file: &mf,
                sha256: "abc",
            }],
        );
        let entry = entry_dir(&cache, "fn.zip", "k1");
        assert!(entry.join("record.json").is_file());
        assert!(same_file(&entry.join("files/fn.zip"), &out), "hard-linked");
        let record: Record =
            serde_json::from_slice(&fs::read(entry.join("record.json")).expect("record"))
                .expect("parse");
        let stamp_holds = || {
            Stamp::of(&fs::metadata(entry.join("files/fn.zip")).expect("kept"))
                == record.artifacts[0].stamp
        };
        assert!(stamp_holds());
        // Written in place through the output (same inode): the stamp no longer matches.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&out, b"other bytes!").expect("write");
        assert!(!stamp_holds());
        assert!(find(&cache, "fn.zip", "k1").is_none());
    }
}
