//! The command line: clap definitions, one file per command, and output.
//!
//! Each command turns its parsed arguments into resolved settings, calls the library (`build`
//! calls [`crate::pipeline::build`] once) and renders what comes back; library code never prints. Only this module writes to the terminal:
//! human output to stdout, `--json` machine output to stdout, progress bars and warnings to
//! stderr.

pub mod audit;
pub mod bench;
pub mod bench_aws;
pub mod build;
pub mod cache;
pub mod ci;
pub mod config;
pub mod explain;
pub mod init;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod remote;
pub mod settings;
pub mod size_report;
pub mod units;
pub mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::emit::ConflictPolicy;
use crate::emit::layer::LayerLayout;
use crate::slim::bytecode::BytecodeMode;
use crate::slim::recipe::Profile;

const ABOUT: &str = "Build AWS Lambda artifacts for Python data-science code";

const LONG_ABOUT: &str = "\
lpack turns a pinned requirement set into a Lambda artifact that really runs on the chosen
runtime: wheels are chosen for the runtime's exact Python tag and glibc (python3.9-3.11 run on
Amazon Linux 2 with glibc 2.26, python3.12+ on Amazon Linux 2023 with glibc 2.34), fetched into
a sha256-verified cache and streamed into a byte-reproducible zip with a manifest beside it.";

const EXAMPLES: &str = "\
Examples:
  # Function zip for python3.12 on x86_64 from a hashed lock, handler code from ./app
  lpack build -r requirements/datasci-py312.lock.txt --src app

  # The same for Graviton, written to a chosen path, machine-readable summary
  lpack build -r requirements.txt --runtime python3.12 --arch arm64 -o out/fn.zip --json

  # Rebuild without the network (every wheel must already be cached)
  lpack build -r requirements.txt --offline

  # A private index plus a directory of locally built wheels
  lpack build -r requirements.txt --index-url https://pypi.corp/simple --find-links ./wheels

Exit codes: 0 ok, 1 a gate you asked for failed, 2 error.";

#[derive(Debug, Parser)]
#[command(
    name = "lpack",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Read settings from this file (TOML: an lpack.toml, or a pyproject.toml's [tool.lpack])
    /// instead of the one found from the working directory up to the repository root
    #[arg(long, global = true, env = "LPACK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read no config file
    #[arg(long, global = true, conflicts_with = "config")]
    pub no_config: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a Lambda artifact from pinned requirements
    #[command(after_help = build::EXAMPLES)]
    Build(Box<BuildArgs>),
    /// Resolve requirements for a Lambda runtime and write a pylock.toml (PEP 751)
    #[command(after_help = lock::EXAMPLES)]
    Lock(LockArgs),
    /// Where every byte went, per distribution and category, against Lambda's limits
    #[command(after_help = SIZE_REPORT_EXAMPLES)]
    SizeReport(SizeReportArgs),
    /// Check every ELF file of an artifact against a Lambda runtime (glibc, arch, libraries)
    Audit(AuditArgs),
    /// Import every package of an artifact with a Python of the target version
    Verify(VerifyArgs),
    /// Say which rule keeps, strips or drops a path, and why
    Explain(ExplainArgs),
    /// Inspect or clear lpack's download cache
    Cache(CacheArgs),
    /// Cold starts of built artifacts, locally through the real Lambda runtime client
    #[command(after_help = bench::EXAMPLES)]
    Bench(Box<bench::BenchArgs>),
    /// Show the effective build settings and where each comes from (flag, LPACK_* variable,
    /// config file line, default)
    #[command(after_help = config::EXAMPLES)]
    Config(config::ConfigArgs),
    /// Write a commented lpack.toml (or [tool.lpack]) for the project in this directory
    #[command(after_help = init::EXAMPLES)]
    Init(init::InitArgs),
    /// The config's functions and layers as CI jobs: JSON, a GitHub Actions matrix or a
    /// CodeBuild batch build-graph (layers first, each function after its layers)
    #[command(after_help = plan::EXAMPLES)]
    Plan(plan::PlanArgs),
}

const SIZE_REPORT_EXAMPLES: &str = "\
Examples:
  lpack size-report dist/app.zip
  lpack size-report dist/app.zip dist/layer.zip --top 10          # a function and its layer, summed
  lpack size-report dist/app.zip --markdown >> \"$GITHUB_STEP_SUMMARY\"
  lpack size-report dist/app.zip --svg size.svg --max-unzipped 250MiB
  lpack size-report --diff main/app.zip.lpack.json dist/app.zip   # what grew in this change
  lpack size-report --layer awssdk-pandas.zip --runtime python3.12  # a layer lpack did not build
  lpack size-report dist/app.zip --layer arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312:16

Reads only the .lpack.json manifests written beside artifacts (layers a function was built
against with --with-layer are read from their zips and counted with it). Exit 1 when a --max-*
gate fails.";

#[derive(Debug, Args)]
pub struct SizeReportArgs {
    /// Artifacts or their .lpack.json manifests (several: a function zip and its layers, summed)
    #[arg(value_name = "ARTIFACT|MANIFEST")]
    pub inputs: Vec<PathBuf>,
    /// Show the N largest distributions and fold the rest into one row
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Machine-readable report (schema_version 1) on stdout
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// GitHub-flavoured Markdown (e.g. for $GITHUB_STEP_SUMMARY)
    #[arg(long)]
    pub markdown: bool,
    /// Also write an SVG chart (stacked bars per distribution, the Lambda limit line)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Compare two builds: what grew or shrank per distribution
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with = "inputs")]
    pub diff: Option<Vec<PathBuf>>,
    /// A layer lpack did not build (zip, or layer version ARN with AWS support; repeatable): what it holds by distribution and category, and what the safe profile would remove from it; with artifacts, counted with them
    #[arg(long, value_name = "ARN|ZIP", conflicts_with = "diff")]
    pub layer: Vec<String>,
    /// With --layer: the runtime the layer is read for (which python3.X/site-packages is on sys.path)
    #[arg(long, default_value = "python3.12")]
    pub runtime: String,
    /// With --layer: the architecture its ELF files must be for
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Where layers fetched by ARN are cached [default: lpack's cache]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub gates: GateArgs,
    #[command(flatten)]
    pub ci: ci::CiArgs,
}

/// Size gates (shared by build and size-report); exit 1 when exceeded, 0 at exactly the limit.
#[derive(Debug, Args, Clone, Default)]
pub struct GateArgs {
    /// Fail (exit 1) when function + layers exceed SIZE unzipped (e.g. 250MiB, 262144000)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_unzipped: Option<u64>,
    /// Fail (exit 1) when a zip exceeds SIZE (e.g. 50MiB for direct upload)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_zipped: Option<u64>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    crate::report::parse_size(s)
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Input: requirements file (loose or pinned), pyproject.toml or uv.lock [default: found here]
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// pyproject.toml / uv.lock: include this optional-dependencies extra (repeatable)
    #[arg(long, value_name = "NAME")]
    pub extra: Vec<String>,
    /// pyproject.toml: include this dependency group (PEP 735; repeatable)
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,
    /// Lambda runtime
    #[arg(long, default_value = "python3.12")]
    pub runtime: String,
    /// Lambda architecture
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Where to write the lock: pylock.toml / pylock.NAME.toml (PEP 751), or NAME.txt (a requirements file with hashes); `build -r` reads both
    #[arg(
        short = 'o',
        long = "output",
        default_value = "pylock.toml",
        value_name = "FILE"
    )]
    pub output: PathBuf,
    /// Pre-releases: for a package that has nothing else or that you require with one (as uv), or always
    #[arg(long, value_enum, default_value_t = crate::resolve::solver::Prerelease::IfNecessary)]
    pub prerelease: crate::resolve::solver::Prerelease,
    #[command(flatten)]
    pub index: IndexArgs,
    #[command(flatten)]
    pub net: CacheNetArgs,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Artifact zip (its manifest, if beside it, gives the target)
    pub artifact: PathBuf,
    /// Lambda runtime [default: from the manifest, else python3.12]
    #[arg(long)]
    pub runtime: Option<String>,
    /// Lambda architecture [default: from the manifest, else x86_64]
    #[arg(long)]
    pub arch: Option<String>,
    /// Machine-readable findings on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ci: ci::CiArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  lpack verify dist/app.zip            # top-level imports, as every build does\n  lpack verify --deep dist/app.zip     # every module, wheels vs artifact: regressions only, with the file and rule behind each\n  lpack verify --deep --json dist/app.zip.lpack.json\n\nExit codes: 0 ok, 1 an import fails (a regression, with --deep), 2 error."
)]
pub struct VerifyArgs {
    /// Artifact zip or its .lpack.json manifest
    pub artifact: PathBuf,
    /// Interpreter of the target version [default: python3.X on PATH or in pyenv]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Import every module of every distribution, from the unslimmed wheels (in the cache) and
    /// from the artifact, and report the regressions with the file and rule behind each
    #[arg(long)]
    pub deep: bool,
    /// Where the runtime-provided packages of aggressive builds come from
    #[command(flatten)]
    pub index: IndexArgs,
    #[command(flatten)]
    pub net: CacheNetArgs,
    /// Machine-readable report on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ci: ci::CiArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  lpack explain pyarrow/include/arrow/api.h -r requirements/datasci-py312.lock.txt --profile aggressive"
)]
pub struct ExplainArgs {
    /// Installed path inside the artifact (e.g. pandas/tests/__init__.py)
    pub path: String,
    /// The input the artifact is built from, as `lpack build` takes it: requirements (loose or pinned), pyproject.toml, uv.lock or pylock.toml [default: the config's, else the first of pylock.toml, uv.lock, requirements.txt, pyproject.toml here]
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// pyproject.toml / uv.lock: include this optional-dependencies extra (repeatable)
    #[arg(long, value_name = "NAME")]
    pub extra: Vec<String>,
    /// pyproject.toml: include this dependency group (PEP 735; repeatable)
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,
    /// Pre-releases, when loose requirements are resolved: only when nothing else matches, or always
    #[arg(long, value_enum, default_value_t = crate::resolve::solver::Prerelease::IfNecessary)]
    pub prerelease: crate::resolve::solver::Prerelease,
    /// Lambda runtime
    #[arg(long, default_value = "python3.12")]
    pub runtime: String,
    /// Lambda architecture
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    #[command(flatten)]
    pub slim: SlimArgs,
    #[command(flatten)]
    pub index: IndexArgs,
    #[command(flatten)]
    pub net: CacheNetArgs,
}

/// Artifact formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A function zip: packages and handler code at the root
    Zip,
    /// A layer zip: packages under python/ (see --layer-layout, --split)
    Layer,
    /// An OCI image on an AWS Lambda base image (see --handler, --base, --image-out)
    Image,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Functions and layers of the config file to build (with the layers they use) [default: all of them]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Build at most N functions or layers of the config at once [default: the number of CPUs]
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Input: requirements file (pinned or loose), pyproject.toml, uv.lock or pylock.toml [default: the first of pylock.toml, uv.lock, requirements.txt, pyproject.toml here]
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    pub requirements: Option<PathBuf>,

    /// pyproject.toml / uv.lock: include this optional-dependencies extra (repeatable)
    #[arg(long, value_name = "NAME")]
    pub extra: Vec<String>,

    /// pyproject.toml: include this dependency group (PEP 735; repeatable)
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,

    /// Pre-releases: for a package that has nothing else or that you require with one (as uv), or always
    #[arg(long, value_enum, default_value_t = crate::resolve::solver::Prerelease::IfNecessary)]
    pub prerelease: crate::resolve::solver::Prerelease,

    /// Take the requirements alone: no dependencies, and no check that a lock has them all
    #[arg(long)]
    pub no_deps: bool,

    /// Lambda runtime: python3.9, python3.10, python3.11, python3.12, python3.13 or python3.14
    #[arg(long, default_value = "python3.12", value_name = "RUNTIME")]
    pub runtime: String,

    /// Lambda architecture: x86_64 or arm64
    #[arg(long, default_value = "x86_64", value_name = "ARCH")]
    pub arch: String,

    /// Artifact format
    #[arg(long, value_enum, default_value_t = Format::Zip)]
    pub format: Format,

    /// Output path [default: dist/<requirements file stem>.zip]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Handler code directory, placed at the zip root beside the packages (git-ignored files,
    /// virtual environments, __pycache__ and lpack's own outputs are skipped)
    #[arg(long, value_name = "DIR")]
    pub src: Option<PathBuf>,

    /// Do not pack files of --src matching this glob (.gitignore syntax, relative to --src; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Pack files of --src matching this glob even when ignored or excluded (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Wheel cache directory [default: the user cache dir + /lpack]
    #[arg(long, env = "LPACK_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use only the cache; fail naming any wheel that is not there
    #[arg(long)]
    pub offline: bool,

    #[command(flatten)]
    pub index: IndexArgs,

    /// When two wheels write one path with different bytes
    #[arg(long, value_enum, default_value_t = ConflictPolicy::Error)]
    pub on_conflict: ConflictPolicy,

    #[command(flatten)]
    pub slim: SlimArgs,

    #[command(flatten)]
    pub gates: GateArgs,

    /// Where packages go inside a layer zip
    #[arg(long, value_enum, default_value_t = LayerLayout::Python)]
    pub layer_layout: LayerLayout,

    /// With --format layer: split into several layers, `auto` or a layers/*.toml spec
    #[arg(long, value_name = "auto|FILE", requires = "format")]
    pub split: Option<String>,

    /// With --split auto: at most SIZE zipped per layer [default: 50MiB, the direct-upload limit]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub layer_budget: Option<u64>,

    /// Build a function zip without the distributions this layer holds (its .lpack.json; repeatable)
    #[arg(long, value_name = "MANIFEST")]
    pub exclude_layer: Vec<PathBuf>,

    /// Build the function zip against a layer lpack did not build (a layer zip, or a layer version ARN with AWS support; repeatable, in attach order): what it provides at the locked version is left out, its size counts toward the 250 MB, verify imports through it under /opt
    #[arg(long, value_name = "ARN|ZIP")]
    pub with_layer: Vec<String>,

    /// With --with-layer: when a layer holds another version than the lock pins, leave it out of the function and import the layer's
    #[arg(long, conflicts_with = "prefer_function")]
    pub prefer_layer: bool,

    /// With --with-layer: when a layer holds another version than the lock pins, ship the locked version in the function (it comes before /opt on sys.path)
    #[arg(long)]
    pub prefer_function: bool,

    /// The handler, e.g. `app.handler`: verify imports it from function zips and images as Lambda would (an image's CMD)
    #[arg(long, value_name = "MODULE.FUNCTION")]
    pub handler: Option<String>,

    /// Images: base image, a registry reference [default: the runtime's AWS base image from images/] or `oci-layout:DIR[:TAG]`
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// Images: where to write it, `oci-layout:DIR[:TAG]` or `docker-archive:FILE.tar[:TAG]` (repeatable)
    #[arg(long, value_name = "DEST")]
    pub image_out: Vec<String>,

    /// Images: push to this registry reference (only missing blobs are uploaded; prints the digest)
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,

    /// Images: distributions at least this large (unzipped) get their own layer
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "10MB")]
    pub heavy_threshold: u64,

    /// Images: after adding the tag to an oci-layout output, remove the blobs no tag of that layout references any more
    #[arg(long)]
    pub gc: bool,

    /// Do not fail (exit 1) when function + layers exceed Lambda's 262,144,000-byte limit
    /// (wheels are then only held to --max-image-size)
    #[arg(long)]
    pub no_limit_check: bool,

    /// Refuse any wheel declaring more than SIZE unzipped when building an image (or with
    /// --no-limit-check); zips and layers refuse wheels over Lambda's 262,144,000 bytes
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "10GB")]
    pub max_image_size: u64,

    /// Ship wheels whose RECORD (file hashes and sizes) does not match their contents, with a
    /// warning. Only for a broken wheel you must ship anyway: a tampered file would pass too
    #[arg(long)]
    pub no_verify_record: bool,

    /// Do not fail the build on ABI audit errors (they are still reported)
    #[arg(long)]
    pub no_audit: bool,

    /// Require the import check (fail when no Python of the target version is found); without
    /// it, function zips (and images' handlers) are verified whenever such an interpreter is found
    #[arg(long, conflicts_with = "no_verify")]
    pub verify: bool,

    /// Skip the import check that follows every function-zip and image build
    #[arg(long)]
    pub no_verify: bool,

    /// Print a machine-readable JSON summary on stdout
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// Show where the time went: wall and CPU seconds per stage (resolve, download, integrity,
    /// parse, strip, bytecode, emit, verify), the critical path and peak memory; also kept in
    /// the manifest (`timings`); with --json, a `timings` object
    #[arg(long)]
    pub timings: bool,

    #[command(flatten)]
    pub ci: ci::CiArgs,
}

/// Where packages come from (shared by build and explain).
#[derive(Debug, Args, Clone, Default)]
pub struct IndexArgs {
    /// Primary package index (simple API) [default: the requirements file's --index-url, then $PIP_INDEX_URL / $UV_INDEX_URL, then https://pypi.org/simple]
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,

    /// Additional package index, searched after the primary one (repeatable)
    #[arg(long, value_name = "URL")]
    pub extra_index_url: Vec<String>,

    /// Directory of wheels, or URL of an HTML page of links (repeatable)
    #[arg(short = 'f', long, value_name = "DIR|URL")]
    pub find_links: Vec<String>,

    /// Ignore all indexes; use only --find-links
    #[arg(long)]
    pub no_index: bool,

    #[command(flatten)]
    pub remote: remote::RemoteArgs,
}

/// The cache and network settings of commands that may fetch (verify, explain).
#[derive(Debug, Args, Clone)]
pub struct CacheNetArgs {
    /// Cache directory [default: the user cache dir + /lpack]
    #[arg(long, env = "LPACK_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache; never touch the network
    #[arg(long)]
    pub offline: bool,
}

/// How wheels are slimmed (shared by build and explain).
#[derive(Debug, Args, Clone)]
pub struct SlimArgs {
    /// Slimming profile
    #[arg(long, value_enum, default_value_t = Profile::Safe)]
    pub profile: Profile,

    /// Extra recipe file (TOML, same format as recipes/*.toml; repeatable)
    #[arg(long = "recipe", value_name = "FILE")]
    pub recipes: Vec<PathBuf>,

    /// Keep paths matching this glob, whatever the recipes say (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub keep: Vec<String>,

    /// Drop paths matching this glob (repeatable; --keep and protected dist-info files win, and
    /// a module that kept code imports stays, with a warning: see --force-drop)
    #[arg(long, value_name = "GLOB")]
    pub drop: Vec<String>,

    /// Drop paths matching this glob even when kept code imports them (the import guard does not
    /// override it; the import fails at run time if that code runs)
    #[arg(long, value_name = "GLOB")]
    pub force_drop: Vec<String>,

    /// Bytecode for the target Python [default: compile when an interpreter of the target version is found, else none]
    #[arg(long, value_enum, value_name = "MODE")]
    pub bytecode: Option<BytecodeMode>,

    /// Interpreter of the target version for bytecode and --verify [default: python3.X on PATH or in pyenv]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Compile only the modules that importing this handler loads (e.g. `handler.handler` or `app`)
    #[arg(long, value_name = "HANDLER")]
    pub bytecode_for_imports: Option<String>,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,

    /// Cache directory [default: the user cache dir + /lpack]
    #[arg(long, env = "LPACK_CACHE_DIR", value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory
    Dir,
    /// Show how much the cache holds, per kind
    Info(cache::InfoArgs),
    /// Remove what no longer serves: other lpack versions' entries, entries unused for a while
    #[command(after_help = cache::PRUNE_EXAMPLES)]
    Prune(cache::PruneArgs),
    /// Delete everything in the cache
    Clean,
    /// Upload the local cache's wheels and records that the remote cache lacks (seed a remote)
    Push(cache::TransferArgs),
    /// Download the remote cache's wheels and records that the local cache lacks (warm a runner)
    Pull(cache::TransferArgs),
}

/// What `main` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    GateFailed,
}

/// The command line as given, for commands whose settings are layered (see [`settings`]).
pub struct Invocation {
    pub argv: Vec<std::ffi::OsString>,
    pub config: Option<PathBuf>,
    pub no_config: bool,
}

impl Invocation {
    /// The config file, if any (warnings about it are printed once, here).
    pub fn load_config(&self) -> anyhow::Result<Option<crate::config::ConfigFile>> {
        settings::load_config(self.config.as_deref(), self.no_config)
    }
}

/// Run the command `argv` names (already parsed into `cli`).
pub fn run(cli: Cli, argv: Vec<std::ffi::OsString>) -> anyhow::Result<Outcome> {
    let inv = Invocation {
        argv,
        config: cli.config.clone(),
        no_config: cli.no_config,
    };
    let r = match cli.command {
        Command::Build(args) => units::run(*args, &inv),
        Command::Lock(args) => lock::run(args, &inv),
        Command::SizeReport(args) => size_report::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Verify(args) => verify::run(args, &inv),
        Command::Explain(args) => explain::run(args, &inv),
        Command::Cache(args) => cache::run(args),
        Command::Bench(args) => bench::run(*args, &inv),
        Command::Config(args) => config::run(args, &inv),
        Command::Init(args) => init::run(args),
        Command::Plan(args) => plan::run(args, &inv),
    };
    // Every command that fetched through a remote cache: its uploads, its warnings (a build
    // has already done this, honouring --quiet).
    remote::finish(false);
    r
}

pub use crate::sources::Sources;

/// Open the cache and the package sources from the flags (see [`crate::sources`]).
pub fn sources(
    cache_dir: Option<&std::path::Path>,
    offline: bool,
    index: &IndexArgs,
    file: &crate::requirements::IndexOptions,
) -> anyhow::Result<Sources> {
    Ok(crate::sources::open_sources(
        cache_dir,
        offline,
        &remote::index_settings(index)?,
        file,
    )?)
}

/// Check `--max-unzipped` / `--max-zipped` against a size report, print what failed, and say
/// whether to exit 1.
pub fn gate_report(r: &crate::report::SizeReport, gates: &GateArgs) -> Outcome {
    let failures = crate::report::gate(r, gates.max_unzipped, gates.max_zipped);
    for f in &failures {
        eprintln!("gate failed: {}", f.message);
    }
    if failures.is_empty() {
        Outcome::Ok
    } else {
        Outcome::GateFailed
    }
}

/// Human-readable size: `96.3 MB` (decimal megabytes, as Lambda's limits are stated).
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}
