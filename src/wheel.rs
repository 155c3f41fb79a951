//! Wheels: file names, tags, and the entries inside.
//!
//! This module owns everything lpack knows about the wheel format (PEP 427 / the binary
//! distribution format spec): parsing `name-version(-build)?-py-abi-plat.whl` file names into
//! their (compressed) tag sets, normalising project names (PEP 503), and reading a wheel's
//! central directory into [`WheelEntry`] values whose paths are [`ArchivePath`]s.
//!
//! [`ArchivePath`] is the only way a path from a wheel enters lpack: it refuses absolute paths,
//! `..` and `.` components, backslashes, NUL bytes and empty components, so nothing a wheel says
//! can make an artifact write outside its root (zip-slip). Wheels are never extracted to disk;
//! entries are located here and raw-copied by the emit stage.
//!
//! Nothing a zip declares is trusted: a central directory with two entries of the same name is
//! refused, and every read stops at the entry's declared size (more or fewer bytes, or a CRC
//! mismatch, is a corrupt wheel). What a well-formed wheel must hold (dist-info, RECORD hashes)
//! and how large it may be is checked in [`integrity`].

pub mod integrity;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::target::{Tag, Target};

/// PEP 503 normalised project name: lowercase, runs of `-`, `_`, `.` collapsed to `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("`{0}` is not a wheel file name (expected name-version-python-abi-platform.whl)")]
    BadFilename(String),
    #[error(
        "wheel {wheel}: unsafe path `{path}` in the archive ({why}); refusing to use this wheel"
    )]
    UnsafePath {
        wheel: String,
        path: String,
        why: &'static str,
    },
    #[error(
        "wheel {wheel} is not a readable zip archive ({source})\n  hint: the file is truncated or corrupt; delete it from the cache (`lpack cache clean`) or re-download it"
    )]
    Corrupt {
        wheel: String,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("wheel {wheel}: entry `{path}` uses {what}, which lpack does not copy")]
    Unsupported {
        wheel: String,
        path: String,
        what: String,
    },
    #[error(
        "wheel {wheel} holds two entries named `{path}`; installers refuse such wheels (which copy wins is undefined)\n  hint: the wheel is malformed; report it to its maintainers or rebuild it"
    )]
    DuplicateEntry { wheel: String, path: String },
    #[error(
        "wheel {wheel}: entry `{path}` is corrupt ({why})\n  hint: the wheel is damaged or was tampered with; re-download it (`lpack cache clean`) or rebuild it"
    )]
    CorruptEntry {
        wheel: String,
        path: String,
        why: String,
    },
    #[error("cannot read wheel {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A parsed wheel file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    pub filename: String,
    /// Distribution name as written in the file name (underscores for separators).
    pub name: String,
    pub version: String,
    pub build: Option<String>,
    pub pythons: Vec<String>,
    pub abis: Vec<String>,
    pub platforms: Vec<String>,
}

impl WheelFilename {
    pub fn parse(filename: &str) -> Result<WheelFilename, WheelError> {
        let bad = || WheelError::BadFilename(filename.to_string());
        let stem = filename.strip_suffix(".whl").ok_or_else(bad)?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, py, abi, plat) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some(b.to_string()), *p, *a, *pl),
            _ => return Err(bad()),
        };
        if name.is_empty() || version.is_empty() || py.is_empty() || abi.is_empty() {
            return Err(bad());
        }
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        Ok(WheelFilename {
            filename: filename.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            build,
            pythons: split(py),
            abis: split(abi),
            platforms: split(plat),
        })
    }

    /// Every tag triple the (possibly compressed) tag set expands to.
    pub fn tags(&self) -> Vec<Tag> {
        let mut out = Vec::new();
        for p in &self.pythons {
            for a in &self.abis {
                for pl in &self.platforms {
                    out.push(Tag::new(p, a, pl));
                }
            }
        }
        out
    }

    /// Best (lowest) priority of this wheel for the target, or `None` if incompatible.
    pub fn priority(&self, target: &Target) -> Option<usize> {
        self.tags()
            .iter()
            .filter_map(|t| target.tag_priority(t))
            .min()
    }

    /// Build number (leading digits of the build tag), used to break ties.
    pub fn build_number(&self) -> u64 {
        self.build
            .as_deref()
            .map(|b| {
                b.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|d| d.parse().ok())
            .unwrap_or(0)
    }

    /// The tag set as written: `cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64`.
    pub fn tag_string(&self) -> String {
        format!(
            "{}-{}-{}",
            self.pythons.join("."),
            self.abis.join("."),
            self.platforms.join(".")
        )
    }
}

/// A validated, relative, `/`-separated path inside an archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ArchivePath(String);

impl ArchivePath {
    /// Validate a path from an untrusted archive. Directory entries may end in `/`; the
    /// trailing slash is removed.
    pub fn new(raw: &str) -> Result<ArchivePath, &'static str> {
        if raw.contains('\0') {
            return Err("contains a NUL byte");
        }
        if raw.contains('\\') {
            return Err("contains a backslash");
        }
        if raw.starts_with('/') {
            return Err("is absolute");
        }
        if raw.len() >= 2 && raw.as_bytes()[1] == b':' {
            return Err("starts with a drive letter");
        }
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return Err("is empty");
        }
        for comp in trimmed.split('/') {
            match comp {
                "" => return Err("has an empty component"),
                "." => return Err("has a `.` component"),
                ".." => return Err("has a `..` component"),
                _ => {}
            }
        }
        Ok(ArchivePath(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every ancestor directory, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(move |(i, _)| &self.0[..i])
    }

    /// The same path under a prefix directory (`python/` for layers).
    pub fn with_prefix(&self, prefix: &str) -> ArchivePath {
        if prefix.is_empty() {
            self.clone()
        } else {
            ArchivePath(format!("{}/{}", prefix.trim_end_matches('/'), self.0))
        }
    }
}

impl fmt::Display for ArchivePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an entry's bytes are stored in the wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

impl Method {
    pub fn zip_code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflated => 8,
        }
    }
}

/// One file inside a wheel, with its location in the wheel's archive.
#[derive(Debug, Clone)]
pub struct WheelEntry {
    /// Index in the wheel's central directory.
    pub index: usize,
    /// Path as stored in the wheel (validated).
    pub path: ArchivePath,
    pub size: u64,
    pub compressed_size: u64,
    pub crc32: u32,
    pub method: Method,
    /// Whether any executable bit is set in the entry's Unix mode.
    pub executable: bool,
}

/// An opened wheel: its file name, where it lives and its file entries (directories omitted).
pub struct Wheel {
    pub filename: WheelFilename,
    pub path: PathBuf,
    pub entries: Vec<WheelEntry>,
}

impl Wheel {
    /// Read the central directory of the wheel at `path`. `display_name` names it in errors.
    pub fn open(path: &Path, display_name: &str) -> Result<Wheel, WheelError> {
        let filename = WheelFilename::parse(display_name)?;
        let entries = list_entries(path, display_name)?;
        Ok(Wheel {
            filename,
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The `name-version.dist-info` directory name, located from the entries themselves.
    pub fn dist_info_dir(&self) -> Option<String> {
        let want = normalize_name(&self.filename.name);
        self.entries.iter().find_map(|e| {
            let first = e.path.as_str().split('/').next()?;
            let stem = first.strip_suffix(".dist-info")?;
            let (name, _version) = stem.split_once('-')?;
            (normalize_name(name) == want).then(|| first.to_string())
        })
    }

    /// Read one entry fully, decompressed (at most its declared size).
    pub fn read_entry(&self, index: usize) -> Result<Vec<u8>, WheelError> {
        read_entry_at(&self.path, &self.filename.filename, index)
    }

    /// The first `n` bytes of an entry (fewer if it is shorter), inflating no more than that.
    pub fn read_entry_prefix(&self, index: usize, n: usize) -> Result<Vec<u8>, WheelError> {
        let name = &self.filename.filename;
        let mut archive = open_archive(&self.path, name)?;
        let f = archive
            .by_index(index)
            .map_err(|source| WheelError::Corrupt {
                wheel: name.clone(),
                source,
            })?;
        let path = String::from_utf8_lossy(f.name_raw()).into_owned();
        let mut buf = Vec::with_capacity(n.min(1 << 16));
        f.take(n as u64)
            .read_to_end(&mut buf)
            .map_err(|e| WheelError::CorruptEntry {
                wheel: name.clone(),
                path,
                why: e.to_string(),
            })?;
        Ok(buf)
    }
}

/// The file entries of a zip (a wheel or a slim fragment), validated: safe UTF-8 paths, no
/// links, no encryption, stored or deflated only. Directory entries are skipped.
pub fn list_entries(path: &Path, display_name: &str) -> Result<Vec<WheelEntry>, WheelError> {
    let mut archive = open_archive(path, display_name)?;
    if archive.has_duplicate_names() {
        return Err(WheelError::DuplicateEntry {
            wheel: display_name.to_string(),
            path: first_duplicate(path).unwrap_or_else(|| "(unknown)".to_string()),
        });
    }
    let mut entries = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let f = archive
            .by_index_raw(index)
            .map_err(|source| WheelError::Corrupt {
                wheel: display_name.to_string(),
                source,
            })?;
        let raw_name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let unsafe_path = |why| WheelError::UnsafePath {
            wheel: display_name.to_string(),
            path: raw_name.clone(),
            why,
        };
        let path = ArchivePath::new(&raw_name).map_err(unsafe_path)?;
        if std::str::from_utf8(f.name_raw()).is_err() {
            return Err(unsafe_path("is not valid UTF-8"));
        }
        if f.is_dir() {
            continue;
        }
        let unsupported = |what: String| WheelError::Unsupported {
            wheel: display_name.to_string(),
            path: raw_name.clone(),
            what,
        };
        let mode = f.unix_mode().unwrap_or(0o644);
        if mode & 0o170000 == 0o120000 {
            return Err(unsupported(
                "a symbolic link (Lambda zips do not support links)".to_string(),
            ));
        }
        if f.encrypted() {
            return Err(unsupported("encryption".to_string()));
        }
        let method = match f.compression() {
            zip::CompressionMethod::Stored => Method::Stored,
            zip::CompressionMethod::Deflated => Method::Deflated,
            other => return Err(unsupported(format!("compression method {other:?}"))),
        };
        entries.push(WheelEntry {
            index,
            path,
            size: f.size(),
            compressed_size: f.compressed_size(),
            crc32: f.crc32(),
            method,
            executable: mode & 0o111 != 0,
        });
    }
    Ok(entries)
}

/// The first name that occurs twice in a zip's central directory (the map the zip crate builds
/// keeps only one of them, so the directory is walked again).
fn first_duplicate(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut it =
        zip::unstable::read::ZipIterable::try_new(BufReader::new(file), Default::default()).ok()?;
    let files = it.files().ok()?;
    let mut seen = std::collections::HashSet::new();
    while let Some(Ok(f)) = files.next() {
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
    }
    None
}

/// Largest buffer reserved up front from a size the zip declares; reads grow beyond it only as
/// real bytes arrive, so a lying header cannot make lpack allocate.
const MAX_PREALLOC: u64 = 64 << 20;

/// Read entry `index` of the zip at `path`, decompressed.
pub fn read_entry_at(path: &Path, display_name: &str, index: usize) -> Result<Vec<u8>, WheelError> {
    let mut archive = open_archive(path, display_name)?;
    let declared = archive
        .by_index_raw(index)
        .map_err(|source| WheelError::Corrupt {
            wheel: display_name.to_string(),
            source,
        })?
        .size();
    let mut buf = Vec::with_capacity(declared.min(MAX_PREALLOC) as usize);
    copy_entry(&mut archive, display_name, index, &mut buf)?;
    Ok(buf)
}

/// Inflate entry `index` into `out`, stopping one byte past its declared size: fewer or more
/// bytes than declared, or a CRC mismatch, is [`WheelError::CorruptEntry`]. Returns the size.
pub fn copy_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    display_name: &str,
    index: usize,
    out: &mut dyn Write,
) -> Result<u64, WheelError> {
    let f = archive
        .by_index(index)
        .map_err(|source| WheelError::Corrupt {
            wheel: display_name.to_string(),
            source,
        })?;
    let declared = f.size();
    let path = String::from_utf8_lossy(f.name_raw()).into_owned();
    let corrupt = |why: String| WheelError::CorruptEntry {
        wheel: display_name.to_string(),
        path: path.clone(),
        why,
    };
    let mut limited = f.take(declared.saturating_add(1));
    let n = std::io::copy(&mut limited, out).map_err(|e| corrupt(e.to_string()))?;
    if n != declared {
        return Err(corrupt(format!(
            "it inflates to {} bytes, the zip declares {declared}",
            if n > declared {
                format!("more than {declared}")
            } else {
                n.to_string()
            }
        )));
    }
    Ok(n)
}

/// Open a wheel's zip archive, mapping errors to [`WheelError`].
pub fn open_archive(
    path: &Path,
    display_name: &str,
) -> Result<zip::ZipArchive<BufReader<File>>, WheelError> {
    let file = File::open(path).map_err(|source| WheelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|source| WheelError::Corrupt {
        wheel: display_name.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(
            normalize_name("aws_lambda_powertools"),
            "aws-lambda-powertools"
        );
        assert_eq!(normalize_name("numpy"), "numpy");
    }

    #[test]
    fn parses_compressed_tag_sets() {
        let w = WheelFilename::parse(
            "numpy-2.3.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .expect("parse");
        assert_eq!(w.name, "numpy");
        assert_eq!(w.version, "2.3.1");
        assert_eq!(w.tags().len(), 2);
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        assert!(w.priority(&t).is_some());
        let t311 = Target::new(Runtime::Python311, Arch::X86_64);
        assert!(w.priority(&t311).is_none());
    }

    #[test]
    fn parses_build_tag() {
        let w = WheelFilename::parse("pkg-1.0-2b-py3-none-any.whl").expect("parse");
        assert_eq!(w.build.as_deref(), Some("2b"));
        assert_eq!(w.build_number(), 2);
        assert!(WheelFilename::parse("pkg-1.0.tar.gz").is_err());
        assert!(WheelFilename::parse("pkg-1.0-py3.whl").is_err());
    }

    #[test]
    fn archive_paths_refuse_escapes() {
        assert!(ArchivePath::new("pkg/__init__.py").is_ok());
        assert_eq!(
            ArchivePath::new("pkg/").map(|p| p.as_str().to_string()),
            Ok("pkg".to_string())
        );
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "a/./b",
            "a//b",
            "C:/x",
            "a\0b",
            "",
        ] {
            assert!(ArchivePath::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// A deflated zip of `files`, as bytes.
    fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (p, d) in files {
            z.start_file(*p, zip::write::SimpleFileOptions::default())
                .expect("start");
            z.write_all(d).expect("write");
        }
        z.finish().expect("finish").into_inner()
    }

    fn replace_all(data: &mut [u8], from: &[u8], to: &[u8]) {
        let mut i = 0;
        while i + from.len() <= data.len() {
            if &data[i..i + from.len()] == from {
                data[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
    }

    #[test]
    fn duplicate_names_are_refused_and_named() {
        let mut bytes = zip_bytes(&[("dup/a.py", b"A = 1\n"), ("dup/b.py", b"A = 2\n")]);
        replace_all(&mut bytes, b"dup/b.py", b"dup/a.py");
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.whl");
        std::fs::write(&p, &bytes).expect("write");
        match list_entries(&p, "x.whl") {
            Err(WheelError::DuplicateEntry { path, .. }) => assert_eq!(path, "dup/a.py"),
            other => panic!("expected a duplicate error, got {other:?}"),
        }
    }

    /// Set the declared uncompressed size of the only entry (local and central headers).
    fn set_declared_size(bytes: &mut [u8], size: u32) {
        for (sig, off) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
            let at = bytes
                .windows(4)
                .position(|w| w == sig)
                .expect("header signature");
            bytes[at + off..at + off + 4].copy_from_slice(&size.to_le_bytes());
        }
    }

    #[test]
    fn reads_stop_at_the_declared_size() {
        let data = vec![b'x'; 100_000];
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.whl");
        for declared in [10u32, 200_000, 0xffff_fff0] {
            let mut bytes = zip_bytes(&[("big.bin", &data)]);
            set_declared_size(&mut bytes, declared);
            std::fs::write(&p, &bytes).expect("write");
            let r = read_entry_at(&p, "x.whl", 0);
            assert!(
                matches!(r, Err(WheelError::CorruptEntry { .. })),
                "declared {declared}: {r:?}"
            );
        }
        let bytes = zip_bytes(&[("big.bin", &data)]);
        std::fs::write(&p, &bytes).expect("write");
        assert_eq!(read_entry_at(&p, "x.whl", 0).expect("read").len(), 100_000);
    }

    #[test]
    fn parents_outermost_first() {
        let p = ArchivePath::new("a/b/c.py").expect("valid");
        assert_eq!(p.parents().collect::<Vec<_>>(), vec!["a", "a/b"]);
    }
}
