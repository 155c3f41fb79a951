//! The verify step of a build: import the fresh function zip (with its layers) with an
//! interpreter of the target version, unless skipped, impossible here, or already verified.

use std::path::Path;

use super::sources::Sources;
use super::{BuildError, BuildRequest, VerifyStep};
use crate::artifact::ArtifactManifest;
use crate::cache::sha256_hex;
use crate::progress::Reporter;
use crate::slim::bytecode::{BytecodePlan, find_python};

/// Whether to run the import check after a function-zip build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// Whenever an interpreter of the target version is found and the host can load it.
    #[default]
    Auto,
    /// Always; fail when it cannot run.
    Require,
    /// Never.
    Skip,
}

/// The import check after building `output`: its status line, and the report when it ran.
pub fn verify_after_build(
    req: &BuildRequest,
    output: &Path,
    manifest: &ArtifactManifest,
    plan: &BytecodePlan,
    sources: &Sources,
    reporter: &dyn Reporter,
) -> Result<VerifyStep, BuildError> {
    let skipped = |status: String| {
        Ok(VerifyStep {
            status,
            report: None,
        })
    };
    let target = &req.target;
    let required = req.verify == VerifyMode::Require;
    if req.verify == VerifyMode::Skip {
        return skipped("not verified (--no-verify)".to_string());
    }
    let host = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    if target.arch.to_string() != host && !required {
        return skipped(format!(
            "not verified: a {} artifact does not load on this {host} host (verify it on {} or in CI)",
            target.arch, target.arch
        ));
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
        return skipped(format!(
            "not verified: no python{} found to import it with (install it or pass --python; --no-verify silences this)",
            target.python_version()
        ));
    };
    // A verified artifact (with the same layers and interpreter) stays verified.
    let version = if plan.python.as_deref() == Some(python.as_path()) {
        plan.python_version.clone()
    } else {
        crate::slim::bytecode::python_version(&python)
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    let key = sha256_hex(
        format!(
            "verify 1\n{}\n{:?}\n{version}\n",
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
    if let Some(status) = cache.read_record("verify-v1", &key) {
        return skipped(String::from_utf8_lossy(&status).into_owned());
    }
    let report = crate::verify::verify(
        output,
        manifest,
        target,
        Some(&python),
        cache,
        &sources.client,
        sources.http.as_ref(),
        reporter,
    )?;
    let failed = report.imports.iter().filter(|i| !i.ok).count()
        + report.metadata.iter().filter(|m| !m.ok).count();
    let status = if failed == 0 {
        let s = format!(
            "verified: {} top-level modules import with Python {}",
            report.imports.len(),
            version.split_whitespace().next().unwrap_or("")
        );
        cache.write_record("verify-v1", &key, s.as_bytes())?;
        s
    } else {
        format!(
            "verify failed: {failed} import(s) fail from the artifact (it is kept: {}); --no-verify skips this check",
            output.display()
        )
    };
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
    pub index: super::IndexSettings,
}

/// The report of `lpack verify`.
#[derive(Debug)]
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
    let Sources {
        cache,
        http,
        client,
    } = super::sources::open_sources(
        req.cache_dir.as_deref(),
        req.offline,
        &req.index,
        &Default::default(),
    )?;
    let python = req
        .python
        .clone()
        .or_else(|| find_python(target.runtime.minor()));
    Ok(if req.deep {
        ArtifactCheck::Deep(crate::verify::deep::deep_verify(
            &artifact,
            &manifest,
            &target,
            python.as_deref(),
            &cache,
            &client,
            http.as_ref(),
            reporter,
        )?)
    } else {
        ArtifactCheck::Imports(crate::verify::verify(
            &artifact,
            &manifest,
            &target,
            python.as_deref(),
            &cache,
            &client,
            http.as_ref(),
            reporter,
        )?)
    })
}
