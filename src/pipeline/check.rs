//! The verify step of a build: import the fresh function zip (with its layers) — its top-level
//! modules and its handler — or an image's handler, with an interpreter of the target version,
//! unless skipped, impossible here, or already verified (cached in `verify-v1`). The result is
//! recorded in the artifact's manifest.

use std::path::Path;

use super::error::BuildError;
use super::outcome::{BuiltArtifact, BuiltImageSummary, VerifyStep};
use super::request::{BuildRequest, IndexSettings, VerifyMode};
use crate::artifact::{ArtifactManifest, PreExistingRecord, VerifyRecord};
use crate::digest::sha256_hex;
use crate::progress::Reporter;
use crate::slim::bytecode::{BytecodePlan, find_python};
use crate::sources::Sources;
use crate::verify::VerifyReport;

/// Where the check can run: an interpreter of the target version on a host of its
/// architecture, or why not (`Err(status)`; an error when the check is required).
fn interpreter(
    req: &BuildRequest,
    plan: &BytecodePlan,
) -> Result<Result<(std::path::PathBuf, String), String>, BuildError> {
    let target = &req.target;
    let required = req.verify == VerifyMode::Require;
    if req.verify == VerifyMode::Skip {
        return Ok(Err("not verified (--no-verify)".to_string()));
    }
    let host = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    if target.arch.to_string() != host && !required {
        return Ok(Err(format!(
            "not verified: a {} artifact does not load on this {host} host (verify it on {} or in CI)",
            target.arch, target.arch
        )));
    }
    let python = plan
        .python
        .clone()
        .or_else(|| req.slim.python.clone())
        .or_else(|| find_python(target.runtime.minor()));
    let Some(python) = python else {
        if required {
            return Err(crate::verify::VerifyError::NoPython(target.python_version()).into());
        }
        return Ok(Err(format!(
            "not verified: no python{} found to import it with (install it or pass --python; --no-verify silences this)",
            target.python_version()
        )));
    };
    let version = if plan.python.as_deref() == Some(python.as_path()) {
        plan.python_version.clone()
    } else {
        crate::slim::bytecode::python_version(&python)
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    Ok(Ok((python, version)))
}

/// `3.11.7` from an interpreter's version text.
fn short(version: &str) -> &str {
    version.split_whitespace().next().unwrap_or("")
}

/// Name the handler's failing file in the project too (`src/app.py` for `/var/task/app.py`).
fn locate_source(report: &mut VerifyReport, src: Option<&Path>, manifest: &ArtifactManifest) {
    let (Some(h), Some(src)) = (report.handler.as_mut(), src) else {
        return;
    };
    let files: std::collections::BTreeSet<String> = manifest
        .files
        .iter()
        .filter(|f| f.package == crate::emit::zip::SRC_PACKAGE)
        .map(|f| f.path.trim_start_matches("var/task/").to_string())
        .collect();
    h.source = h
        .file
        .as_deref()
        .and_then(|f| crate::verify::handler::source_of(f, src, &files));
}

/// What the manifest keeps of a report, with its status line.
fn record_of(report: &VerifyReport, status: String) -> VerifyRecord {
    VerifyRecord {
        status,
        handler: report.handler.clone(),
        pre_existing: report
            .pre_existing()
            .map(|i| PreExistingRecord {
                dist: i.dist.clone(),
                module: i.module.clone(),
                error: i.error.clone().unwrap_or_default(),
                message: i.pre_existing.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// The status line of a function zip's check.
fn zip_status(report: &VerifyReport, version: &str, output: &Path) -> String {
    let failed = report.imports.iter().filter(|i| i.failed()).count()
        + report.metadata.iter().filter(|m| !m.ok).count();
    let pre = report.pre_existing().count();
    let handler = report.handler.as_ref();
    if report.ok() {
        let mut s = if pre == 0 {
            format!(
                "verified: {} top-level modules import with Python {}",
                report.imports.len(),
                short(version)
            )
        } else {
            format!(
                "verified: {} of {} top-level modules import with Python {}; {pre} fail(s) from the unmodified wheels too (pre-existing, see the warning)",
                report.imports.len() - pre,
                report.imports.len(),
                short(version)
            )
        };
        if let Some(h) = handler {
            if h.status == "ok" {
                s.push_str(&format!("; handler {} loads", h.handler));
            } else {
                s.push_str(&format!(
                    "; handler {}: {} (see the warning)",
                    h.handler,
                    h.error_type.as_deref().unwrap_or("not checked")
                ));
            }
        }
        s
    } else {
        let mut what = Vec::new();
        if failed > 0 {
            what.push(format!("{failed} import(s) fail from the artifact"));
        }
        if let Some(h) = handler.filter(|h| h.failed()) {
            what.push(format!(
                "the handler {} would fail Lambda's init ({})",
                h.handler,
                h.error_type.as_deref().unwrap_or("")
            ));
        }
        format!(
            "verify failed: {} (it is kept: {}); --no-verify skips this check",
            what.join("; "),
            output.display()
        )
    }
}

/// Put the check's record (and the handler) into the artifact's manifest, its pre-existing
/// failures among its warnings; rewrite the manifest file when that changed it.
pub fn record_in_manifest(
    manifest: &mut ArtifactManifest,
    manifest_file: &Path,
    handler: Option<&str>,
    record: VerifyRecord,
) -> Result<(), BuildError> {
    let before = manifest.clone();
    let handler_warning = record
        .handler
        .as_ref()
        .filter(|h| h.status == "warning")
        .map(crate::verify::handler::describe);
    for w in record
        .pre_existing
        .iter()
        .map(|p| p.message.clone())
        .chain(handler_warning)
    {
        if !manifest.warnings.contains(&w) {
            manifest.warnings.push(w);
        }
    }
    manifest.handler = handler.map(str::to_string);
    manifest.verify = Some(record);
    if *manifest != before {
        manifest.write(manifest_file)?;
    }
    Ok(())
}

/// A verify that did not run now (skipped, or remembered): its status line only.
fn not_run(status: String) -> VerifyStep {
    VerifyStep {
        status,
        report: None,
    }
}

/// A passing verify of the same artifact, interpreter and handler, remembered in the cache.
fn remembered(cache: &crate::cache::Cache, key: &str) -> Option<VerifyRecord> {
    cache
        .read_record("verify-v1", key)
        .and_then(|b| serde_json::from_slice::<VerifyRecord>(&b).ok())
}

/// What verify runs with: `target` and its interpreter `python`, over a build's `sources`.
fn tools<'a>(
    target: &'a crate::target::Target,
    python: &'a Path,
    sources: &'a Sources,
    reporter: &'a dyn Reporter,
) -> crate::verify::Tools<'a> {
    crate::verify::Tools {
        target,
        python,
        cache: &sources.cache,
        client: &sources.client,
        http: sources.http.as_ref(),
        reporter,
    }
}

/// Remember a passing verify for the next build of the same artifact.
fn remember(
    cache: &crate::cache::Cache,
    key: &str,
    record: &VerifyRecord,
) -> Result<(), BuildError> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| BuildError::Verify(crate::verify::VerifyError::Io(e.to_string())))?;
    cache.write_record("verify-v1", key, &bytes)?;
    Ok(())
}

/// The import check after building a function zip: its status line, and the report when it
/// ran now. The result goes into the zip's manifest.
pub fn verify_after_build(
    req: &BuildRequest,
    built: &mut BuiltArtifact,
    plan: &BytecodePlan,
    sources: &Sources,
    reporter: &dyn Reporter,
) -> Result<VerifyStep, BuildError> {
    let (python, version) = match interpreter(req, plan)? {
        Ok(p) => p,
        Err(status) => return Ok(not_run(status)),
    };
    let handler = req.handler.as_deref();
    let manifest = &built.manifest;
    // A verified artifact (with the same layers, interpreter and handler) stays verified.
    let key = sha256_hex(
        format!(
            "verify 2\n{}\n{:?}\n{version}\n{handler:?}\n",
            manifest.artifact.sha256,
            manifest
                .layers
                .iter()
                .map(|l| l.sha256.as_str())
                .collect::<Vec<_>>()
        )
        .as_bytes(),
    );
    let cache = &sources.cache;
    if let Some(record) = remembered(cache, &key) {
        let status = record.status.clone();
        record_in_manifest(&mut built.manifest, &built.manifest_file, handler, record)?;
        return Ok(VerifyStep {
            status,
            report: None,
        });
    }
    let mut report = crate::verify::verify(
        &built.output,
        manifest,
        handler,
        &tools(&req.target, &python, sources, reporter),
    )?;
    locate_source(&mut report, req.src.as_deref(), manifest);
    let status = zip_status(&report, &version, &built.output);
    let record = record_of(&report, status.clone());
    if report.ok() {
        remember(cache, &key, &record)?;
    }
    record_in_manifest(&mut built.manifest, &built.manifest_file, handler, record)?;
    Ok(VerifyStep {
        status,
        report: Some(report),
    })
}

/// The handler check of an image, from its app layers (in the cache); the result goes into the
/// image's manifest.
pub fn verify_image_after_build(
    req: &BuildRequest,
    image: &mut BuiltImageSummary,
    plan: &BytecodePlan,
    sources: &Sources,
    reporter: &dyn Reporter,
) -> Result<VerifyStep, BuildError> {
    let (python, version) = match interpreter(req, plan)? {
        Ok(p) => p,
        Err(status) => return Ok(not_run(status)),
    };
    let cache = &sources.cache;
    let key = sha256_hex(
        format!(
            "verify-image 1\n{}\n{version}\n{}\n",
            image.manifest_digest, image.handler
        )
        .as_bytes(),
    );
    let handler = image.handler.clone();
    if let Some(record) = remembered(cache, &key) {
        let status = record.status.clone();
        record_in_manifest(
            &mut image.manifest,
            &image.manifest_file,
            Some(&handler),
            record,
        )?;
        return Ok(VerifyStep {
            status,
            report: None,
        });
    }
    let mut layers = Vec::new();
    for l in &image.layers {
        layers.push(cache.blob(&l.digest).ok_or_else(|| {
            crate::verify::VerifyError::Io(format!(
                "the image's layer {} is not in the cache at {}",
                l.digest,
                cache.root().display()
            ))
        })?);
    }
    let workdir = crate::emit::image::spec_for(&req.target).workdir;
    let mut report = crate::verify::verify_image(
        &layers,
        &workdir,
        &image.manifest,
        &handler,
        &tools(&req.target, &python, sources, reporter),
    )?;
    locate_source(&mut report, req.src.as_deref(), &image.manifest);
    let status = match report.handler.as_ref() {
        Some(h) if h.failed() => format!(
            "verify failed: the handler {handler} would fail Lambda's init ({}); the image is written; --no-verify skips this check",
            h.error_type.as_deref().unwrap_or("")
        ),
        Some(h) if h.status != "ok" => format!(
            "verified with a warning: the handler {handler}: {} (see the warning)",
            h.error_type.as_deref().unwrap_or("not checked")
        ),
        _ => format!(
            "verified: the handler {handler} loads from the image's app layers with Python {}",
            short(&version)
        ),
    };
    let record = record_of(&report, status.clone());
    if report.ok() {
        remember(cache, &key, &record)?;
    }
    record_in_manifest(
        &mut image.manifest,
        &image.manifest_file,
        Some(&handler),
        record,
    )?;
    Ok(VerifyStep {
        status,
        report: Some(report),
    })
}

/// `lpack verify`: what to check.
#[derive(Debug, Clone)]
pub struct VerifyArtifactRequest {
    /// The artifact zip or its `.lpack.json` manifest.
    pub artifact: std::path::PathBuf,
    /// Interpreter of the target version; `None`: found on PATH or in pyenv.
    pub python: Option<std::path::PathBuf>,
    /// Every module, wheels against artifact (`verify --deep`), rather than top-level imports.
    pub deep: bool,
    pub cache_dir: Option<std::path::PathBuf>,
    pub offline: bool,
    pub index: IndexSettings,
}

/// The report of `lpack verify`.
#[derive(Debug)]
// One per `lpack verify` run: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ArtifactCheck {
    Imports(crate::verify::VerifyReport),
    Deep(crate::verify::deep::DeepReport),
}

impl ArtifactCheck {
    /// Did every import pass (deep: no regression)?
    pub fn ok(&self) -> bool {
        match self {
            ArtifactCheck::Imports(r) => r.ok(),
            ArtifactCheck::Deep(r) => r.ok(),
        }
    }
}

/// Verify a built artifact: its manifest gives the target and the layers; runtime-provided
/// packages of aggressive builds come from the indexes (through the cache).
pub fn verify_artifact(
    req: &VerifyArtifactRequest,
    reporter: &dyn Reporter,
) -> Result<ArtifactCheck, BuildError> {
    let manifest = ArtifactManifest::read(&req.artifact)?;
    let target = crate::target::Target::new(
        manifest.target.runtime.parse()?,
        manifest.target.arch.parse()?,
    );
    let artifact = if req.artifact.extension().is_some_and(|e| e == "json") {
        req.artifact
            .parent()
            .unwrap_or(Path::new("."))
            .join(&manifest.artifact.file)
    } else {
        req.artifact.clone()
    };
    let sources = crate::sources::open_sources(
        req.cache_dir.as_deref(),
        req.offline,
        &req.index,
        &Default::default(),
    )?;
    let python = req
        .python
        .clone()
        .or_else(|| find_python(target.runtime.minor()))
        .ok_or_else(|| crate::verify::VerifyError::NoPython(target.python_version()))?;
    let tools = tools(&target, &python, &sources, reporter);
    Ok(if req.deep {
        ArtifactCheck::Deep(crate::verify::deep::deep_verify(
            &artifact, &manifest, &tools,
        )?)
    } else {
        ArtifactCheck::Imports(crate::verify::verify(
            &artifact,
            &manifest,
            manifest.handler.as_deref(),
            &tools,
        )?)
    })
}
