//! Strip results remembered by content: what stripping one library of one wheel gave (the
//! compressed stripped bytes, or why it was kept), under a key of the wheel's sha256 and the
//! entry's name. Stripping depends on nothing else, so a result made while the wheel was still
//! downloading ([`super::Prestrip`]), in an earlier pass of the same build (bytecode narrowed to
//! fit the size limit slims every wheel again) or by another build with other recipes is used
//! as it is.
//!
//! One file per library: the compressed bytes, then a JSON header, then the header's length
//! (8 bytes, little-endian). The compressed bytes are written to the file as they are made, and
//! the fragment is later written from the file: a large library's compressed copy is never held
//! in memory. The header carries the bytes' sha256, checked when a result is found: a file that
//! does not match is not used (the library is stripped again and the file replaced). Writes go
//! to a temp file renamed into place.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::ElfFacts;
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::sink::HashingWriter;
use crate::wheel::Method;

/// Bumped whenever strip output or this file's shape changes.
const MEMO_FORMAT: u32 = 2;

/// Stripped bytes kept in a memo file: where, how they are stored, and their checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    pub path: PathBuf,
    pub method: Method,
    pub crc32: u32,
    /// Uncompressed size.
    pub size: u64,
    /// Bytes at the start of the file.
    pub compressed_size: u64,
    /// The stripped file's RECORD hash (`sha256=…`).
    pub record_hash: String,
}

impl Stored {
    /// Its compressed bytes, read from the file.
    pub fn reader(&self) -> std::io::Result<impl Read + use<>> {
        Ok(std::fs::File::open(&self.path)?.take(self.compressed_size))
    }
}

/// What stripping one library gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Smaller bytes, in the memo file.
    Stripped(Stored),
    /// Nothing to strip: the file is kept as it was.
    Unchanged,
    /// Kept as it was, for this reason (a layout strip does not handle).
    Refused(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    /// `stripped`, `unchanged` or `refused`.
    outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    facts: Option<ElfFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stripped: Option<Bytes>,
}

#[derive(Serialize, Deserialize)]
struct Bytes {
    deflated: bool,
    crc32: u32,
    size: u64,
    record_hash: String,
    /// sha256 of the compressed bytes at the start of the file.
    sha256: String,
    len: u64,
}

/// The key of `entry` (its name inside the wheel) of the wheel with this sha256.
pub(super) fn key(wheel_sha256: &str, entry: &str) -> String {
    sha256_hex(
        format!(
            "lpack {}\nstrip memo {MEMO_FORMAT}\nwheel {wheel_sha256}\nentry {entry}\n",
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    )
}

/// Whether a result is remembered under `key` (not read: [`load`] checks it when it is used).
pub(super) fn exists(cache: &Cache, key: &str) -> bool {
    cache.strip_memo_path(key).is_file()
}

/// The remembered result, its facts relabelled with `installed` (the path this build installs
/// the file at); `None` when there is none or it does not check out.
pub(super) fn load(
    cache: &Cache,
    key: &str,
    installed: &str,
) -> Option<(Outcome, Option<ElfFacts>)> {
    let path = cache.strip_memo_path(key);
    let mut file = std::fs::File::open(&path).ok()?;
    let total = file.metadata().ok()?.len();
    let mut len = [0u8; 8];
    file.seek(SeekFrom::Start(total.checked_sub(8)?)).ok()?;
    file.read_exact(&mut len).ok()?;
    let header_len = u64::from_le_bytes(len);
    let header_at = total.checked_sub(8)?.checked_sub(header_len)?;
    file.seek(SeekFrom::Start(header_at)).ok()?;
    let mut line = vec![0u8; usize::try_from(header_len).ok()?];
    file.read_exact(&mut line).ok()?;
    let header: Header = serde_json::from_slice(&line).ok()?;
    if header.format != MEMO_FORMAT {
        return None;
    }
    let facts = header.facts.map(|f| ElfFacts {
        path: installed.to_string(),
        ..f
    });
    let outcome = match (header.outcome.as_str(), header.stripped) {
        ("stripped", Some(b)) => {
            if b.len != header_at {
                return None;
            }
            file.seek(SeekFrom::Start(0)).ok()?;
            let mut hasher = sha2::Sha256::new();
            std::io::copy(&mut (&mut file).take(b.len), &mut hasher).ok()?;
            if crate::digest::hex(&hasher.finalize()) != b.sha256 {
                return None;
            }
            Outcome::Stripped(Stored {
                path,
                method: if b.deflated {
                    Method::Deflated
                } else {
                    Method::Stored
                },
                crc32: b.crc32,
                size: b.size,
                compressed_size: b.len,
                record_hash: b.record_hash,
            })
        }
        ("unchanged", None) if header_at == 0 => Outcome::Unchanged,
        ("refused", None) if header_at == 0 => Outcome::Refused(header.reason?),
        _ => return None,
    };
    Some((outcome, facts))
}

/// Compress `stripped` (deflate at level 6, or stored when that is not smaller: the bytes
/// `Prepared::compress` gives) straight into a memo file under `key`, with its facts.
pub(super) fn store_stripped(
    cache: &Cache,
    key: &str,
    stripped: &[u8],
    facts: Option<&ElfFacts>,
) -> std::io::Result<Stored> {
    let mut tmp = cache.temp_file().map_err(std::io::Error::other)?;
    let (mut hasher, mut written) = {
        let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, tmp.as_file_mut()));
        let mut enc = flate2::write::DeflateEncoder::new(sink, flate2::Compression::new(6));
        enc.write_all(stripped)?;
        let mut sink = enc.finish()?;
        sink.inner.flush()?;
        (sink.hasher, sink.written)
    };
    let mut method = Method::Deflated;
    if written >= stripped.len() as u64 {
        method = Method::Stored;
        let file = tmp.as_file_mut();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(stripped)?;
        hasher = sha2::Sha256::new();
        hasher.update(stripped);
        written = stripped.len() as u64;
    }
    let bytes = Bytes {
        deflated: method == Method::Deflated,
        crc32: crc32fast::hash(stripped),
        size: stripped.len() as u64,
        record_hash: super::record_hash(stripped),
        sha256: crate::digest::hex(&hasher.finalize()),
        len: written,
    };
    let stored = Stored {
        path: cache.strip_memo_path(key),
        method,
        crc32: bytes.crc32,
        size: bytes.size,
        compressed_size: written,
        record_hash: bytes.record_hash.clone(),
    };
    write_header(tmp.as_file_mut(), "stripped", None, facts, Some(bytes))?;
    cache
        .commit_file(tmp, &stored.path)
        .map_err(std::io::Error::other)?;
    Ok(stored)
}

/// Remember that a library was kept as it was (best-effort: a memo that cannot be written is
/// only not there next time).
pub(super) fn store_kept(
    cache: &Cache,
    key: &str,
    refused: Option<&str>,
    facts: Option<&ElfFacts>,
) {
    let Ok(mut tmp) = cache.temp_file() else {
        return;
    };
    let outcome = if refused.is_some() {
        "refused"
    } else {
        "unchanged"
    };
    if write_header(tmp.as_file_mut(), outcome, refused, facts, None).is_ok() {
        let _ = cache.commit_file(tmp, &cache.strip_memo_path(key));
    }
}

fn write_header(
    file: &mut std::fs::File,
    outcome: &str,
    reason: Option<&str>,
    facts: Option<&ElfFacts>,
    stripped: Option<Bytes>,
) -> std::io::Result<()> {
    let header = Header {
        format: MEMO_FORMAT,
        outcome: outcome.to_string(),
        reason: reason.map(str::to_string),
        facts: facts.cloned(),
        stripped,
    };
    let json = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    file.seek(SeekFrom::End(0))?;
    file.write_all(&json)?;
    file.write_all(&(json.len() as u64).to_le_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Prepared;

    fn facts() -> ElfFacts {
        ElfFacts {
            path: "pkg/_x.so".into(),
            machine: 62,
            needed: vec!["libc.so.6".into()],
            soname: None,
            runpath: vec![],
            version_needs: vec![("libc.so.6".into(), vec!["GLIBC_2.17".into()])],
        }
    }

    fn read_back(s: &Stored) -> Vec<u8> {
        let mut out = Vec::new();
        s.reader()
            .expect("open")
            .read_to_end(&mut out)
            .expect("read");
        out
    }

    /// The file holds the bytes `Prepared::compress` makes, deflated or (when deflate does not
    /// help) stored, and they come back as they were stored, relabelled.
    #[test]
    fn stripped_bytes_are_what_prepared_compress_makes() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::open(dir.path()).expect("cache");
        let mut noise = vec![0u8; 5000];
        let mut x = 12345u32;
        for b in &mut noise {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        let text: Vec<u8> = b"def f(x):\n    return x\n".repeat(4000);
        for (i, data) in [text, noise, Vec::new()].iter().enumerate() {
            let k = key("feed", &format!("pkg/_{i}.so"));
            assert!(load(&cache, &k, "pkg/_x.so").is_none());
            let stored = store_stripped(&cache, &k, data, Some(&facts())).expect("store");
            let p = Prepared::compress(data).expect("compress");
            assert_eq!(stored.method, p.method, "case {i}");
            assert_eq!((stored.crc32, stored.size), (p.crc32, p.size));
            assert_eq!(read_back(&stored), p.data, "case {i}");
            assert_eq!(stored.record_hash, super::super::record_hash(data));
            let (back, f) = load(&cache, &k, "other/_y.so").expect("remembered");
            assert_eq!(back, Outcome::Stripped(stored));
            assert_eq!(f.expect("facts").path, "other/_y.so");
        }
        let k = key("feed", "pkg/kept.so");
        store_kept(&cache, &k, None, Some(&facts()));
        assert_eq!(
            load(&cache, &k, "a.so").map(|o| o.0),
            Some(Outcome::Unchanged)
        );
        store_kept(&cache, &k, Some("overlapping sections"), None);
        assert_eq!(
            load(&cache, &k, "a.so"),
            Some((Outcome::Refused("overlapping sections".into()), None))
        );
        assert_ne!(key("feed", "a.so"), key("feed", "b.so"));
        assert_ne!(key("feed", "a.so"), key("beef", "a.so"));
    }

    #[test]
    fn a_damaged_memo_is_not_used() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::open(dir.path()).expect("cache");
        let k = key("feed", "pkg/_x.so");
        let data = b"abcdefgh".repeat(1000);
        store_stripped(&cache, &k, &data, None).expect("store");
        let path = cache.strip_memo_path(&k);
        let good = std::fs::read(&path).expect("memo");
        let mut flipped = good.clone();
        flipped[3] ^= 1;
        std::fs::write(&path, &flipped).expect("damage");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "flipped byte");
        std::fs::write(&path, &good[..good.len() - 1]).expect("truncate");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "truncated");
        std::fs::write(&path, &good[5..]).expect("cut");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "front cut");
        std::fs::write(&path, b"{not json").expect("garbage");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "garbage");
        std::fs::write(&path, u64::MAX.to_le_bytes()).expect("huge length");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "huge length");
        std::fs::write(&path, &good).expect("restore");
        assert!(load(&cache, &k, "pkg/_x.so").is_some());
    }
}
