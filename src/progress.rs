//! Progress reporting seam: library code announces work here and never prints.
//!
//! The CLI implements [`Reporter`] with indicatif bars (hidden when stderr is not a terminal or
//! with `--quiet`); tests and library users pass [`Silent`].

/// A unit of long-running work a user may want to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading index pages for each requirement.
    Index,
    /// Downloading (or verifying cached) wheels.
    Download,
    /// Slimming wheels (strip, recipes, bytecode).
    Slim,
    /// Writing the artifact.
    Assemble,
    /// Importing modules from the artifact (and the wheels) with the target Python.
    Verify,
    /// Cold starts and invokes of `lpack bench`.
    Bench,
    /// Creating functions, layers and images on AWS (`lpack bench --backend aws`).
    Deploy,
    /// Deleting what a bench created on AWS.
    Cleanup,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Index => "Resolving",
            Phase::Download => "Fetching",
            Phase::Slim => "Slimming",
            Phase::Assemble => "Assembling",
            Phase::Verify => "Verifying",
            Phase::Bench => "Benching",
            Phase::Deploy => "Deploying",
            Phase::Cleanup => "Cleaning up",
        }
    }
}

/// Receives progress events. Every method has a no-op default.
pub trait Reporter: Send + Sync {
    /// A phase starts with `total` items.
    fn start(&self, _phase: Phase, _total: u64) {}
    /// `n` more items of the phase are done.
    fn advance(&self, _phase: Phase, _n: u64) {}
    /// `n` more bytes moved (downloads).
    fn bytes(&self, _phase: Phase, _n: u64) {}
    /// The phase is over.
    fn finish(&self, _phase: Phase) {}
    /// Where stages record their wall and CPU time ([`crate::timings`]); `None`: not measured.
    fn timings(&self) -> Option<&crate::timings::Recorder> {
        None
    }
}

/// A reporter that shows nothing.
pub struct Silent;

impl Reporter for Silent {}

/// A reporter that shows nothing but times the stages it is given to (work done inside another
/// stage, such as the downloads the resolver makes to read metadata).
pub struct TimingsOnly<'a>(pub Option<&'a crate::timings::Recorder>);

impl Reporter for TimingsOnly<'_> {
    fn timings(&self) -> Option<&crate::timings::Recorder> {
        self.0
    }
}
