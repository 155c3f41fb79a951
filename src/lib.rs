//! lpack builds AWS Lambda artifacts for Python data-science code.
//!
//! The pipeline, one module per stage; each stage takes the previous stage's value and returns
//! the next, and none of them prints (the [`cli`] owns output, [`progress`] is the seam for
//! progress events):
//!
//! ```text
//! requirements ─► resolve ─► fetch ─► slim ─► emit ─► artifact manifest
//! ```
//!
//! - [`target`]: a Lambda runtime + architecture → Python tag, glibc, ordered wheel tags.
//! - [`requirements`]: requirements files → a pinned set for one target (markers evaluated).
//! - [`resolve`]: index client (PEP 691 JSON / PEP 503 HTML / find-links) and the choice of one
//!   wheel per pin, with errors that say why nothing fits.
//! - [`cache`] and [`fetch`]: a content-addressed, sha256-verified wheel cache filled by parallel
//!   downloads with atomic writes.
//! - [`wheel`]: wheel file names, tags and entries; [`wheel::ArchivePath`] refuses unsafe paths.
//! - [`slim`]: per-entry verdicts, each naming the rule that decided it.
//! - [`emit`]: canonical archive writing behind one sink trait; the function zip.
//! - [`artifact`]: the JSON manifest written beside every artifact, read by later commands.
//! - [`bench`]: cold starts of built artifacts through the real runtime client, locally.

pub mod artifact;
pub mod bench;
pub mod build;
pub mod cache;
pub mod cli;
pub mod emit;
pub mod fetch;
pub mod http;
pub mod progress;
pub mod report;
pub mod requirements;
pub mod resolve;
pub mod sink;
pub mod slim;
pub mod target;
pub mod verify;
pub mod wheel;
