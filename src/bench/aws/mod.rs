//! The AWS backend: each deployment created on real AWS Lambda, cold starts forced on demand,
//! REPORT lines read from the invoke's log tail, everything deleted afterwards.
//!
//! - [`plan`]: what a run creates, how many invocations it makes and what it costs — pure, so
//!   `--dry-run` works without credentials (and without the `aws` feature).
//! - [`report`]: REPORT / INIT_REPORT parsing, text and JSON log formats.
//! - `deploy`, `run`, `cleanup` (feature `aws`): the SDK calls. Every resource is tagged
//!   `lpack-bench=<run id>` (layer versions, which take no tags, carry it in their description
//!   and the run id in their name) and deleted at the end unless `--keep`, on Ctrl-C too;
//!   [`cleanup_run`] finds a crashed run's resources by that tag.
//!
//! A round: UpdateFunctionConfiguration with a fresh `LPACK_COLD=<nonce>` (and the memory
//! size), wait for `LastUpdateStatus == Successful`, then `concurrency` invokes at once (new
//! environments), then `warm` more rounds of invokes. A forced invoke whose REPORT has no Init
//! (or Restore) Duration was not cold: discarded and counted. The first round after a function
//! is created is reported apart ("after deploy"): those cold starts are slower and never pooled.

pub mod plan;
pub mod report;

#[cfg(feature = "aws")]
mod cleanup;
#[cfg(feature = "aws")]
mod deploy;
#[cfg(feature = "aws")]
mod run;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::error::BenchError;
use super::results::{Results, Sample};
use super::settings::Settings;
use crate::progress::Reporter;

/// The tag key on every resource a run creates.
pub const TAG: &str = "lpack-bench";
/// Where zips uploaded to `--s3-bucket` go: `lpack-bench/<run id>/…`.
pub const S3_PREFIX: &str = "lpack-bench";

/// What only the AWS backend needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The functions' execution role (lpack creates no IAM roles).
    pub role_arn: Option<String>,
    /// The region asked for (else the SDK's chain decides).
    pub region: Option<String>,
    /// Resource names start with `<prefix>-<run id>`.
    pub prefix: String,
    /// Zips over 50 MB go through this bucket.
    pub s3_bucket: Option<String>,
    pub endpoint_url: Option<String>,
    /// Leave everything in place (delete later with `--cleanup RUN_ID`).
    pub keep: bool,
    /// Also measure SnapStart restores (python3.12+ zips).
    pub snapstart: bool,
    /// Push images here instead of the ECR registry (tests: a local registry stands in for
    /// ECR's, which no AWS emulator serves); the function still names the ECR repository.
    pub image_registry: Option<String>,
    /// The run id (the CLI makes one and prints it before anything is created).
    pub run_id: String,
    /// Scratch space (an image that only exists as a docker-archive is unpacked here).
    pub work: PathBuf,
    /// How often to poll a function's state.
    pub poll: Duration,
}

pub use crate::bench::results::RunRecord;

/// A fresh run id: `YYMMDD-HHMMSS-xxxx` (UTC, 4 hex digits of entropy), valid in every
/// resource name it goes into (lowercase for ECR).
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = crate::emit::image::rfc3339(crate::sink::Epoch(now.as_secs()));
    // 2026-12-01T12:00:05Z → 261201-120005
    let digits: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    let noise = crate::digest::sha256_hex(
        format!("{}-{}-{:?}", now.as_nanos(), std::process::id(), stamp).as_bytes(),
    );
    format!("{}-{}-{}", &digits[2..8], &digits[8..14], &noise[..4])
}

/// Whether `s` can be a run id (what `--cleanup` accepts: no wildcards, nothing that would
/// match other runs' names).
pub fn valid_run_id(s: &str) -> bool {
    s.len() >= 8
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Run the bench on AWS (needs the `aws` feature).
pub fn bench(
    s: &Settings,
    o: &Options,
    reporter: &dyn Reporter,
    on_sample: &(dyn Fn(&Sample) + Sync),
) -> Result<Results, BenchError> {
    #[cfg(feature = "aws")]
    {
        run::bench(s, o, reporter, on_sample)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (s, o, reporter, on_sample);
        Err(not_built())
    }
}

/// What `--cleanup RUN_ID` removed and what it could not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupReport {
    pub deleted: Vec<String>,
    pub failed: Vec<String>,
}

/// Find everything run `run_id` created (by its tag, the run id in layer names, the S3 prefix
/// in `s3_bucket`) and delete it.
pub fn cleanup_run(o: &Options, reporter: &dyn Reporter) -> Result<CleanupReport, BenchError> {
    #[cfg(feature = "aws")]
    {
        cleanup::by_tag(o, reporter)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (o, reporter);
        Err(not_built())
    }
}

#[cfg(not(feature = "aws"))]
fn not_built() -> BenchError {
    BenchError::Aws(
        "this lpack was built without the `aws` feature\n  hint: install it with `cargo install --path . --features aws` (the README's command); --dry-run works without it"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_valid_names() {
        let id = new_run_id();
        assert!(valid_run_id(&id), "{id}");
        assert_eq!(id.len(), 18, "{id}");
        assert!(!valid_run_id("*"));
        assert!(!valid_run_id("ABC-123456"));
        assert!(!valid_run_id("short"));
    }
}
