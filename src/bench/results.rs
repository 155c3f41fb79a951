//! What a bench run produces: every sample, and the figures of each deployment × memory size
//! (`summary.json`), summarised the same way for the local and the AWS backend.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::proc::ReadOnly;
use super::runner::Measured;
use super::server::ErrorInfo;
use super::stats::{self, Figure};

/// Bumped on any incompatible change to `summary.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// Which round of a deployment a sample belongs to. Only the steady rounds are pooled into
/// the figures; the others are reported apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Round {
    /// A forced cold start (and the warm invokes after it).
    #[default]
    Steady,
    /// The first round after the function was created or its code changed (AWS).
    AfterDeploy,
    /// Meant to be cold, but Lambda answered from a warm environment (no Init or Restore
    /// Duration in its REPORT): discarded, counted.
    NotCold,
}

impl Round {
    fn is_steady(&self) -> bool {
        *self == Round::Steady
    }
}

/// One invocation as recorded in the samples files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub deployment: String,
    pub memory_mb: u32,
    /// Environment number within the deployment × memory (0-based).
    pub environment: u32,
    #[serde(default, skip_serializing_if = "Round::is_steady")]
    pub round: Round,
    #[serde(flatten)]
    pub measured: Measured,
}

impl Sample {
    pub fn cold(&self) -> bool {
        self.measured.invocation == 0 && self.round != Round::NotCold
    }
}

/// Figures of one deployment × memory size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentResult {
    pub name: String,
    pub kind: String,
    pub memory_mb: u32,
    pub handler: String,
    /// Successful invocations.
    pub n: usize,
    pub errors: usize,
    #[serde(default)]
    pub error_types: BTreeMap<String, usize>,
    /// The first error seen, in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<ErrorInfo>,
    pub init_ms: Option<Figure>,
    pub duration_ms: Option<Figure>,
    pub max_memory_mb: Option<Figure>,
    /// Cold starts: process start → response.
    pub round_trip_ms: Option<Figure>,
    pub unpack_ms: f64,
    /// USD per million invocations at `cold_share` cold starts.
    pub cost_per_million_usd: Option<f64>,
    /// Forced cold starts that came back warm (AWS): discarded from every figure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_cold: usize,
    /// Cold starts of the first round after the function was created (AWS), never pooled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_deploy_init_ms: Option<Figure>,
    /// SnapStart: Restore Duration of the restores (AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_ms: Option<Figure>,
    /// SnapStart: the snapshot's Init Duration (INIT_REPORT) when the log tail carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_init_ms: Option<f64>,
    /// SnapStart: seconds from PublishVersion to the version being Active (snapshot taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_s: Option<f64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One deployment's import profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportProfile {
    pub deployment: String,
    /// (module, cumulative ms), largest first.
    pub top: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub deployment: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub lpack_version: String,
    pub date: String,
    pub backend: String,
    pub target: String,
    pub python: String,
    pub host_cpu: String,
    pub host_cpus: usize,
    pub cpu_shaping: String,
    pub memory_source: String,
    pub read_only: ReadOnly,
    pub runs: u32,
    pub warm: u32,
    pub concurrency: u32,
    pub timeout_s: f64,
    pub region: String,
    pub prices_date: String,
    pub cold_share: f64,
    pub artifacts: Vec<ArtifactRef>,
    pub notes: Vec<String>,
    /// The AWS run: run id, region, what was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<RunRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub provenance: Provenance,
    pub deployments: Vec<DeploymentResult>,
    pub import_profiles: Vec<ImportProfile>,
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

impl Results {
    pub fn errors(&self) -> usize {
        self.deployments.iter().map(|d| d.errors).sum()
    }
}

pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::emit::image::rfc3339(crate::sink::Epoch(secs))
}

/// The row a set of samples is summarised into.
pub(crate) struct Row<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub handler: &'a str,
    pub memory_mb: u32,
    pub unpack_ms: f64,
}

/// Prices the cost of a row uses.
pub(crate) struct Pricing {
    pub cold_share: f64,
    /// USD per ms at 128 MB for the target's architecture.
    pub price_ms: f64,
    pub requests_per_million: f64,
    /// SnapStart: USD per GB restored (0 without SnapStart).
    pub restore_per_gb: f64,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Figures of one deployment × memory size. Only steady samples are pooled; after-deploy
/// cold starts get a figure of their own, samples that were not cold are only counted. The
/// cost bills what Lambda billed (Billed Duration, which includes init and restore) where the
/// samples carry it, else Init + Duration.
pub(crate) fn summarise(row: &Row, samples: &[&Sample], p: &Pricing) -> DeploymentResult {
    let mut error_types = BTreeMap::new();
    let mut first_error = None;
    for x in samples {
        if let Some(e) = &x.measured.error {
            *error_types.entry(e.error_type.clone()).or_insert(0) += 1;
            first_error.get_or_insert_with(|| e.clone());
        }
    }
    let errors = error_types.values().sum();
    let ok: Vec<&Sample> = samples
        .iter()
        .copied()
        .filter(|x| x.measured.error.is_none() && x.round == Round::Steady)
        .collect();
    let vals = |f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|x| f(x)).collect()
    };
    let init = vals(&|x| x.measured.init_ms);
    let restore = vals(&|x| x.measured.restore_ms);
    let dur = vals(&|x| x.measured.duration_ms);
    let cold_dur = vals(&|x| x.cold().then_some(x.measured.duration_ms).flatten());
    let warm_dur = vals(&|x| (!x.cold()).then_some(x.measured.duration_ms).flatten());
    let billed = |cold: bool| vals(&|x| (x.cold() == cold).then_some(x.measured.billed_ms? as f64));
    let mem = vals(&|x| x.measured.max_memory_mb.map(|m| m as f64));
    let rt = vals(&|x| x.measured.round_trip_ms);
    let start = mean(&init).or(mean(&restore));
    let cold_billed = mean(&billed(true)).or_else(|| Some(start? + mean(&cold_dur)?));
    let cost = cold_billed.map(|c| {
        let warm = mean(&billed(false))
            .or(mean(&warm_dur))
            .or(mean(&cold_dur))
            .unwrap_or(0.0);
        let restores = if restore.is_empty() {
            0.0
        } else {
            p.cold_share * 1e6 * f64::from(row.memory_mb) / 1024.0 * p.restore_per_gb
        };
        stats::cost_per_million(
            c,
            warm,
            row.memory_mb,
            p.cold_share,
            p.price_ms,
            p.requests_per_million,
        ) + restores
    });
    let after: Vec<f64> = samples
        .iter()
        .filter(|x| x.round == Round::AfterDeploy && x.measured.error.is_none())
        .filter_map(|x| x.measured.init_ms.or(x.measured.restore_ms))
        .collect();
    DeploymentResult {
        name: row.name.to_string(),
        kind: row.kind.to_string(),
        memory_mb: row.memory_mb,
        handler: row.handler.to_string(),
        n: ok.len(),
        errors,
        error_types,
        first_error,
        init_ms: stats::figure(&init),
        duration_ms: stats::figure(&dur),
        max_memory_mb: stats::figure(&mem),
        round_trip_ms: stats::figure(&rt),
        unpack_ms: row.unpack_ms,
        cost_per_million_usd: cost,
        not_cold: samples.iter().filter(|x| x.round == Round::NotCold).count(),
        after_deploy_init_ms: stats::figure(&after),
        restore_ms: stats::figure(&restore),
        snapshot_init_ms: None,
        snapshot_s: None,
    }
}

/// The AWS side of a run, recorded in `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Functions, layer versions, repositories and objects the run created.
    pub created: Vec<String>,
    /// Whether they were left in place (`--keep`).
    pub kept: bool,
    /// What could not be deleted (remove it with `lpack bench --cleanup RUN_ID`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_behind: Vec<String>,
    /// Forced cold starts that came back warm, over all deployments.
    pub not_cold: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(round: Round, invocation: u32, init: Option<f64>, billed: u64) -> Sample {
        Sample {
            deployment: "d".into(),
            memory_mb: 1024,
            environment: 0,
            round,
            measured: Measured {
                invocation,
                init_ms: init,
                duration_ms: Some(100.0),
                billed_ms: Some(billed),
                ..Default::default()
            },
        }
    }

    #[test]
    fn only_steady_samples_are_pooled_and_lambdas_billing_is_used() {
        let xs = [
            sample(Round::AfterDeploy, 0, Some(8000.0), 8100),
            sample(Round::NotCold, 0, None, 101),
            sample(Round::Steady, 0, Some(600.0), 701),
            sample(Round::Steady, 0, Some(800.0), 901),
            sample(Round::Steady, 1, None, 101),
        ];
        let refs: Vec<&Sample> = xs.iter().collect();
        let r = summarise(
            &Row {
                name: "d",
                kind: "zip",
                handler: "h.handler",
                memory_mb: 1024,
                unpack_ms: 0.0,
            },
            &refs,
            &Pricing {
                cold_share: 0.01,
                price_ms: 2.1e-9,
                requests_per_million: 0.2,
                restore_per_gb: 0.0,
            },
        );
        assert_eq!((r.n, r.errors, r.not_cold), (3, 0, 1));
        assert_eq!(r.init_ms.as_ref().map(|f| (f.n, f.p50)), Some((2, 700.0)));
        assert_eq!(r.after_deploy_init_ms.as_ref().map(|f| f.p50), Some(8000.0));
        // Cold: mean Billed Duration 801 ms; warm: 101 ms (Lambda's figures, init included).
        let want = stats::cost_per_million(801.0, 101.0, 1024, 0.01, 2.1e-9, 0.2);
        assert_eq!(r.cost_per_million_usd, Some(want));
    }
}
