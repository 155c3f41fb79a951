//! Why a build failed: the request itself, or the error of the stage that stopped it.

use std::path::PathBuf;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The request cannot be built as asked (a bad combination of settings, a missing setting).
    #[error("{0}")]
    Request(String),
    /// The ABI audit found problems that would break imports.
    #[error("{0}")]
    Audit(String),
    /// The function and the layers it is built against disagree.
    #[error("{0}")]
    Layers(String),
    #[error("building {}", path.display())]
    Emit {
        path: PathBuf,
        #[source]
        source: crate::emit::EmitError,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Opening sources, reading the input or locking it (boxed: it wraps the resolve and fetch
    /// errors, and would make every build's `Result` larger).
    #[error(transparent)]
    Sources(Box<crate::sources::SourcesError>),
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    #[error(transparent)]
    Input(#[from] crate::resolve::inputs::InputError),
    #[error(transparent)]
    Requirements(#[from] crate::requirements::RequirementsError),
    #[error(transparent)]
    Lock(#[from] crate::resolve::pylock::LockError),
    #[error(transparent)]
    Solve(#[from] crate::resolve::solver::SolveError),
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Integrity(#[from] crate::wheel::integrity::IntegrityError),
    #[error(transparent)]
    Recipe(#[from] crate::slim::recipe::RecipeError),
    #[error(transparent)]
    Bytecode(#[from] crate::slim::bytecode::BytecodeError),
    #[error(transparent)]
    Slim(#[from] crate::slim::SlimError),
    #[error(transparent)]
    EmitStage(#[from] crate::emit::EmitError),
    #[error(transparent)]
    Layer(#[from] crate::emit::layer::LayerError),
    #[error(transparent)]
    Image(#[from] crate::emit::image::ImageError),
    #[error(transparent)]
    Registry(#[from] crate::emit::registry::RegistryError),
    #[error(transparent)]
    Manifest(#[from] crate::artifact::ManifestError),
    #[error(transparent)]
    ExternalLayer(#[from] crate::extlayer::ExtLayerError),
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    #[error(transparent)]
    Src(#[from] crate::srctree::SrcError),
}

impl From<crate::sources::SourcesError> for BuildError {
    fn from(e: crate::sources::SourcesError) -> Self {
        BuildError::Sources(Box::new(e))
    }
}
