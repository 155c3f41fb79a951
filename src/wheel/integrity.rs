//! Wheel integrity and size: what pip and `installer` refuse, and what would not fit.
//!
//! [`inspect`] reads a wheel once and either refuses it, naming the wheel and what is wrong, or
//! returns [`Facts`] small enough to remember in the cache under the wheel's sha256 (the
//! caller stores them), so the check runs once per wheel, not once per build:
//!
//! - the zip's *declared* sizes are compared with the [`SizeLimit`] first, before a single byte
//!   is inflated: an entry or the wheel's total over the limit is refused (a zip bomb costs a
//!   central-directory read);
//! - duplicate entry names, unsafe paths, links (from [`super::list_entries`]);
//! - exactly one `*.dist-info` directory, named (after normalisation) like the wheel file, with a
//!   `METADATA` whose `Name` and `Version` match the file name and a `WHEEL` whose
//!   `Wheel-Version` major is 1;
//! - `RECORD`: every entry listed with a sha256/384/512 hash and size that match what the entry
//!   really inflates to (streamed, never buffered), except `RECORD` itself, its signatures and
//!   `__pycache__/*.pyc` (which pip writes after installing). RECORD problems are kept in
//!   [`Facts::record_problem`] rather than failing `inspect`, so `--no-verify-record` can ship
//!   such a wheel with a warning while the cached facts stay the same.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use sha2::Digest;

use super::{WheelEntry, WheelError, WheelFilename, copy_entry, list_entries, normalize_name};

/// Bumped when what [`inspect`] checks changes, so cached facts are re-derived.
pub const FACTS_FORMAT: u32 = 1;

/// How large a wheel may be, unzipped, for the artifact being built.
#[derive(Debug, Clone)]
pub struct SizeLimit {
    pub bytes: u64,
    /// What the limit is, for messages: "Lambda's unzipped limit for zips and layers".
    pub what: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error(transparent)]
    Wheel(#[from] WheelError),
    #[error(
        "wheel {wheel}: entry `{entry}` declares {size} bytes unzipped, over {what} ({limit} bytes); refused before inflating anything\n  hint: it does not fit this format (or it is a zip bomb); container images (--format image) take wheels up to --max-image-size (default 10GB)"
    )]
    EntryTooLarge {
        wheel: String,
        entry: String,
        size: u64,
        limit: u64,
        what: String,
    },
    #[error(
        "wheel {wheel} declares {total} bytes unzipped in total (largest entry `{entry}`, {size} bytes), over {what} ({limit} bytes); refused before inflating anything\n  hint: it does not fit this format (or it is a zip bomb); container images (--format image) take wheels up to --max-image-size (default 10GB)"
    )]
    TotalTooLarge {
        wheel: String,
        total: u64,
        entry: String,
        size: u64,
        limit: u64,
        what: String,
    },
    #[error(
        "wheel {wheel} is malformed: {what}\n  hint: pip and installer refuse this wheel too; report it to its maintainers, or rebuild it with a current build backend"
    )]
    Malformed { wheel: String, what: String },
    #[error(
        "wheel {wheel}: {what}\n  hint: this wheel needs a newer installer than lpack understands (Wheel-Version major 1)"
    )]
    TooNew { wheel: String, what: String },
    #[error(
        "wheel {wheel}: RECORD check failed: {problem}\n  hint: the wheel was altered after it was built, or its RECORD is wrong; re-download it (`lpack cache clean`), or ship it anyway with --no-verify-record"
    )]
    Record { wheel: String, problem: String },
}

/// What a wheel that passed [`inspect`] is, remembered in the cache by its sha256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    pub format: u32,
    /// The file name checked against the dist-info (the same bytes under another name are
    /// checked again).
    pub filename: String,
    pub entries: usize,
    /// Sum of the declared unzipped sizes of its files.
    pub total_size: u64,
    /// The largest entry and its declared size.
    pub largest: String,
    pub largest_size: u64,
    /// `None`: RECORD lists every file with a matching hash and size.
    pub record_problem: Option<String>,
}

impl Facts {
    /// Refuse the wheel if it does not fit `limit` (from declared sizes only).
    pub fn check_size(&self, wheel: &str, limit: &SizeLimit) -> Result<(), IntegrityError> {
        if self.largest_size > limit.bytes {
            return Err(IntegrityError::EntryTooLarge {
                wheel: wheel.to_string(),
                entry: self.largest.clone(),
                size: self.largest_size,
                limit: limit.bytes,
                what: limit.what.clone(),
            });
        }
        if self.total_size > limit.bytes {
            return Err(IntegrityError::TotalTooLarge {
                wheel: wheel.to_string(),
                total: self.total_size,
                entry: self.largest.clone(),
                size: self.largest_size,
                limit: limit.bytes,
                what: limit.what.clone(),
            });
        }
        Ok(())
    }
}

fn size_facts(filename: &str, entries: &[WheelEntry]) -> Facts {
    let mut total = 0u64;
    let mut largest = ("", 0u64);
    for e in entries {
        total = total.saturating_add(e.size);
        if e.size > largest.1 || largest.0.is_empty() {
            largest = (e.path.as_str(), e.size);
        }
    }
    Facts {
        format: FACTS_FORMAT,
        filename: filename.to_string(),
        entries: entries.len(),
        total_size: total,
        largest: largest.0.to_string(),
        largest_size: largest.1,
        record_problem: None,
    }
}

/// Check the wheel at `path` (named `filename`) against `limit` and the wheel format.
pub fn inspect(path: &Path, filename: &str, limit: &SizeLimit) -> Result<Facts, IntegrityError> {
    let parsed = WheelFilename::parse(filename)?;
    let entries = list_entries(path, filename)?;
    let mut facts = size_facts(filename, &entries);
    facts.check_size(filename, limit)?;

    let di = dist_info_dir(filename, &entries, &parsed)?;
    let w = DistInfo {
        path,
        filename,
        entries: &entries,
        di: &di,
    };
    w.check_metadata(&parsed)?;
    w.check_wheel_version()?;

    // RECORD: every file, hash and size.
    facts.record_problem = match w.find("RECORD") {
        None => Some(format!("`{di}/RECORD` is missing")),
        Some(r) => {
            let text = w.read_small(r)?;
            match parse_record(&text) {
                Err(why) => Some(format!("RECORD is unreadable: {why}")),
                Ok(rows) => check_record(path, filename, &di, &entries, &rows)?,
            }
        }
    };
    Ok(facts)
}

/// The wheel's error for a breach of the wheel format.
fn malformed(filename: &str, what: String) -> IntegrityError {
    IntegrityError::Malformed {
        wheel: filename.to_string(),
        what,
    }
}

/// Exactly one dist-info directory, named after the wheel; returns its name.
fn dist_info_dir(
    filename: &str,
    entries: &[WheelEntry],
    parsed: &WheelFilename,
) -> Result<String, IntegrityError> {
    let mut dirs: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.path.as_str().split('/').next())
        .filter(|d| d.ends_with(".dist-info"))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    let di = match dirs.as_slice() {
        [] => {
            return Err(malformed(
                filename,
                "it has no `*.dist-info` directory".to_string(),
            ));
        }
        [one] => one.to_string(),
        many => {
            return Err(malformed(
                filename,
                format!(
                    "it has {} `.dist-info` directories ({})",
                    many.len(),
                    many.join(", ")
                ),
            ));
        }
    };
    let stem = di.trim_end_matches(".dist-info");
    let (di_name, di_version) = stem.rsplit_once('-').unwrap_or((stem, ""));
    if normalize_name(di_name) != normalize_name(&parsed.name)
        || !same_version(di_version, &parsed.version)
    {
        return Err(malformed(
            filename,
            format!(
                "its dist-info directory `{di}` does not match the file name (expected {}-{}.dist-info)",
                parsed.name, parsed.version
            ),
        ));
    }
    Ok(di)
}

/// A wheel's dist-info directory, whose small files are read from the wheel at `path`.
struct DistInfo<'a> {
    path: &'a Path,
    filename: &'a str,
    entries: &'a [WheelEntry],
    di: &'a str,
}

impl DistInfo<'_> {
    /// The entry of the dist-info file `name`.
    fn find(&self, name: &str) -> Option<&WheelEntry> {
        let want = format!("{}/{name}", self.di);
        self.entries.iter().find(|e| e.path.as_str() == want)
    }

    /// The text of a small entry (lossy UTF-8).
    fn read_small(&self, e: &WheelEntry) -> Result<String, IntegrityError> {
        let mut archive = super::open_archive(self.path, self.filename)?;
        let mut buf = Vec::new();
        copy_entry(&mut archive, self.filename, e.index, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// METADATA: Name and Version as in the file name.
    fn check_metadata(&self, parsed: &WheelFilename) -> Result<(), IntegrityError> {
        let (di, filename) = (self.di, self.filename);
        let Some(meta) = self.find("METADATA") else {
            return Err(malformed(filename, format!("`{di}/METADATA` is missing")));
        };
        let headers = parse_headers(&self.read_small(meta)?);
        let name = header(&headers, "Name");
        let version = header(&headers, "Version");
        match (name, version) {
            (Some(n), Some(v)) => {
                if normalize_name(n) != normalize_name(&parsed.name) {
                    return Err(malformed(
                        filename,
                        format!("METADATA names `{n}`, the file name `{}`", parsed.name),
                    ));
                }
                if !same_version(v, &parsed.version) {
                    return Err(malformed(
                        filename,
                        format!(
                            "METADATA says version {v}, the file name {}",
                            parsed.version
                        ),
                    ));
                }
                Ok(())
            }
            _ => Err(malformed(
                filename,
                format!("`{di}/METADATA` has no Name or no Version"),
            )),
        }
    }

    /// WHEEL: a Wheel-Version we understand.
    fn check_wheel_version(&self) -> Result<(), IntegrityError> {
        let (di, filename) = (self.di, self.filename);
        let Some(wheel_file) = self.find("WHEEL") else {
            return Err(malformed(filename, format!("`{di}/WHEEL` is missing")));
        };
        let headers = parse_headers(&self.read_small(wheel_file)?);
        let Some(wv) = header(&headers, "Wheel-Version") else {
            return Err(malformed(
                filename,
                format!("`{di}/WHEEL` has no Wheel-Version"),
            ));
        };
        match wheel_version_major(wv) {
            Some(1) => Ok(()),
            Some(m) if m > 1 => Err(IntegrityError::TooNew {
                wheel: filename.to_string(),
                what: format!("Wheel-Version {wv} (major {m})"),
            }),
            _ => Err(malformed(
                filename,
                format!("unreadable Wheel-Version `{wv}`"),
            )),
        }
    }
}

fn same_version(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        a.parse::<pep440_rs::Version>(),
        b.parse::<pep440_rs::Version>(),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Major version of a `Wheel-Version: M.m` value.
pub fn wheel_version_major(v: &str) -> Option<u64> {
    let (major, minor) = v.trim().split_once('.')?;
    minor.parse::<u64>().ok()?;
    major.parse().ok()
}

/// The header block of an email-style file (METADATA, WHEEL): `Key: value` lines up to the first
/// blank line; continuation lines are joined. Keys keep their case; lookups ignore it.
pub fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// One row of RECORD: path, optional `algo=digest`, optional size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub path: String,
    pub hash: Option<(String, String)>,
    pub size: Option<u64>,
}

/// Parse RECORD (CSV: quoted fields may hold commas and doubled quotes).
pub fn parse_record(text: &str) -> Result<Vec<RecordRow>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields = csv_fields(line).ok_or_else(|| format!("line {}: bad quoting", n + 1))?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(format!(
                "line {}: {} fields, expected 3",
                n + 1,
                fields.len()
            ));
        };
        let hash = if hash.is_empty() {
            None
        } else {
            let (algo, digest) = hash
                .split_once('=')
                .ok_or_else(|| format!("line {}: hash `{hash}` is not algo=digest", n + 1))?;
            Some((algo.to_string(), digest.to_string()))
        };
        let size = if size.is_empty() {
            None
        } else {
            Some(
                size.parse::<u64>()
                    .map_err(|_| format!("line {}: size `{size}` is not a number", n + 1))?,
            )
        };
        rows.push(RecordRow {
            path: path.clone(),
            hash,
            size,
        });
    }
    Ok(rows)
}

fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return None;
    }
    fields.push(cur);
    Some(fields)
}

/// Files RECORD need not list or hash: RECORD itself, its signatures, pip-written bytecode.
fn record_exempt(di: &str, path: &str) -> bool {
    path == format!("{di}/RECORD")
        || path == format!("{di}/RECORD.jws")
        || path == format!("{di}/RECORD.p7s")
        || (path.ends_with(".pyc") && path.contains("__pycache__/"))
}

/// RECORD's encoding of a digest: urlsafe base64 without padding.
pub fn record_digest(digest: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// The RECORD hash field of some bytes: `sha256=<urlsafe base64>`.
pub fn record_hash(data: &[u8]) -> String {
    format!("sha256={}", record_digest(&sha2::Sha256::digest(data)))
}

/// A writer that only hashes.
struct HashWriter<D: Digest>(D);

impl<D: Digest> Write for HashWriter<D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hash_entry<D: Digest>(
    archive: &mut zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    filename: &str,
    index: usize,
    hasher: D,
) -> Result<String, WheelError> {
    let mut w = HashWriter(hasher);
    copy_entry(archive, filename, index, &mut w)?;
    Ok(record_digest(&w.0.finalize()))
}

/// `Ok(None)` when RECORD matches; `Ok(Some(problem))` for the first mismatch (and a count of
/// the others); `Err` only when an entry cannot be inflated at all.
fn check_record(
    path: &Path,
    filename: &str,
    di: &str,
    entries: &[WheelEntry],
    rows: &[RecordRow],
) -> Result<Option<String>, IntegrityError> {
    let by_path: std::collections::HashMap<&str, &RecordRow> =
        rows.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut archive = super::open_archive(path, filename)?;
    let mut problems: Vec<String> = Vec::new();
    for e in entries {
        let p = e.path.as_str();
        if record_exempt(di, p) {
            continue;
        }
        let Some(row) = by_path.get(p) else {
            problems.push(format!("`{p}` is not listed in RECORD"));
            continue;
        };
        let Some((algo, want)) = &row.hash else {
            problems.push(format!("RECORD lists `{p}` without a hash"));
            continue;
        };
        if let Some(size) = row.size
            && size != e.size
        {
            problems.push(format!(
                "RECORD says `{p}` is {size} bytes, the wheel holds {}",
                e.size
            ));
            continue;
        }
        let got = match algo.as_str() {
            "sha256" => hash_entry(&mut archive, filename, e.index, sha2::Sha256::new())?,
            "sha384" => hash_entry(&mut archive, filename, e.index, sha2::Sha384::new())?,
            "sha512" => hash_entry(&mut archive, filename, e.index, sha2::Sha512::new())?,
            other => {
                problems.push(format!(
                    "RECORD hashes `{p}` with {other}, which is not allowed (sha256 or stronger)"
                ));
                continue;
            }
        };
        if &got != want {
            problems.push(format!(
                "`{p}` does not match its RECORD hash ({algo}={want}, the file is {algo}={got})"
            ));
        }
    }
    Ok(match problems.len() {
        0 => None,
        1 => problems.pop(),
        n => Some(format!("{} (and {} more)", problems[0], n - 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn sha(data: &[u8]) -> String {
        record_hash(data)
    }

    type Files<'a> = [(&'a str, &'a [u8])];
    type RecordFn<'a> = &'a dyn Fn(&Files<'_>) -> String;

    /// Write a wheel; `record` decides RECORD's text from the files (None: no RECORD).
    fn wheel(
        dir: &Path,
        filename: &str,
        files: &[(&str, &[u8])],
        record: Option<RecordFn<'_>>,
    ) -> std::path::PathBuf {
        let path = dir.join(filename);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let opts = SimpleFileOptions::default();
        for (p, d) in files {
            z.start_file(*p, opts).expect("start");
            z.write_all(d).expect("write");
        }
        if let Some(r) = record {
            let di = files
                .iter()
                .find_map(|(p, _)| p.split_once(".dist-info/").map(|x| x.0))
                .unwrap_or("x");
            z.start_file(format!("{di}.dist-info/RECORD"), opts)
                .expect("start");
            z.write_all(r(files).as_bytes()).expect("write");
        }
        z.finish().expect("finish");
        path
    }

    fn good_record(files: &[(&str, &[u8])]) -> String {
        files
            .iter()
            .map(|(p, d)| format!("{p},{},{}\n", sha(d), d.len()))
            .collect()
    }

    const META: &[u8] = b"Metadata-Version: 2.1\nName: Pkg\nVersion: 1.0\n\nbody: x\n";
    const WHEEL: &[u8] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n";
    const FNAME: &str = "pkg-1.0-py3-none-any.whl";

    fn limit() -> SizeLimit {
        SizeLimit {
            bytes: 1 << 20,
            what: "the test limit".into(),
        }
    }

    fn check(files: &[(&str, &[u8])], record: bool) -> Result<Facts, IntegrityError> {
        let dir = tempfile::tempdir().expect("tmp");
        let p = wheel(
            dir.path(),
            FNAME,
            files,
            record.then_some(&good_record as RecordFn<'_>),
        );
        inspect(&p, FNAME, &limit())
    }

    fn err(files: &[(&str, &[u8])]) -> String {
        check(files, true).expect_err("refused").to_string()
    }

    #[test]
    fn a_good_wheel_passes_and_counts_sizes() {
        let f = check(
            &[
                ("pkg/__init__.py", b"x = 1\n"),
                ("pkg/__pycache__/__init__.cpython-312.pyc", b"pyc"),
                ("pkg-1.0.dist-info/METADATA", META),
                ("pkg-1.0.dist-info/WHEEL", WHEEL),
            ],
            true,
        )
        .expect("ok");
        assert_eq!(f.record_problem, None);
        assert_eq!(f.entries, 5);
        assert_eq!(f.largest, "pkg-1.0.dist-info/RECORD");
    }

    #[test]
    fn missing_metadata_wheel_and_dist_info() {
        let e = check(&[("pkg/__init__.py", b"")], false).expect_err("refused");
        assert!(e.to_string().contains("no `*.dist-info` directory"), "{e}");
        assert!(err(&[("pkg-1.0.dist-info/WHEEL", WHEEL)]).contains("METADATA` is missing"));
        assert!(err(&[("pkg-1.0.dist-info/METADATA", META)]).contains("WHEEL` is missing"));
    }

    #[test]
    fn two_dist_infos_and_mismatched_names() {
        let e = err(&[
            ("pkg-1.0.dist-info/METADATA", META),
            ("pkg-1.0.dist-info/WHEEL", WHEEL),
            ("other-2.0.dist-info/METADATA", META),
        ]);
        assert!(e.contains("2 `.dist-info` directories"), "{e}");
        let e = err(&[
            ("pkg-1.1.dist-info/METADATA", META),
            ("pkg-1.1.dist-info/WHEEL", WHEEL),
        ]);
        assert!(e.contains("does not match the file name"), "{e}");
        let e = err(&[
            (
                "pkg-1.0.dist-info/METADATA",
                b"Name: other\nVersion: 1.0\n" as &[u8],
            ),
            ("pkg-1.0.dist-info/WHEEL", WHEEL),
        ]);
        assert!(e.contains("METADATA names `other`"), "{e}");
        let e = err(&[
            (
                "pkg-1.0.dist-info/METADATA",
                b"Name: pkg\nVersion: 2.0\n" as &[u8],
            ),
            ("pkg-1.0.dist-info/WHEEL", WHEEL),
        ]);
        assert!(e.contains("METADATA says version 2.0"), "{e}");
        // Normalisation: 1.0 == 1.0.0, Pkg == pkg.
        let ok = check(
            &[
                (
                    "pkg-1.0.dist-info/METADATA",
                    b"Name: PKG\nVersion: 1.0.0\n" as &[u8],
                ),
                ("pkg-1.0.dist-info/WHEEL", WHEEL),
            ],
            true,
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn wheel_version_major_above_one_is_refused() {
        let e = err(&[
            ("pkg-1.0.dist-info/METADATA", META),
            ("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 2.0\n"),
        ]);
        assert!(e.contains("Wheel-Version 2.0"), "{e}");
        assert_eq!(wheel_version_major("1.9"), Some(1));
        assert_eq!(wheel_version_major("x"), None);
    }

    #[test]
    fn record_problems_are_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("tmp");
        let files: &[(&str, &[u8])] = &[
            ("pkg/__init__.py", b"x = 1\n"),
            ("pkg-1.0.dist-info/METADATA", META),
            ("pkg-1.0.dist-info/WHEEL", WHEEL),
        ];
        let tampered = |f: &[(&str, &[u8])]| good_record(f).replace(&sha(b"x = 1\n"), &sha(b"y"));
        let p = wheel(dir.path(), FNAME, files, Some(&tampered));
        let f = inspect(&p, FNAME, &limit()).expect("facts");
        let problem = f.record_problem.expect("problem");
        assert!(
            problem.contains("`pkg/__init__.py` does not match"),
            "{problem}"
        );

        let unlisted = |f: &[(&str, &[u8])]| good_record(&f[1..]);
        let p = wheel(dir.path(), FNAME, files, Some(&unlisted));
        let problem = inspect(&p, FNAME, &limit())
            .expect("facts")
            .record_problem
            .expect("problem");
        assert!(problem.contains("not listed in RECORD"), "{problem}");

        let wrong_size = |f: &[(&str, &[u8])]| good_record(f).replace(",6\n", ",7\n");
        let p = wheel(dir.path(), FNAME, files, Some(&wrong_size));
        let problem = inspect(&p, FNAME, &limit())
            .expect("facts")
            .record_problem
            .expect("problem");
        assert!(problem.contains("is 7 bytes"), "{problem}");

        let p = wheel(dir.path(), FNAME, files, None);
        let problem = inspect(&p, FNAME, &limit())
            .expect("facts")
            .record_problem
            .expect("problem");
        assert!(problem.contains("RECORD` is missing"), "{problem}");
    }

    #[test]
    fn declared_sizes_are_checked_before_inflating() {
        let big = vec![0u8; 2 << 20];
        let e = err(&[
            ("pkg/big.so", &big),
            ("pkg-1.0.dist-info/METADATA", META),
            ("pkg-1.0.dist-info/WHEEL", WHEEL),
        ]);
        assert!(e.contains("`pkg/big.so` declares 2097152 bytes"), "{e}");
        let half = vec![0u8; 600 << 10];
        let e = err(&[
            ("pkg/a.so", &half),
            ("pkg/b.so", &half),
            ("pkg-1.0.dist-info/METADATA", META),
            ("pkg-1.0.dist-info/WHEEL", WHEEL),
        ]);
        assert!(e.contains("in total"), "{e}");
    }

    #[test]
    fn record_csv() {
        let rows = parse_record("\"a,b.py\",sha256=abc,3\r\nx/RECORD,,\n\n").expect("parse");
        assert_eq!(rows[0].path, "a,b.py");
        assert_eq!(rows[0].size, Some(3));
        assert_eq!(rows[1].hash, None);
        assert!(parse_record("a,b").is_err());
        assert!(parse_record("\"a,b,c").is_err());
        assert!(parse_record("a,sha256=x,notanumber").is_err());
    }

    #[test]
    fn headers_stop_at_the_body() {
        let h = parse_headers("Name: x\nSummary: a\n  b\n\nName: y\n");
        assert_eq!(header(&h, "name"), Some("x"));
        assert_eq!(header(&h, "summary"), Some("a\nb"));
    }
}
