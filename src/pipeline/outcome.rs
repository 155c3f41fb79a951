//! What a build produced: the artifacts, the image, the checks and their timings.

use std::path::PathBuf;
use std::time::Duration;

use super::request::OutputFormat;
use crate::artifact::{AppLayer, ArtifactManifest};
use crate::emit::registry::PushReport;
use crate::fetch::FetchStats;
use crate::report::GateFailure;

/// One artifact written (or found up to date).
#[derive(Debug, Clone)]
pub struct BuiltArtifact {
    pub output: PathBuf,
    pub manifest_file: PathBuf,
    pub manifest: ArtifactManifest,
    /// Already up to date: not rewritten.
    pub unchanged: bool,
    /// Seconds from the start of the build until this artifact was done.
    pub seconds: f64,
}

/// How long each stage took.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub lock: Duration,
    pub fetch: Duration,
    pub slim: Duration,
    pub emit: Duration,
    pub verify: Duration,
    pub total: Duration,
    /// Wall and CPU seconds per stage and the critical path (`--timings`).
    pub stages: crate::timings::Report,
}

/// The import check after a function-zip build.
#[derive(Debug, Clone)]
pub struct VerifyStep {
    /// `verified …`, `not verified: …` or `verify failed: …`.
    pub status: String,
    /// The full report when the check ran now (not when skipped or remembered from the cache).
    pub report: Option<crate::verify::VerifyReport>,
}

/// Everything a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub format: OutputFormat,
    /// Function zip: one; layers: one per layer, in order; image: none (see `image`).
    pub artifacts: Vec<BuiltArtifact>,
    /// The image, for `--format image`.
    pub image: Option<BuiltImageSummary>,
    pub stats: FetchStats,
    /// Lambda's combined unzipped limit exceeded: why, and what would fit.
    pub over_limit: Option<String>,
    /// Size gates that failed (checked only when the limit was not exceeded).
    pub gate_failures: Vec<GateFailure>,
    /// Function zips: the import check (with the handler); images: the handler check.
    pub verify: Option<VerifyStep>,
    pub timings: Timings,
    /// The input had loose requirements that this build resolved: `name==version` of every
    /// package chosen (for the CLI to show, with a hint to lock them).
    pub resolved: Option<Vec<String>>,
    /// The artifacts were copied whole from a cache tier (`"local"` or `"remote"`): an earlier
    /// build of the same content key wrote them, and no stage ran.
    pub restored_from: Option<&'static str>,
}

impl BuildOutcome {
    /// Whether every check the request asked for passed (exit 0 rather than 1).
    pub fn passed(&self) -> bool {
        self.over_limit.is_none()
            && self.gate_failures.is_empty()
            && self
                .verify
                .as_ref()
                .and_then(|v| v.report.as_ref())
                .is_none_or(|r| r.ok())
    }
}

/// What an image build produced, for the summary.
#[derive(Debug, Clone)]
pub struct BuiltImageSummary {
    /// Where it went: `oci-layout:DIR:TAG`, `docker-archive:FILE:TAG`, `REF@DIGEST`.
    pub written: Vec<String>,
    pub manifest_digest: String,
    pub config_digest: String,
    pub base_reference: String,
    pub base_layers: usize,
    /// The app layers lpack added.
    pub layers: Vec<AppLayer>,
    pub pushed: Option<PushReport>,
    /// The image's CMD.
    pub handler: String,
    /// What writing the outputs changed besides the image: tags moved, blobs collected.
    pub notes: Vec<String>,
    pub manifest_file: PathBuf,
    pub manifest: ArtifactManifest,
}
