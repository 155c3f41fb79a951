//! Whole artifacts by content key ([`super::key`]): a build whose unit was built before, here or
//! by another runner, copies the artifacts and their manifests and is done.
//!
//! Two tiers, asked in this order:
//! - **local** (`artifacts-v1/<name>/<key>/` in the cache, `<name>` a digest of the output's file
//!   name): what this machine built, kept as a hard link to the output when the cache and the
//!   output share a file system (else a copy), with the size, modification time and inode it had
//!   when kept. A file that no longer matches that stamp is not trusted (a miss); a match is
//!   copied to the output without hashing (`copy_file_range`). The newest [`KEEP_PER_NAME`] keys
//!   of one output name are kept, so editing a handler does not grow the cache by an artifact per
//!   build.
//! - **remote** (`--remote-cache`): under the key, a record (`artifacts-v1/<key>`, enveloped and
//!   checked like every record) listing each artifact's file name, sha256 and size and its
//!   manifest's sha256, and the files themselves (`artifacts/<key>/<file>`, `…/<file>.lpack.json`).
//!   Every file is checked against the record before anything is written.
//!
//! Outputs are written as a build writes them (temp file, 0644, rename), never over a file lpack
//! did not write. Only builds that passed every check are kept; locally, only zips that were
//! verified (or built with `--no-verify`), so a build that could not run its import check runs
//! it next time.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::BuildError;
use super::kept::{self, plain};
use super::outcome::{BuildOutcome, BuiltArtifact, Timings, VerifyStep};
use super::request::{BuildRequest, OutputFormat};
use crate::artifact::{ArtifactManifest, manifest_path};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::outfile::{copy_output, write_output};

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

/// The artifacts of `key`, written beside `output`: from the local tier, else the remote;
/// `None` when neither has a complete, intact set (then the build goes on as usual).
pub(super) fn restore(
    req: &BuildRequest,
    cache: &Cache,
    key: &str,
    output: &Path,
    started: Instant,
) -> Result<Option<BuildOutcome>, BuildError> {
    if let Some(outcome) = restore_local(req, cache, key, output, started)? {
        return Ok(Some(outcome));
    }
    restore_remote(req, cache, key, output, started)
}

/// `BuildOutcome::restored_from` of artifacts copied from the local cache.
pub(super) const LOCAL: &str = "local";

/// The artifacts of `key` kept by an earlier build on this machine ([`super::kept`]).
fn restore_local(
    req: &BuildRequest,
    cache: &Cache,
    key: &str,
    output: &Path,
    started: Instant,
) -> Result<Option<BuildOutcome>, BuildError> {
    let Some(found) = kept::find(cache, &output_name(output), key) else {
        return Ok(None);
    };
    let dir = output_dir(output);
    // Never over a file lpack did not write: the build then says so.
    for f in &found {
        let dest = dir.join(&f.file);
        if dest.exists() && !manifest_path(&dest).is_file() {
            return Ok(None);
        }
    }
    let mut artifacts = Vec::new();
    for f in found {
        let dest = dir.join(&f.file);
        let unchanged = kept::same_file(&f.kept, &dest);
        let copy = || match unchanged {
            true => Ok(()),
            false => copy_output(&dest, &f.kept),
        };
        // A layer's manifest (1.6 MB for the seed stack) is read while its zip is copied.
        let (copied, manifest) = if f.manifest_bytes.len() > 256 << 10 {
            std::thread::scope(|s| {
                let reading = s.spawn(|| f.manifest());
                let copied = copy();
                (copied, reading.join().ok().flatten())
            })
        } else {
            (copy(), f.manifest())
        };
        copied.map_err(|source| BuildError::Write {
            path: dest.clone(),
            source,
        })?;
        // A kept manifest that does not name its artifact: build in full (over the copy).
        let Some(manifest) = manifest else {
            return Ok(None);
        };
        // Its manifest is written by the caller, once, with this build's no-change
        // fingerprint ([`super::build`]).
        let mfile = manifest_path(&dest);
        artifacts.push(BuiltArtifact {
            output: dest,
            manifest_file: mfile,
            manifest,
            unchanged,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    restored(
        req,
        LOCAL,
        artifacts,
        "when this artifact was built; kept in the local cache",
        "not verified: kept in the local cache, built without the import check",
        started,
    )
    .map(Some)
}

/// The file name of an output (what the local tier groups keys by).
fn output_name(output: &Path) -> String {
    output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn output_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The artifacts of `key` from the remote.
fn restore_remote(
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
    let dir = output_dir(output);
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
    restored(
        req,
        "remote",
        artifacts,
        "by the runner that built it; from the remote cache",
        "not verified: taken from the remote cache, built without the import check",
        started,
    )
    .map(Some)
}

/// The outcome of artifacts restored from a tier: the verify status their manifest recorded
/// (with where it came from). Lambda's limits and the gates are not checked again: only builds
/// that passed them are kept, under a key that covers the limits, the gates and the layers, so
/// they pass again (and the layers' manifests, 1.6 MB for the seed stack, are not read per
/// function).
fn restored(
    req: &BuildRequest,
    from: &'static str,
    artifacts: Vec<BuiltArtifact>,
    verified_note: &str,
    not_verified: &str,
    started: Instant,
) -> Result<BuildOutcome, BuildError> {
    let verify = (req.format == OutputFormat::Zip).then(|| VerifyStep {
        status: match artifacts.first().and_then(|a| a.manifest.verify.as_ref()) {
            Some(v) => format!("{} ({verified_note})", v.status),
            None => not_verified.to_string(),
        },
        report: None,
    });
    Ok(BuildOutcome {
        format: req.format,
        artifacts,
        image: None,
        stats: Default::default(),
        over_limit: None,
        gate_failures: Vec::new(),
        verify,
        timings: Timings {
            total: started.elapsed(),
            ..Timings::default()
        },
        resolved: None,
        restored_from: Some(from),
    })
}

/// Keep a build's artifacts under `key`: locally ([`super::kept`]) and, with a remote cache,
/// there too.
pub(super) fn publish(
    req: &BuildRequest,
    cache: &Cache,
    key: &str,
    output: &Path,
    outcome: &BuildOutcome,
) {
    if outcome.artifacts.is_empty() || !outcome.passed() {
        return;
    }
    // Locally only what needs no second import check: verified, or built not to be.
    let verified = |a: &BuiltArtifact| {
        a.manifest
            .verify
            .as_ref()
            .is_some_and(|v| v.status.starts_with("verified"))
    };
    if req.verify == super::request::VerifyMode::Skip
        || req.format != OutputFormat::Zip
        || outcome.artifacts.iter().all(verified)
    {
        let name = output_name(output);
        let list: Vec<kept::ToKeep<'_>> = outcome
            .artifacts
            .iter()
            .map(|a| kept::ToKeep {
                output: &a.output,
                manifest_file: &a.manifest_file,
                sha256: &a.manifest.artifact.sha256,
            })
            .collect();
        kept::keep(cache, &name, key, &list);
    }
    publish_remote(cache, key, outcome);
}

/// Share a build's artifacts under `key` with the remote (queued uploads: a reader that finds
/// the record before every file has arrived, or after an upload failed, treats it as a miss).
fn publish_remote(cache: &Cache, key: &str, outcome: &BuildOutcome) {
    let Some(remote) = cache.remote() else { return };
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
