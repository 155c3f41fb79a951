//! Everything a bench run needs, as the CLI resolved it (the backend apart: [`super::Backend`]).

use std::time::Duration;

use super::layout::DeploymentSpec;

/// Everything a bench run needs, resolved by the CLI.
#[derive(Debug, Clone)]
pub struct Settings {
    pub deployments: Vec<DeploymentSpec>,
    /// Cold starts per deployment × memory size.
    pub runs: u32,
    pub warm: u32,
    pub concurrency: u32,
    pub memory: Vec<u32>,
    pub timeout: Duration,
    pub handler: Option<String>,
    pub event: Vec<u8>,
    /// The region whose prices the cost uses (and, on AWS, where the functions run).
    pub region: String,
    pub cold_share: f64,
}

/// A Lambda-style function name from a deployment name.
pub fn function_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "lpack-bench".to_string()
    } else {
        s.chars().take(64).collect()
    }
}
