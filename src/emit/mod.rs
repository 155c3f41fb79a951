//! Emit: write artifacts. Every format writes through the [`crate::sink::ArchiveSink`] seam, which
//! alone applies the reproducibility rules.
//!
//! - [`zip`]: zip artifacts — the function zip, and layer zips (the same writer with a path
//!   prefix; [`layer`] decides prefixes and splits).
//! - [`tar`]: the canonical tar sink image layers are written through.
//! - [`image`]: OCI images (app layers on a base image); [`registry`]: pull and push.
//!
//! Emit sits above slim (it writes slimmed wheels) and below report, verify and build; the sink
//! itself lives below slim ([`crate::sink`]), because slim writes its cached fragments with it.

pub mod image;
pub mod layer;
pub mod registry;
pub mod tar;
pub mod zip;

use std::path::PathBuf;

/// What to do when two wheels write one path with different bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// Stop with an error naming the path and both wheels.
    #[default]
    Error,
    /// Keep the copy from the wheel that comes last in name order (pip's silent behaviour).
    LastWins,
}

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error(transparent)]
    Wheel(#[from] crate::wheel::WheelError),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error(
        "{count} path(s) are written by two wheels with different contents:\n{list}\n  hint: two distributions install the same file (often a renamed fork installed beside the original); remove one, or accept pip's behaviour with --on-conflict last-wins"
    )]
    Conflicts { count: usize, list: String },
    #[error(
        "--src file `{path}` is also installed by {wheel}\n  hint: rename the handler module or package so it does not shadow a dependency"
    )]
    SrcConflict { path: String, wheel: String },
    #[error("--src {path}: {detail}")]
    Src { path: PathBuf, detail: String },
    #[error(
        "wheel {wheel}: entry `{path}` could not be copied ({detail})\n  hint: the wheel is truncated or corrupt; delete it from the cache with `lpack cache clean`"
    )]
    WheelData {
        wheel: String,
        path: String,
        detail: String,
    },
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
