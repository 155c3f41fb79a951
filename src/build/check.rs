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
