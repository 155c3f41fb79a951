//! lpack builds AWS Lambda artifacts for Python data-science code.
//!
//! The pipeline, one module per stage; each stage takes the previous stage's value and returns
//! the next, and none of them prints (the [`cli`] owns output, [`progress`] is the seam for
//! progress events). [`pipeline::build`] runs it as one library call:
//!
//! ```text
//! inputs ─► lock ─► fetch ─► slim ─► audit ─► emit ─► artifact manifest ─► verify
//! ```
//!
//! # Layers
//!
//! A module may use the modules of its own layer and those below it, never those above.
//! `docs/architecture.md` describes the layers, the pipeline and where each kind of change goes.
//!
//! ```text
//! cli                               clap arguments → settings; rendering (human, --json); exit codes
//! pipeline bench                    composition roots: build(request) → outcome; bench(plan) → results
//! report verify config              consumers of artifacts and their manifests; config files
//! emit                              zip | layer | image (+ registry) artifacts
//! slim                              recipes, strip, bytecode, import guard, ABI audit
//! resolve fetch sources extlayer    index client, solver, inputs, lock files; downloads; sources → lock; layers by zip or ARN
//! wheel sink artifact requirements  data types and parsers of untrusted bytes; canonical archives;
//! srctree                           the handler code to pack (the one walk of `src`)
//! target cache http progress svg    foundations: know nothing of the layers above
//! digest outfile timings aws
//! ```
//!
//! - [`target`]: a Lambda runtime + architecture → Python tag, glibc, ordered wheel tags.
//! - [`cache`]: a content-addressed store of wheels, blobs and small records by key, with atomic
//!   writes; it knows nothing of the stages' types.
//! - [`digest`]: lowercase hex and sha256 of bytes and files; [`outfile`]: files written for
//!   the user, never half-written (temp file beside, renamed over).
//! - [`http`]: the one HTTP client; [`progress`]: the [`progress::Reporter`] seam; [`svg`]: the
//!   primitives of every chart lpack draws; [`timings`]: wall and CPU seconds per stage and the
//!   critical path (`--timings`).
//! - `aws` (cargo feature `aws`): the AWS SDK's configuration and credential chain, ECR login.
//! - [`wheel`]: wheel file names, tags and entries; [`wheel::ArchivePath`] refuses unsafe paths.
//! - [`sink`]: canonical archive writing (zip, and the trait tar implements) behind one trait.
//! - [`artifact`]: the JSON manifest written beside every artifact, read by later commands.
//! - [`requirements`]: requirements files → a pinned set for one target (markers evaluated).
//! - [`srctree`]: which files of `src` are handler code (git-ignored files, virtual environments
//!   and lpack's own outputs are not), walked once for every format.
//! - [`resolve`]: index client (PEP 691 JSON / PEP 503 HTML / find-links), inputs and lock files,
//!   and the choice of one wheel per pin, with errors that say why nothing fits.
//! - [`fetch`]: parallel, sha256-verified downloads into the cache.
//! - [`sources`]: the cache and package sources opened once, an input read and locked (shared
//!   by `build`, `lock`, `explain` and bench).
//! - [`extlayer`]: layers lpack did not build (`--with-layer` zip or ARN), indexed from the zip.
//! - [`slim`]: per-entry verdicts, each naming the rule that decided it; the ABI audit.
//! - [`emit`]: the function zip, layer zips and OCI images.
//! - [`report`]: size reports from manifests; [`verify`]: import checks of built artifacts.
//! - [`config`]: `lpack.toml` / `[tool.lpack]`: finding, reading and validating config files, and
//!   `lpack init`.
//! - [`pipeline`]: the build as a library call; [`bench`](mod@bench): cold starts of built
//!   artifacts, locally or on AWS Lambda.
//! - [`cli`]: the `lpack` command line.

pub mod artifact;
#[cfg(feature = "aws")]
pub mod aws;
pub mod bench;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod config;
pub mod digest;
pub mod emit;
pub mod extlayer;
pub mod fetch;
pub mod http;
pub mod outfile;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod requirements;
pub mod resolve;
pub mod sink;
pub mod slim;
pub mod sources;
pub mod srctree;
pub mod svg;
pub mod target;
pub mod timings;
pub mod verify;
pub mod wheel;
