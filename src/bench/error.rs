//! What a bench run can fail with, and the flag that stops one (Ctrl-C).

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench: {0}")]
    Input(String),
    #[error("bench: laying the deployment out: {0}")]
    Layout(String),
    #[error("bench: {0}")]
    Run(String),
    #[error(
        "bench needs a Python {version} interpreter ({why})\n  hint: install it (e.g. `pyenv install {version}`) or pass --python PATH"
    )]
    NoPython { version: String, why: String },
    #[error("bench: the runtime directory: {0}")]
    Runtime(String),
    #[error("bench: interrupted; every runtime process was stopped")]
    Interrupted,
    #[error("bench (aws): {0}")]
    Aws(String),
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ask a running bench to stop (the CLI calls this from its Ctrl-C handler).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
