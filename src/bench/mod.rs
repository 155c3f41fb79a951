//! Bench: cold starts of the artifacts lpack built. A composition root: it reads artifact
//! manifests (never rebuilds), measures them on one of two backends chosen here, in [`bench`],
//! and summarises ([`stats`]) into results the CLI renders and [`output`] writes (CSV, JSON,
//! Markdown, SVG charts, one self-contained HTML page).
//!
//! - [`local`]: each deployment laid out once ([`layout`]), environments run ([`runner`])
//!   against lpack's own Runtime API server ([`server`]).
//! - [`aws`]: each deployment created on AWS Lambda, cold starts forced by configuration
//!   updates, REPORT lines read from the invoke's log tail, everything deleted afterwards.
//!
//! Both produce the same [`Results`]: one [`Sample`] per invocation, one [`DeploymentResult`]
//! per deployment × memory size, the same statistics, cost model and gate.

pub mod aws;
pub mod cgroup;
pub mod charts;
pub mod compare;
pub mod error;
pub mod layout;
pub mod local;
pub mod output;
pub mod plan;
pub mod proc;
pub mod results;
pub mod runner;
pub mod server;
pub mod settings;
pub mod stats;

pub use error::{BenchError, interrupt};
pub use proc::ReadOnly;
pub use results::{
    ArtifactRef, DeploymentResult, ImportProfile, Provenance, Results, Round, SCHEMA_VERSION,
    Sample,
};
pub use settings::{Settings, function_name};

use crate::progress::Reporter;

/// Where the cold starts happen: the one place a backend is chosen.
#[derive(Debug, Clone)]
pub enum Backend {
    Local(local::Options),
    Aws(aws::Options),
}

/// Run the bench on `backend`. `on_sample` sees every invocation as it completes (for REPORT
/// lines).
pub fn bench(
    s: &Settings,
    backend: &Backend,
    reporter: &dyn Reporter,
    on_sample: &(dyn Fn(&Sample) + Sync),
) -> Result<Results, BenchError> {
    if s.deployments.is_empty() {
        return Err(BenchError::Input("nothing to bench".into()));
    }
    if s.memory.is_empty() || s.memory.iter().any(|m| !(128..=10240).contains(m)) {
        return Err(BenchError::Input(
            "memory sizes must be between 128 and 10240 MB".into(),
        ));
    }
    match backend {
        Backend::Local(o) => local::bench(s, o, reporter, on_sample),
        Backend::Aws(o) => aws::bench(s, o, reporter, on_sample),
    }
}
