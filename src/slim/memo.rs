//! Strip results remembered by content: what stripping one library of one wheel gave (the
//! compressed stripped bytes, or why it was kept), under a key of the wheel's sha256 and the
//! entry's name. Stripping depends on nothing else, so a result made while the wheel was still
//! downloading ([`super::prestrip`]), in an earlier pass of the same build (bytecode narrowed to
//! fit the size limit slims every wheel again) or by another build with other recipes is used
//! as it is.
//!
//! One file per library: a JSON header line, then the compressed bytes. The header carries the
//! bytes' sha256, checked on every read: a file that does not match is not used (the library is
//! stripped again and the file replaced). Writes are best-effort (temp file + rename): a memo
//! that cannot be written only costs the next pass a strip.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::ElfFacts;
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::sink::Prepared;
use crate::wheel::Method;

/// Bumped whenever strip output or this file's shape changes.
const MEMO_FORMAT: u32 = 1;

/// What stripping one library gave.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// Smaller bytes: compressed, and their RECORD hash (`sha256=…`).
    Stripped(Prepared, String),
    /// Nothing to strip: the file is kept as it was.
    Unchanged,
    /// Kept as it was, for this reason (a layout strip does not handle).
    Refused(String),
}

impl Outcome {
    /// As the slim stage takes it: stripped bytes and hash, nothing to strip, or why not.
    pub(super) fn into_result(self) -> super::StripOutcome {
        match self {
            Outcome::Stripped(p, hash) => Ok(Some((p, hash))),
            Outcome::Unchanged => Ok(None),
            Outcome::Refused(why) => Err(why),
        }
    }
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
    /// sha256 of the compressed bytes that follow the header.
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

/// The remembered result, its facts relabelled with `installed` (the path this build installs
/// the file at); `None` when there is none or it does not check out.
pub(super) fn load(
    cache: &Cache,
    key: &str,
    installed: &str,
) -> Option<(Outcome, Option<ElfFacts>)> {
    let file = std::fs::File::open(cache.strip_memo_path(key)).ok()?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut reader, b'\n', &mut line).ok()?;
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
            let mut data = Vec::with_capacity(usize::try_from(b.len).ok()?);
            reader.read_to_end(&mut data).ok()?;
            if data.len() as u64 != b.len || sha256_hex(&data) != b.sha256 {
                return None;
            }
            let method = if b.deflated {
                Method::Deflated
            } else {
                Method::Stored
            };
            let prepared = Prepared {
                method,
                crc32: b.crc32,
                size: b.size,
                data,
            };
            Outcome::Stripped(prepared, b.record_hash)
        }
        ("unchanged", None) => Outcome::Unchanged,
        ("refused", None) => Outcome::Refused(header.reason?),
        _ => return None,
    };
    Some((outcome, facts))
}

/// Whether a result is remembered under `key` (not read: [`load`] checks it when it is used).
pub(super) fn exists(cache: &Cache, key: &str) -> bool {
    cache.strip_memo_path(key).is_file()
}

/// Remember a result (best-effort: a memo that cannot be written is only not there next time).
pub(super) fn store(cache: &Cache, key: &str, outcome: &Outcome, facts: Option<&ElfFacts>) {
    let (name, reason, stripped, data): (_, _, _, &[u8]) = match outcome {
        Outcome::Stripped(p, hash) => (
            "stripped",
            None,
            Some(Bytes {
                deflated: p.method == Method::Deflated,
                crc32: p.crc32,
                size: p.size,
                record_hash: hash.clone(),
                sha256: sha256_hex(&p.data),
                len: p.data.len() as u64,
            }),
            &p.data,
        ),
        Outcome::Unchanged => ("unchanged", None, None, &[]),
        Outcome::Refused(why) => ("refused", Some(why.clone()), None, &[]),
    };
    let header = Header {
        format: MEMO_FORMAT,
        outcome: name.to_string(),
        reason,
        facts: facts.cloned(),
        stripped,
    };
    let Ok(mut line) = serde_json::to_vec(&header) else {
        return;
    };
    line.push(b'\n');
    let Ok(mut tmp) = cache.temp_file() else {
        return;
    };
    let written = tmp.write_all(&line).and_then(|()| tmp.write_all(data));
    if written.is_ok() {
        let _ = cache.commit_file(tmp, &cache.strip_memo_path(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn results_come_back_as_they_were_stored_relabelled() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::open(dir.path()).expect("cache");
        let p = Prepared::compress(&[7u8; 4096]).expect("compress");
        let cases = [
            Outcome::Stripped(p, "sha256=abc".into()),
            Outcome::Unchanged,
            Outcome::Refused("overlapping sections".into()),
        ];
        for (i, o) in cases.iter().enumerate() {
            let k = key("feed", &format!("pkg/_{i}.so"));
            assert!(load(&cache, &k, "pkg/_x.so").is_none());
            store(&cache, &k, o, Some(&facts()));
            let (back, f) = load(&cache, &k, "other/_y.so").expect("remembered");
            assert_eq!(&back, o);
            assert_eq!(f.expect("facts").path, "other/_y.so");
        }
        assert_ne!(key("feed", "a.so"), key("feed", "b.so"));
        assert_ne!(key("feed", "a.so"), key("beef", "a.so"));
    }

    #[test]
    fn a_damaged_memo_is_not_used() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::open(dir.path()).expect("cache");
        let p = Prepared::compress(&[3u8; 8192]).expect("compress");
        let k = key("feed", "pkg/_x.so");
        store(&cache, &k, &Outcome::Stripped(p, "sha256=x".into()), None);
        let path = cache.strip_memo_path(&k);
        let mut bytes = std::fs::read(&path).expect("memo");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("damage");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "flipped byte");
        bytes.truncate(last);
        std::fs::write(&path, &bytes).expect("truncate");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "truncated");
        std::fs::write(&path, b"{not json\n").expect("garbage");
        assert!(load(&cache, &k, "pkg/_x.so").is_none(), "garbage");
    }
}
