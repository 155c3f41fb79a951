//! The wheel's RECORD file: reading it, hashing entries the way it does, and rewriting it so it
//! lists exactly the files a slimmed fragment holds.

use std::collections::BTreeMap;

use super::{Content, SlimError};
use crate::sink::Prepared;
use crate::wheel::{ArchivePath, Wheel};

/// A RECORD hash: `sha256=` and the urlsafe base64 of the digest without padding.
pub fn record_hash(data: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data))
    )
}

/// `path → (hash, size)` of a wheel's RECORD (CSV; paths may be quoted).
pub(super) fn parse_record(text: &str) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (path, rest) = if let Some(q) = line.strip_prefix('"') {
            // "a,b.py",sha256=…,12 — a doubled quote is a literal quote.
            let mut path = String::new();
            let mut chars = q.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().map(|&(_, c)| c) == Some('"') {
                        path.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    path.push(c);
                }
            }
            match end.and_then(|e| q[e..].strip_prefix(',')) {
                Some(rest) => (path, rest),
                None => continue,
            }
        } else {
            match line.split_once(',') {
                Some((p, rest)) => (p.to_string(), rest),
                None => continue,
            }
        };
        let (hash, size) = rest.rsplit_once(',').unwrap_or((rest, ""));
        if let (true, Ok(size)) = (hash.starts_with("sha256="), size.trim().parse::<u64>()) {
            out.insert(path, (hash.to_string(), size));
        }
    }
    out
}

pub(super) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Replace the wheel's `*.dist-info/RECORD` (when kept) by one that lists every file of the
/// plan with its sha256 and size: stripped libraries get their new hashes, dropped files
/// disappear, added bytecode appears. Hashes of unchanged files come from the wheel's RECORD when
/// it lists them with the right size, otherwise from the bytes.
pub(super) fn rewrite_record(
    wheel: &Wheel,
    plan: &mut BTreeMap<ArchivePath, (Content, usize)>,
) -> Result<(), SlimError> {
    let Some(di) = wheel.dist_info_dir() else {
        return Ok(());
    };
    let Ok(record_path) = ArchivePath::new(&format!("{di}/RECORD")) else {
        return Ok(());
    };
    let Some((Content::Raw(record_entry), ri)) = plan.get(&record_path) else {
        return Ok(());
    };
    let ri = *ri;
    let original = parse_record(&String::from_utf8_lossy(
        &wheel.read_entry(record_entry.index)?,
    ));
    let mut body = String::new();
    for (path, (content, _)) in plan.iter() {
        let field = csv_field(path.as_str());
        if path == &record_path {
            body.push_str(&format!("{field},,\n"));
            continue;
        }
        let (hash, size) = match content {
            Content::Raw(e) => match original.get(e.path.as_str()) {
                Some((h, size)) if *size == e.size => (h.clone(), e.size),
                _ => (record_hash(&wheel.read_entry(e.index)?), e.size),
            },
            Content::New(p, _, h) => (h.clone(), p.size),
            Content::Memo(m, _) => (m.record_hash.clone(), m.size),
        };
        body.push_str(&format!("{field},{hash},{size}\n"));
    }
    let prepared =
        Prepared::compress(body.as_bytes()).map_err(|e| SlimError::Write(e.to_string()))?;
    plan.insert(
        record_path,
        (Content::New(prepared, false, String::new()), ri),
    );
    Ok(())
}
