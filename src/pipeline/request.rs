//! What a build is asked to do: every setting, resolved (no command-line types), and the
//! defaults derived from the input (`dist/<name>.zip`).

use std::path::PathBuf;

use crate::emit::ConflictPolicy;
use crate::emit::layer::LayerLayout;
use crate::resolve::solver::Prerelease;
use crate::slim::bytecode::BytecodeMode;
use crate::slim::recipe::Profile;
use crate::target::Target;

/// Where packages come from: owned by [`crate::sources`], re-exported for the request types.
pub use crate::sources::IndexSettings;

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A function zip: packages and handler code at the root.
    Zip,
    /// One or more layer zips.
    Layer,
    /// An OCI image on a Lambda base image.
    Image,
}

/// Size gates: fail when exceeded (not at exactly the limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Gates {
    pub max_unzipped: Option<u64>,
    pub max_zipped: Option<u64>,
}

/// Image settings (`--format image`).
#[derive(Debug, Clone, Default)]
pub struct ImageRequest {
    /// Base image reference or `oci-layout:DIR[:TAG]`; `None`: the runtime's AWS base image.
    pub base: Option<String>,
    /// `oci-layout:DIR[:TAG]` / `docker-archive:FILE.tar[:TAG]`.
    pub outputs: Vec<String>,
    /// Registry reference to push to.
    pub push: Option<String>,
    /// Distributions at least this large (unzipped) get their own layer.
    pub heavy_threshold: u64,
    /// `oci-layout` outputs: remove the blobs no tag references any more.
    pub gc: bool,
}

/// Every setting of one build, resolved (defaults applied, target parsed).
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The input file; `None`: found in the current directory.
    pub requirements: Option<PathBuf>,
    pub extras: Vec<String>,
    pub groups: Vec<String>,
    pub prerelease: Prerelease,
    /// `--no-deps`: take the requirements alone (no dependencies, no completeness check).
    pub no_deps: bool,
    pub target: Target,
    pub format: OutputFormat,
    /// `None`: `dist/<input stem>.zip`.
    pub output: Option<PathBuf>,
    /// Handler code directory.
    pub src: Option<PathBuf>,
    /// `MODULE.FUNCTION`: checked by verify (function zips, images); an image's CMD.
    pub handler: Option<String>,
    /// `exclude` / `include` globs adjusting which files of `src` are packed.
    pub src_filter: crate::srctree::SrcFilter,
    pub cache_dir: Option<PathBuf>,
    pub offline: bool,
    pub index: IndexSettings,
    pub on_conflict: ConflictPolicy,
    pub slim: SlimRequest,
    pub gates: Gates,
    pub layer_layout: LayerLayout,
    /// Layers: `auto` or a spec file.
    pub split: Option<String>,
    pub layer_budget: Option<u64>,
    /// Manifests of layers the function zip is built against.
    pub exclude_layers: Vec<PathBuf>,
    /// Layers lpack did not build (`--with-layer`): zips or layer version ARNs, in order.
    pub with_layers: Vec<String>,
    /// Which copy wins when such a layer holds another version than the lock.
    pub prefer: Prefer,
    pub image: ImageRequest,
    /// Check Lambda's unzipped limit (off: `--no-limit-check`).
    pub limit_check: bool,
    /// Refuse wheels declaring more than this, unzipped, for images (or without the limit check).
    pub max_image_size: u64,
    /// Check every wheel's RECORD (off: ship mismatching wheels with a warning).
    pub verify_record: bool,
    /// ABI audit errors fail the build (off: they are warnings).
    pub audit_fails: bool,
    pub verify: VerifyMode,
    /// Keep the stages' wall and CPU seconds in the manifest too (`--timings`; they are always
    /// in the outcome).
    pub timings: bool,
}

/// How wheels are slimmed (shared by build and explain).
#[derive(Debug, Clone)]
pub struct SlimRequest {
    pub profile: Profile,
    /// Extra recipe files.
    pub recipes: Vec<PathBuf>,
    pub keep: Vec<String>,
    pub drop: Vec<String>,
    pub force_drop: Vec<String>,
    /// `None`: compile when an interpreter of the target version is found.
    pub bytecode: Option<BytecodeMode>,
    /// Interpreter of the target version; `None`: found on PATH or in pyenv.
    pub python: Option<PathBuf>,
    /// Compile only what importing this handler loads.
    pub bytecode_for_imports: Option<String>,
}

/// Whether to run the import check after a function-zip build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// Whenever an interpreter of the target version is found and the host can load it.
    #[default]
    Auto,
    /// Always; fail when it cannot run.
    Require,
    /// Never.
    Skip,
}

/// Which copy wins when a layer holds another version than the lock pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// Neither: a mismatch stops the build.
    #[default]
    Neither,
    /// The layer's: the function leaves the distribution out.
    Layer,
    /// The function's: it ships the locked version, found before `/opt` on `sys.path`.
    Function,
}

/// `dist/<name>.zip`: the project's name (`[project].name` of the pyproject.toml beside the
/// input) or, for an input named after its format (`requirements.txt`, `pylock.toml`, `uv.lock`,
/// `pyproject.toml`), its directory's name; else the input's stem
/// (`requirements/datasci-py312.lock.txt` → `datasci-py312`).
pub fn default_output(requirements: &std::path::Path) -> PathBuf {
    let dir = match requirements.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let project = std::fs::read_to_string(dir.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("project")?.get("name")?.as_str().map(str::to_string))
        .filter(|n| usable_name(n));
    let file = requirements
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("lambda");
    let mut stem = file;
    for suffix in [".txt", ".in", ".toml"] {
        stem = stem.strip_suffix(suffix).unwrap_or(stem);
    }
    let stem = stem.strip_suffix(".lock").unwrap_or(stem);
    // pylock.NAME.toml (PEP 751) names itself.
    let stem = stem.strip_prefix("pylock.").unwrap_or(stem);
    let generic = matches!(
        stem,
        "" | "requirements" | "requirements-lock" | "pylock" | "uv" | "pyproject" | "constraints"
    );
    let name = match project {
        Some(p) => p,
        None if generic => std::fs::canonicalize(&dir)
            .ok()
            .and_then(|d| d.file_name()?.to_str().map(str::to_string))
            .filter(|n| usable_name(n))
            .unwrap_or_else(|| "lambda".to_string()),
        None => stem.to_string(),
    };
    PathBuf::from("dist").join(format!("{name}.zip"))
}

/// A name that can be a file name in `dist/`.
fn usable_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
