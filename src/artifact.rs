//! The artifact manifest: the JSON record written beside every artifact.
//!
//! `<artifact>.lpack.json` says what an artifact is and how it was made: lpack version, target,
//! a hash of every input (target, each wheel's sha256, handler files, build options), the pinned
//! wheels, every file that was considered with its size before and after and the rule that
//! decided it, and the artifact's own sha256. Later stages (size report, bench) read only this
//! file, never the wheels. The manifest is deterministic (no times, no host paths beyond what the
//! user passed) and versioned by `schema_version`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to the manifest's shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    FunctionZip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Keep,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub runtime: String,
    pub arch: String,
    pub python_tag: String,
    pub glibc: String,
    pub os: String,
}

impl TargetRecord {
    pub fn of(t: &crate::target::Target) -> TargetRecord {
        let (a, b) = t.glibc();
        TargetRecord {
            runtime: t.runtime.to_string(),
            arch: t.arch.to_string(),
            python_tag: t.python_tag(),
            glibc: format!("{a}.{b}"),
            os: match t.runtime.os() {
                crate::target::Os::AmazonLinux2 => "al2".to_string(),
                crate::target::Os::AmazonLinux2023 => "al2023".to_string(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// File name of the artifact (no directory).
    pub file: String,
    pub sha256: String,
    /// Bytes of the artifact file (zipped size).
    pub size: u64,
    /// Sum of the uncompressed sizes of its files (what Lambda counts against 250 MB).
    pub unzipped_size: u64,
    pub entries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    /// The index or find-links location it came from.
    pub source: String,
    /// Download URL (credentials removed); absent for local files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Files of this package in the artifact.
    pub files: usize,
    /// Uncompressed bytes of all of the wheel's files before any were dropped.
    pub original_size: u64,
    /// Uncompressed bytes in the artifact.
    pub size: u64,
    /// Compressed bytes in the artifact.
    pub compressed_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Installed path in the artifact (for dropped files: the path in the wheel).
    pub path: String,
    /// Distribution name, or `<src>` for handler code.
    pub package: String,
    pub original_size: u64,
    pub size: u64,
    pub compressed_size: u64,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    pub requirement: String,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactManifest {
    pub schema_version: u32,
    pub lpack_version: String,
    pub kind: ArtifactKind,
    pub target: TargetRecord,
    /// sha256 over the canonical description of every input.
    pub inputs_sha256: String,
    /// The requirements file as given on the command line.
    pub requirements: String,
    pub source_date_epoch: u64,
    pub artifact: ArtifactRecord,
    pub packages: Vec<PackageRecord>,
    pub skipped_requirements: Vec<SkippedRecord>,
    pub warnings: Vec<String>,
    pub files: Vec<FileRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an lpack manifest: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("cannot write manifest {path}: {detail}")]
    Write { path: PathBuf, detail: String },
}

/// `dist/app.zip` → `dist/app.zip.lpack.json`.
pub fn manifest_path(artifact: &Path) -> PathBuf {
    let mut s = artifact.as_os_str().to_os_string();
    s.push(".lpack.json");
    PathBuf::from(s)
}

impl ArtifactManifest {
    /// Write atomically beside the artifact.
    pub fn write(&self, path: &Path) -> Result<(), ManifestError> {
        let err = |detail: String| ManifestError::Write {
            path: path.to_path_buf(),
            detail,
        };
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| err(e.to_string()))?;
        json.push(b'\n');
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::cache::write_atomic(dir, path, &json).map_err(|e| err(e.to_string()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
        }
        Ok(())
    }

    /// Read a manifest, or the manifest beside an artifact.
    pub fn read(path: &Path) -> Result<ArtifactManifest, ManifestError> {
        let path = if path.extension().is_some_and(|e| e == "json") {
            path.to_path_buf()
        } else {
            manifest_path(path)
        };
        let body = std::fs::read(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let m: ArtifactManifest =
            serde_json::from_slice(&body).map_err(|e| ManifestError::Parse {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        if m.schema_version != SCHEMA_VERSION {
            return Err(ManifestError::Parse {
                path,
                detail: format!(
                    "schema_version {} (this lpack reads {SCHEMA_VERSION})",
                    m.schema_version
                ),
            });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_path_appends() {
        assert_eq!(
            manifest_path(Path::new("dist/app.zip")),
            PathBuf::from("dist/app.zip.lpack.json")
        );
    }
}
