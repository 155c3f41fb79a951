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

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
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

    /// Read one entry fully, decompressed.
    pub fn read_entry(&self, index: usize) -> Result<Vec<u8>, WheelError> {
        read_entry_at(&self.path, &self.filename.filename, index)
    }
}

/// The file entries of a zip (a wheel or a slim fragment), validated: safe UTF-8 paths, no
/// links, no encryption, stored or deflated only. Directory entries are skipped.
pub fn list_entries(path: &Path, display_name: &str) -> Result<Vec<WheelEntry>, WheelError> {
    let mut archive = open_archive(path, display_name)?;
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

/// Read entry `index` of the zip at `path`, decompressed.
pub fn read_entry_at(path: &Path, display_name: &str, index: usize) -> Result<Vec<u8>, WheelError> {
    let mut archive = open_archive(path, display_name)?;
    let mut f = archive
        .by_index(index)
        .map_err(|source| WheelError::Corrupt {
            wheel: display_name.to_string(),
            source,
        })?;
    let mut buf = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut buf).map_err(|source| WheelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(buf)
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

    #[test]
    fn parents_outermost_first() {
        let p = ArchivePath::new("a/b/c.py").expect("valid");
        assert_eq!(p.parents().collect::<Vec<_>>(), vec!["a", "a/b"]);
    }
}
