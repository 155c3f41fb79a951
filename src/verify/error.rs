//! What verifying an artifact can fail with (as opposed to what it finds).

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "verify needs a Python {0} interpreter and none was found on PATH or in pyenv\n  hint: install it or pass --python PATH"
    )]
    NoPython(String),
    #[error("verify: {0}")]
    Io(String),
    #[error("verify: cannot install the runtime-provided packages: {0}")]
    Runtime(String),
}
