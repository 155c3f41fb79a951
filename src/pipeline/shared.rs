//! Whole artifacts in the remote cache, by content key ([`super::key`]): a runner whose unit
//! another runner already built downloads the artifacts and their manifests and is done.
//!
//! Under the key, the remote holds a record (`artifacts-v1/<key>`, enveloped and checked like
//! every record) listing each artifact's file name, sha256 and size and its manifest's sha256,
//! and the files themselves (`artifacts/<key>/<file>`, `…/<file>.lpack.json`). Every file is
//! checked against the record before anything is written; the outputs are then written as a
//! build writes them (temp file, 0644, rename), never over a file lpack did not write.
//! Only builds that passed every check are shared.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::BuildError;
use super::outcome::{BuildOutcome, BuiltArtifact, Timings, VerifyStep};
use super::request::{BuildRequest, OutputFormat};
use crate::artifact::{ArtifactManifest, manifest_path};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::outfile::write_output;

const RECORD: &str = "artifacts-v1";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Shared {
    artifacts: Vec<SharedFile>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SharedFile {
    file: String,
    sha256: String,
    size: u64,
    manifest_sha256: String,
}

/// A plain file name (what the record may name; nothing with a directory in it).
fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The artifacts of `key` from the remote, written beside `output`; `None` when the remote has
/// no complete, intact set (then the build goes on as usual).
pub(super) fn restore(
    req: &BuildRequest,
    cache: &Cache,
    key: &str,
    output: &Path,
    started: Instant,
) -> Result<Option<BuildOutcome>, BuildError> {
    let Some(remote) = cache.remote() else {
        return Ok(None);
    };
    let Some(body) = remote.get_record(RECORD, key) else {
        return Ok(None);
    };
    let Ok(shared) = serde_json::from_slice::<Shared>(&body) else {
        return Ok(None);
    };
    if shared.artifacts.is_empty() || !shared.artifacts.iter().all(|a| plain(&a.file)) {
        return Ok(None);
    }
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Fetch and check everything before writing anything.
    let mut files = Vec::new();
    for a in &shared.artifacts {
        let dest = dir.join(&a.file);
        let Some(mbytes) = remote.get_artifact_object(key, &format!("{}.lpack.json", a.file))
        else {
            return Ok(None);
        };
        if sha256_hex(&mbytes) != a.manifest_sha256 {
            remote.report_corrupt(&format!("artifacts/{key}/{}.lpack.json", a.file));
            return Ok(None);
        }
        let Ok(manifest) = serde_json::from_slice::<ArtifactManifest>(&mbytes) else {
            return Ok(None);
        };
        if manifest.artifact.sha256 != a.sha256 {
            return Ok(None);
        }
        // Already here and intact (a warm runner): nothing to download.
        let here = std::fs::metadata(&dest).is_ok_and(|m| m.len() == a.size)
            && manifest_path(&dest).is_file()
            && crate::digest::sha256_file(&dest).is_ok_and(|h| h == a.sha256);
        let data = if here {
            None
        } else {
            let Some(data) = remote.get_artifact_object(key, &a.file) else {
                return Ok(None);
            };
            if data.len() as u64 != a.size || sha256_hex(&data) != a.sha256 {
                remote.report_corrupt(&format!("artifacts/{key}/{}", a.file));
                return Ok(None);
            }
            Some(data)
        };
        files.push((dest, data, mbytes, manifest));
    }
    // Never over a file lpack did not write.
    for (dest, ..) in &files {
        if dest.exists() && !manifest_path(dest).is_file() {
            return Ok(None);
        }
    }
    let mut artifacts = Vec::new();
    for (dest, data, mbytes, manifest) in files {
        let write = |p: &Path, b: &[u8]| {
            write_output(p, b).map_err(|source| BuildError::Write {
                path: p.to_path_buf(),
                source,
            })
        };
        let unchanged = data.is_none();
        if let Some(data) = data {
            write(&dest, &data)?;
        }
        let mfile = manifest_path(&dest);
        write(&mfile, &mbytes)?;
        artifacts.push(BuiltArtifact {
            output: dest,
            manifest_file: mfile,
            manifest,
            unchanged,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let mut counted: Vec<ArtifactManifest> = artifacts.iter().map(|a| a.manifest.clone()).collect();
    if req.format == OutputFormat::Zip {
        counted.extend(super::units::read_layers(&req.exclude_layers)?);
    }
    let verify = (req.format == OutputFormat::Zip).then(|| VerifyStep {
        status: match artifacts.first().and_then(|a| a.manifest.verify.as_ref()) {
            Some(v) => format!(
                "{} (by the runner that built it; from the remote cache)",
                v.status
            ),
            None => "not verified: taken from the remote cache, built without the import check"
                .to_string(),
        },
        report: None,
    });
    let over_limit = super::units::over_limit(req, &counted);
    let gate_failures = if over_limit.is_none() {
        super::gate_failures(req, &counted[..artifacts.len()])
    } else {
        Vec::new()
    };
    Ok(Some(BuildOutcome {
        format: req.format,
        artifacts,
        image: None,
        stats: Default::default(),
        over_limit,
        gate_failures,
        verify,
        timings: Timings {
            total: started.elapsed(),
            ..Timings::default()
        },
        resolved: None,
    }))
}

/// Share a build's artifacts under `key` (queued uploads: a reader that finds the record before
/// every file has arrived, or after an upload failed, treats it as a miss).
pub(super) fn publish(cache: &Cache, key: &str, outcome: &BuildOutcome) {
    let Some(remote) = cache.remote() else { return };
    if outcome.artifacts.is_empty() || !outcome.passed() {
        return;
    }
    let Some(dir) = outcome.artifacts[0].output.parent().map(Path::to_path_buf) else {
        return;
    };
    let mut list = Vec::new();
    let mut objects = Vec::new();
    for a in &outcome.artifacts {
        if a.output.parent() != Some(dir.as_path()) {
            return;
        }
        let Some(file) = a.output.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let (Ok(data), Ok(mbytes)) = (std::fs::read(&a.output), std::fs::read(&a.manifest_file))
        else {
            return;
        };
        let sha = sha256_hex(&data);
        if sha != a.manifest.artifact.sha256 {
            return;
        }
        list.push(SharedFile {
            file: file.to_string(),
            sha256: sha,
            size: data.len() as u64,
            manifest_sha256: sha256_hex(&mbytes),
        });
        objects.push((file.to_string(), data, mbytes));
    }
    for (file, data, mbytes) in objects {
        remote.put_artifact_object(key, &file, &data);
        remote.put_artifact_object(key, &format!("{file}.lpack.json"), &mbytes);
    }
    if let Ok(body) = serde_json::to_vec(&Shared { artifacts: list }) {
        remote.put_record(RECORD, key, &body);
    }
}
